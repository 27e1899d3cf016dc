/**
 * OLMo 2: no pre-norms; each branch's output is normalised before it joins the residual (post_attention_layernorm,
 * post_feedforward_layernorm), and q and k get an RMSNorm over the whole projection (all heads at once) before the
 * head split and RoPE. SwiGLU MLP, untied head by default. Follows transformers' modeling_olmo2.py.
 */
import type { Tensor } from '../graph/graph.js';
import { add, gather, unsqueeze } from '../graph/ops.js';
import { checkActivation, gatedActivation } from './activations.js';
import type { Architecture, ArchitectureBuilder, AuxTensors, KvCache } from './architecture.js';
import { evenSplit, parseRopeScaling, type ConfigFields } from './config-fields.js';
import type { FamilyConfig } from './config.js';
import { attention, linear, mergeHeads, rmsNorm, rope, splitHeads, withCache } from './layers.js';

const EMBED_TOKENS = 'model.embed_tokens.weight';
const LM_HEAD = 'lm_head.weight';

/** Olmo2Config: rms_norm_eps 1e-5, attention_bias on all four projections. */
function config(f: ConfigFields, numHeads: number): FamilyConfig {
  const hiddenSize = f.int('hidden_size');
  return {
    hiddenSize,
    numKvHeads: f.optionalInt('num_key_value_heads') ?? numHeads,
    headDim: f.optionalInt('head_dim') ?? evenSplit(hiddenSize, numHeads, f.source),
    intermediateSize: f.int('intermediate_size'),
    normEps: f.optionalNumber('rms_norm_eps') ?? 1e-5,
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
    // q_norm/k_norm: RMSNorm over the full projection, before the head split.
    const q = rmsNorm(linear(x, p(a + 'q_proj.weight', [nh * hd, H]), bias('q_proj.bias', nh * hd)), p(a + 'q_norm.weight', [nh * hd]), eps);
    const k = rmsNorm(linear(x, p(a + 'k_proj.weight', [nkv * hd, H]), bias('k_proj.bias', nkv * hd)), p(a + 'k_norm.weight', [nkv * hd]), eps);
    const v = linear(x, p(a + 'v_proj.weight', [nkv * hd, H]), bias('v_proj.bias', nkv * hd));
    const cos = unsqueeze(aux.cos!, [1]);
    const sin = unsqueeze(aux.sin!, [1]);
    const qh = rope(splitHeads(q, nh, hd), cos, sin);
    const [kh, vh] = withCache(cache, i, rope(splitHeads(k, nkv, hd), cos, sin), splitHeads(v, nkv, hd));
    const out = attention(qh, kh, vh, aux.bias, 1 / Math.sqrt(hd));
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
        x = add(x, rmsNorm(selfAttention(x, i, aux, cache), p(l + 'post_attention_layernorm.weight', [H]), eps));
        x = add(x, rmsNorm(mlp(x, i), p(l + 'post_feedforward_layernorm.weight', [H]), eps));
      }
      return rmsNorm(x, p('model.norm.weight', [H]), eps);
    },
    headWeight: () => (cfg.tieWordEmbeddings ? embedTokens() : p(LM_HEAD, [cfg.vocabSize, H])),
    head(h) {
      return linear(h, this.headWeight());
    },
  };
};

export const olmo2: Architecture = {
  name: 'olmo2',
  classes: ['Olmo2ForCausalLM'],
  modelTypes: ['olmo2'],
  config,
  tokenDefaults: { bos: null, eos: 50279 },
  unsupported: [],
  positions: 'rope',
  mask: 'either',
  positionLimit: { key: 'max_position_embeddings', default: 2048 },
  embeddingWeight: EMBED_TOKENS,
  headWeight: LM_HEAD,
  gatedMlp: true,
  build,
};
