/**
 * Phi-3 / Phi-3.5 / Phi-4-mini: Llama's pre-norm block with fused projections, `qkv_proj` rows [q; k; v] and
 * `gate_up_proj` rows [gate; up]; optional partial rotary (Phi-4-mini rotates 3/4 of each head), "su"/longrope RoPE
 * scaling (positions.ts picks the short or long factors per forward call and scales cos/sin), and a sliding window
 * when `sliding_window` is set. Follows transformers' modeling_phi3.py.
 */
import type { Tensor } from '../graph/graph.js';
import { add, gather, split, unsqueeze } from '../graph/ops.js';
import { FormatError, UnsupportedError } from '../errors.js';
import { checkActivation, gatedActivation } from './activations.js';
import type { Architecture, ArchitectureBuilder, AuxTensors, KvCache } from './architecture.js';
import { evenSplit, parseRopeScaling, type ConfigFields } from './config-fields.js';
import type { FamilyConfig } from './config.js';
import { attention, linear, mergeHeads, rmsNorm, rope, splitHeads, withCache } from './layers.js';

const EMBED_TOKENS = 'model.embed_tokens.weight';
const LM_HEAD = 'lm_head.weight';

/**
 * Phi3Config: rms_norm_eps 1e-5, max_position_embeddings and original_max_position_embeddings 4096; longrope's
 * factor is max / original (the context extension), its factors one per rotated frequency.
 */
function config(f: ConfigFields, numHeads: number): FamilyConfig {
  const hiddenSize = f.int('hidden_size');
  const headDim = f.optionalInt('head_dim') ?? evenSplit(hiddenSize, numHeads, f.source);
  const rotaryDim = Math.floor(headDim * (f.optionalNumber('partial_rotary_factor') ?? 1));
  if (rotaryDim % 2 !== 0 || rotaryDim === 0) {
    throw new FormatError(`partial_rotary_factor gives ${rotaryDim} rotary dims of ${headDim}; expected an even number`, f.source);
  }
  const ropeScaling = parseRopeScaling(f.raw.rope_scaling, f.source);
  if (ropeScaling !== null && ropeScaling.type !== 'longrope') {
    throw new UnsupportedError(`rope_scaling type ${JSON.stringify(ropeScaling.type)} is not supported for phi3 (su/longrope are)`, f.source);
  }
  if (ropeScaling?.type === 'longrope') {
    const original = f.optionalInt('original_max_position_embeddings') ?? 4096;
    ropeScaling.originalMaxPositionEmbeddings = original;
    ropeScaling.factor = (f.optionalInt('max_position_embeddings') ?? 4096) / original;
    for (const factors of [ropeScaling.shortFactor!, ropeScaling.longFactor!]) {
      if (factors.length !== rotaryDim / 2) {
        throw new FormatError(`rope_scaling factors have ${factors.length} values; expected ${rotaryDim / 2} (rotary dims / 2)`, f.source);
      }
    }
  }
  const window = f.optionalInt('sliding_window');
  return {
    hiddenSize,
    numKvHeads: f.optionalInt('num_key_value_heads') ?? numHeads,
    headDim,
    intermediateSize: f.int('intermediate_size'),
    normEps: f.optionalNumber('rms_norm_eps') ?? 1e-5,
    ropeTheta: f.optionalNumber('rope_theta') ?? 10000,
    ropeScaling,
    tieWordEmbeddings: f.optionalBool('tie_word_embeddings') ?? false,
    activation: checkActivation(f.optionalString('hidden_act') ?? 'silu', 'hidden_act', f.source, true),
    attentionBias: false,
    rotaryDim,
    ...(window === null ? {} : { layers: Array.from({ length: f.int('num_hidden_layers') }, () => ({ window })) }),
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
    const qkv = linear(x, p(a + 'qkv_proj.weight', [(nh + 2 * nkv) * hd, H]));
    const [q, k, v] = split(qkv, [nh * hd, nkv * hd, nkv * hd], -1);
    const { bias, cos: c, sin: s } = aux.layers?.[i] ?? aux;
    const cos = unsqueeze(c!, [1]);
    const sin = unsqueeze(s!, [1]);
    const qh = rope(splitHeads(q, nh, hd), cos, sin);
    const [kh, vh] = withCache(cache, i, rope(splitHeads(k, nkv, hd), cos, sin), splitHeads(v, nkv, hd));
    const out = attention(qh, kh, vh, bias, 1 / Math.sqrt(hd));
    return linear(mergeHeads(out, nh, hd), p(a + 'o_proj.weight', [H, nh * hd]));
  }

  function mlp(x: Tensor, i: number): Tensor {
    const m = `model.layers.${i}.mlp.`;
    const [gate, up] = split(linear(x, p(m + 'gate_up_proj.weight', [2 * I, H])), [I, I], -1);
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

export const phi3: Architecture = {
  name: 'phi3',
  classes: ['Phi3ForCausalLM'],
  modelTypes: ['phi3'],
  config,
  tokenDefaults: { bos: 1, eos: 32000 },
  unsupported: [],
  positions: 'rope',
  mask: 'either',
  positionLimit: { key: 'max_position_embeddings', default: 4096 },
  embeddingWeight: EMBED_TOKENS,
  headWeight: LM_HEAD,
  gatedMlp: true,
  build,
};
