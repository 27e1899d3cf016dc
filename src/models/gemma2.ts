/**
 * Gemma2: Gemma with four (1 + w) norms per layer (each branch normed before and after), attention scaled by
 * query_pre_attn_scalar^-0.5 and soft-capped before the mask, final logits soft-capped, and sliding-window layers
 * (`layer_types`) between full ones. The inputs (soft prompt included) are multiplied by sqrt(H) inside the model.
 * Follows transformers 4.53's modeling_gemma2.py; Gemma3 (gemma3.ts) is this layer with a few switches.
 */
import { add, mul } from '../graph/ops.js';
import type { Tensor } from '../graph/graph.js';
import { FormatError, UnsupportedError } from '../errors.js';
import type { Architecture, CausalLM, Param } from './architecture.js';
import { ConfigFields } from './config-fields.js';
import type { FamilyConfig, ModelConfig } from './config.js';
import { gemma, gemmaConfig } from './gemma.js';
import { linear, rmsNormPlusOne, softcap } from './layers.js';
import { llamaBlocks, llamaEmbeddings } from './llama.js';

export type LayerType = 'sliding_attention' | 'full_attention';

/** `layer_types` from config.json (authoritative), else the config class's default pattern. */
export function layerTypes(f: ConfigFields, byDefault: (layer: number) => LayerType): LayerType[] {
  const layers = f.int('num_hidden_layers');
  const given = f.raw.layer_types;
  if (given === undefined || given === null) return Array.from({ length: layers }, (_, i) => byDefault(i));
  if (!Array.isArray(given) || given.length !== layers) {
    throw new FormatError(`layer_types is ${JSON.stringify(given)}; expected one entry per layer (${layers})`, f.source);
  }
  for (const t of given) {
    if (t !== 'sliding_attention' && t !== 'full_attention') {
      throw new UnsupportedError(`layer_types has ${JSON.stringify(t)}; supported: sliding_attention, full_attention`, f.source);
    }
  }
  return given as LayerType[];
}

/** `sliding_window`: absent means the config class's default, null means none. */
export function slidingWindow(f: ConfigFields, byDefault: number): number | null {
  const window = f.has('sliding_window') ? f.optionalInt('sliding_window') : byDefault;
  if (window === 0) throw new FormatError('sliding_window is 0; expected a positive integer or null', f.source);
  return window;
}

/** The keys only this layer reads, with the config class's defaults (a null soft-cap means none). */
export interface Gemma2Fields {
  queryPreAttnScalar: number;
  attnSoftcap: number | null;
  finalSoftcap: number | null;
}

export function gemma2Fields(
  f: ConfigFields,
  softcaps: { attn: number | null; final: number | null } = { attn: 50.0, final: 30.0 },
): Gemma2Fields {
  return {
    queryPreAttnScalar: f.optionalNumber('query_pre_attn_scalar') ?? 256,
    attnSoftcap: f.has('attn_logit_softcapping') ? f.optionalNumber('attn_logit_softcapping') : softcaps.attn,
    finalSoftcap: f.has('final_logit_softcapping') ? f.optionalNumber('final_logit_softcapping') : softcaps.final,
  };
}

/** Gemma2Config: Gemma's keys (num_key_value_heads 4 when absent); layers alternate sliding (even) and full (odd). */
function gemma2Config(f: ConfigFields, numHeads: number): FamilyConfig {
  gemma2Fields(f); // checked here, where the file can be named; the builder reads them again from cfg.raw
  const window = slidingWindow(f, 4096);
  const types = layerTypes(f, (i) => ((i + 1) % 2 ? 'sliding_attention' : 'full_attention'));
  return {
    ...gemmaConfig(f, numHeads, { numKvHeads: 4 }),
    layers: types.map((t) => ({ window: t === 'sliding_attention' ? window : null })),
  };
}

export interface Gemma2Variant {
  /** Gemma3: q and k normed per head ((1 + w) RMSNorm over head_dim) before RoPE. */
  qkNorm: boolean;
  /**
   * Gemma3: the embedding module scales token rows by sqrt(H), so a soft prompt (inputs_embeds) is not scaled;
   * Gemma2 scales all of inputs_embeds inside the model.
   */
  scaledEmbedding: boolean;
}

export function buildGemma2(cfg: ModelConfig, p: Param, fields: Gemma2Fields, variant: Gemma2Variant): CausalLM {
  const H = cfg.hiddenSize;
  const norm = (x: Tensor, name: string, size = H) => rmsNormPlusOne(x, p(name, [size]), cfg.normEps);
  const { selfAttention, mlp } = llamaBlocks(cfg, p, {
    qkvBias: cfg.attentionBias,
    outBias: cfg.attentionBias,
    qkNorm: variant.qkNorm ? (x, attn, which) => norm(x, `${attn}${which}_norm.weight`, cfg.headDim) : undefined,
    scale: fields.queryPreAttnScalar ** -0.5,
    softcap: fields.attnSoftcap,
  });
  const { embed, headWeight } = llamaEmbeddings(cfg, p);
  // torch.tensor(hidden_size ** 0.5, dtype=float32)
  const normalizer = Math.fround(Math.sqrt(H));

  return {
    embed: (ids) => (variant.scaledEmbedding ? mul(embed(ids), normalizer) : embed(ids)),
    forward(x, aux, cache) {
      if (!variant.scaledEmbedding) x = mul(x, normalizer);
      for (let i = 0; i < cfg.numLayers; i++) {
        const l = `model.layers.${i}.`;
        const attn = selfAttention(norm(x, l + 'input_layernorm.weight'), i, aux, cache);
        x = add(x, norm(attn, l + 'post_attention_layernorm.weight'));
        const ff = mlp(norm(x, l + 'pre_feedforward_layernorm.weight'), i);
        x = add(x, norm(ff, l + 'post_feedforward_layernorm.weight'));
      }
      return norm(x, 'model.norm.weight');
    },
    headWeight,
    head(h) {
      return softcap(linear(h, this.headWeight()), fields.finalSoftcap);
    },
    ...(fields.finalSoftcap === null ? {} : { logitSoftcap: fields.finalSoftcap }),
  };
}

export const gemma2: Architecture = {
  ...gemma,
  name: 'gemma2',
  classes: ['Gemma2ForCausalLM'],
  modelTypes: ['gemma2'],
  config: gemma2Config,
  build: (cfg, p) => buildGemma2(cfg, p, gemma2Fields(new ConfigFields(cfg.raw, 'config.json')), { qkNorm: false, scaledEmbedding: false }),
};
