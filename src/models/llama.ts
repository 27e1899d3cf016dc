/**
 * Llama (and, with q/k/v biases, Qwen2): RMSNorm pre-norm blocks, RoPE attention with grouped-query heads, SwiGLU MLP.
 * Follows transformers' modeling_llama.py.
 */
import type { Tensor } from '../graph/graph.js';
import { add, gather, unsqueeze } from '../graph/ops.js';
import { checkActivation, gatedActivation } from './activations.js';
import type { Architecture, AuxTensors, CausalLM, KvCache, Param } from './architecture.js';
import { evenSplit, parseRopeScaling, type ConfigFields } from './config-fields.js';
import type { FamilyConfig, ModelConfig } from './config.js';
import { attention, linear, mergeHeads, rmsNorm, rope, splitHeads, withCache } from './layers.js';

const EMBED_TOKENS = 'model.embed_tokens.weight';
const LM_HEAD = 'lm_head.weight';

/** LlamaConfig (Qwen2Config reads the same keys): GQA heads, an explicit head_dim may break hidden = heads × head_dim. */
export function llamaConfig(f: ConfigFields, numHeads: number): FamilyConfig {
  const hiddenSize = f.int('hidden_size');
  return {
    hiddenSize,
    numKvHeads: f.optionalInt('num_key_value_heads') ?? numHeads,
    headDim: f.optionalInt('head_dim') ?? evenSplit(hiddenSize, numHeads, f.source),
    intermediateSize: f.int('intermediate_size'),
    normEps: f.optionalNumber('rms_norm_eps') ?? 1e-6,
    ropeTheta: f.optionalNumber('rope_theta') ?? 10000,
    ropeScaling: parseRopeScaling(f.raw.rope_scaling, f.source),
    tieWordEmbeddings: f.optionalBool('tie_word_embeddings') ?? false,
    activation: checkActivation(f.optionalString('hidden_act') ?? 'silu', 'hidden_act', f.source, true),
    attentionBias: f.optionalBool('attention_bias') ?? false,
  };
}

export interface LlamaBiases {
  qkv: boolean;
  out: boolean;
}

/** Llama's attention and MLP of layer `i`, also the blocks of the families that differ only around them (Gemma). */
export function llamaBlocks(cfg: ModelConfig, p: Param, biases: LlamaBiases) {
  const H = cfg.hiddenSize;
  const hd = cfg.headDim;
  const nh = cfg.numHeads;
  const nkv = cfg.numKvHeads;
  const I = cfg.intermediateSize;

  function selfAttention(x: Tensor, i: number, aux: AuxTensors, cache?: KvCache): Tensor {
    const a = `model.layers.${i}.self_attn.`;
    const { bias: mask, cos: c, sin: s } = aux.layers?.[i] ?? aux;
    const bias = (name: string, size: number) => (biases.qkv ? p(a + name, [size]) : undefined);
    const q = linear(x, p(a + 'q_proj.weight', [nh * hd, H]), bias('q_proj.bias', nh * hd));
    const k = linear(x, p(a + 'k_proj.weight', [nkv * hd, H]), bias('k_proj.bias', nkv * hd));
    const v = linear(x, p(a + 'v_proj.weight', [nkv * hd, H]), bias('v_proj.bias', nkv * hd));
    const cos = unsqueeze(c!, [1]);
    const sin = unsqueeze(s!, [1]);
    const qh = rope(splitHeads(q, nh, hd), cos, sin);
    const [kh, vh] = withCache(cache, i, rope(splitHeads(k, nkv, hd), cos, sin), splitHeads(v, nkv, hd));
    const out = attention(qh, kh, vh, mask, 1 / Math.sqrt(hd));
    return linear(mergeHeads(out, nh, hd), p(a + 'o_proj.weight', [H, nh * hd]), biases.out ? p(a + 'o_proj.bias', [H]) : undefined);
  }

  function mlp(x: Tensor, i: number): Tensor {
    const m = `model.layers.${i}.mlp.`;
    const gate = linear(x, p(m + 'gate_proj.weight', [I, H]));
    const up = linear(x, p(m + 'up_proj.weight', [I, H]));
    return linear(gatedActivation(cfg.activation, gate, up), p(m + 'down_proj.weight', [H, I]));
  }

  return { selfAttention, mlp };
}

export function buildLlama(cfg: ModelConfig, p: Param, biases: LlamaBiases): CausalLM {
  const H = cfg.hiddenSize;
  const eps = cfg.normEps;
  const embedTokens = () => p(EMBED_TOKENS, [cfg.vocabSize, H]);
  const { selfAttention, mlp } = llamaBlocks(cfg, p, biases);

  return {
    embed: (ids) => gather(embedTokens(), ids, 0),
    forward(x, aux, cache) {
      for (let i = 0; i < cfg.numLayers; i++) {
        const l = `model.layers.${i}.`;
        x = add(x, selfAttention(rmsNorm(x, p(l + 'input_layernorm.weight', [H]), eps), i, aux, cache));
        x = add(x, mlp(rmsNorm(x, p(l + 'post_attention_layernorm.weight', [H]), eps), i));
      }
      return rmsNorm(x, p('model.norm.weight', [H]), eps);
    },
    headWeight: () => cfg.tieWordEmbeddings ? embedTokens() : p(LM_HEAD, [cfg.vocabSize, H]),
    head(h) {
      return linear(h, this.headWeight());
    },
  };
}

export const llama: Architecture = {
  name: 'llama',
  classes: ['LlamaForCausalLM'],
  modelTypes: ['llama'],
  config: llamaConfig,
  tokenDefaults: { bos: 1, eos: 2 },
  unsupported: [['mlp_bias', true]],
  positions: 'rope',
  mask: 'either',
  positionLimit: { key: 'max_position_embeddings', default: 2048 },
  embeddingWeight: EMBED_TOKENS,
  headWeight: LM_HEAD,
  gatedMlp: true,
  build: (cfg, p) => buildLlama(cfg, p, { qkv: cfg.attentionBias, out: cfg.attentionBias }),
};
