/**
 * Phi-3 / Phi-3.5 / Phi-4-mini: Llama's pre-norm block with fused projections, `qkv_proj` rows [q; k; v] and
 * `gate_up_proj` rows [gate; up]; optional partial rotary (Phi-4-mini rotates 3/4 of each head), "su"/longrope RoPE
 * scaling (positions.ts picks the short or long factors per forward call and scales cos/sin), and a sliding window
 * when `sliding_window` is set. Follows transformers' modeling_phi3.py.
 */
import { FormatError, UnsupportedError } from '../errors.js';
import type { Architecture } from './architecture.js';
import type { ConfigFields } from './config-fields.js';
import type { FamilyConfig } from './config.js';
import { buildLlama, llama, llamaConfig } from './llama.js';

/**
 * Phi3Config: rms_norm_eps 1e-5, max_position_embeddings and original_max_position_embeddings 4096; longrope's
 * factor is max / original (the context extension), its factors one per rotated frequency. No attention biases.
 */
function config(f: ConfigFields, numHeads: number): FamilyConfig {
  const base = llamaConfig(f, numHeads, { normEps: 1e-5, keys: { attentionBias: null } });
  const { headDim, ropeScaling } = base;
  const rotaryDim = Math.floor(headDim * (f.optionalNumber('partial_rotary_factor') ?? 1));
  if (rotaryDim % 2 !== 0 || rotaryDim === 0) {
    throw new FormatError(`partial_rotary_factor gives ${rotaryDim} rotary dims of ${headDim}; expected an even number`, f.source);
  }
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
    ...base,
    rotaryDim,
    ...(window === null ? {} : { layers: Array.from({ length: f.int('num_hidden_layers') }, () => ({ window })) }),
  };
}

export const phi3: Architecture = {
  ...llama,
  name: 'phi3',
  classes: ['Phi3ForCausalLM'],
  modelTypes: ['phi3'],
  config,
  tokenDefaults: { bos: 1, eos: 32000 },
  unsupported: [],
  positionLimit: { key: 'max_position_embeddings', default: 4096 },
  build: (cfg, p) => buildLlama(cfg, p, { fused: true }),
};
