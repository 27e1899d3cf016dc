/**
 * Qwen3: Llama's pre-norm block with an RMSNorm over each head's q and k (q_norm/k_norm, over head_dim) before RoPE,
 * no projection biases unless attention_bias, and head_dim 128 unless config.json says otherwise. Follows
 * transformers' modeling_qwen3.py.
 */
import type { Tensor } from '../graph/graph.js';
import { add, gather, unsqueeze } from '../graph/ops.js';
import { checkActivation, gatedActivation } from './activations.js';
import type { Architecture, ArchitectureBuilder, AuxTensors, KvCache } from './architecture.js';
import { parseRopeScaling, type ConfigFields } from './config-fields.js';
import type { FamilyConfig } from './config.js';
import { attention, linear, mergeHeads, rmsNorm, rope, splitHeads, withCache } from './layers.js';

const EMBED_TOKENS = 'model.embed_tokens.weight';
const LM_HEAD = 'lm_head.weight';

/** Qwen3Config: head_dim defaults to 128 (not hidden / heads); sliding windows only with use_sliding_window (refused). */
function config(f: ConfigFields, numHeads: number): FamilyConfig {
  return {
    hiddenSize: f.int('hidden_size'),
    numKvHeads: f.optionalInt('num_key_value_heads') ?? numHeads,
    headDim: f.optionalInt('head_dim') ?? 128,
    intermediateSize: f.int('intermediate_size'),
    normEps: f.optionalNumber('rms_norm_eps') ?? 1e-6,
    ropeTheta: f.optionalNumber('rope_theta') ?? 10000,
    ropeScaling: parseRopeScaling(f.raw.rope_scaling, f.source),
    tieWordEmbeddings: f.optionalBool('tie_word_embeddings') ?? false,
    activation: checkActivation(f.optionalString('hidden_act') ?? 'silu', 'hidden_act', f.source, true),
    attentionBias: f.optionalBool('attention_bias') ?? false,
  };
}

const build: ArchitectureBuilder = (cfg, p) => {
  const H = cfg.hiddenSize;
  const hd = cfg.headDim;
  const nh = cfg.numHeads;
  const nkv = cfg.numKvHeads;
  const I = cfg.intermediateSize;
  const eps = cfg.normEps;
  const embedTokens = () => p(EMBED_TOKENS, [cfg.vocabSize, H]);

  function selfAttention(x: Tensor, i: number, aux: AuxTensors, cache?: KvCache): Tensor {
    const a = `model.layers.${i}.self_attn.`;
    const bias = (name: string, size: number) => (cfg.attentionBias ? p(a + name, [size]) : undefined);
    const q = linear(x, p(a + 'q_proj.weight', [nh * hd, H]), bias('q_proj.bias', nh * hd));
    const k = linear(x, p(a + 'k_proj.weight', [nkv * hd, H]), bias('k_proj.bias', nkv * hd));
    const v = linear(x, p(a + 'v_proj.weight', [nkv * hd, H]), bias('v_proj.bias', nkv * hd));
    const cos = unsqueeze(aux.cos!, [1]);
    const sin = unsqueeze(aux.sin!, [1]);
    // q_norm/k_norm: RMSNorm over each head's head_dim values, before RoPE.
    const qh = rope(rmsNorm(splitHeads(q, nh, hd), p(a + 'q_norm.weight', [hd]), eps), cos, sin);
    const kh = rope(rmsNorm(splitHeads(k, nkv, hd), p(a + 'k_norm.weight', [hd]), eps), cos, sin);
    const [kc, vc] = withCache(cache, i, kh, splitHeads(v, nkv, hd));
    const out = attention(qh, kc, vc, aux.bias, 1 / Math.sqrt(hd));
    return linear(mergeHeads(out, nh, hd), p(a + 'o_proj.weight', [H, nh * hd]), bias('o_proj.bias', H));
  }

  function mlp(x: Tensor, i: number): Tensor {
    const m = `model.layers.${i}.mlp.`;
    const gate = linear(x, p(m + 'gate_proj.weight', [I, H]));
    const up = linear(x, p(m + 'up_proj.weight', [I, H]));
    return linear(gatedActivation(cfg.activation, gate, up), p(m + 'down_proj.weight', [H, I]));
  }

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
    headWeight: () => (cfg.tieWordEmbeddings ? embedTokens() : p(LM_HEAD, [cfg.vocabSize, H])),
    head(h) {
      return linear(h, this.headWeight());
    },
  };
};

export const qwen3: Architecture = {
  name: 'qwen3',
  classes: ['Qwen3ForCausalLM'],
  modelTypes: ['qwen3'],
  config,
  tokenDefaults: { bos: null, eos: null },
  unsupported: [['use_sliding_window', true]],
  positions: 'rope',
  mask: 'either',
  positionLimit: { key: 'max_position_embeddings', default: 32768 },
  embeddingWeight: EMBED_TOKENS,
  headWeight: LM_HEAD,
  gatedMlp: true,
  build,
};
