/**
 * Gemma3 (text): Gemma2's layer with (1 + w) q/k norms, sliding layers on their own RoPE base
 * (`rope_local_base_freq`, unscaled) and full layers on `rope_theta` with `rope_scaling`, no soft-capping unless the
 * config sets it, and sqrt(H) applied inside the embedding module: token rows are scaled, a soft prompt is not, and
 * TEXT init copies the scaled rows. Follows transformers 4.53's modeling_gemma3.py (Gemma3ForCausalLM).
 */
import type { Architecture } from './architecture.js';
import { ConfigFields } from './config-fields.js';
import type { FamilyConfig } from './config.js';
import { gemmaConfig } from './gemma.js';
import { buildGemma2, gemma2, gemma2Fields, layerTypes, slidingWindow } from './gemma2.js';

const fields = (f: ConfigFields) => gemma2Fields(f, { attn: null, final: null });

/**
 * Gemma3TextConfig: num_key_value_heads 4, rope_theta 1e6, rope_local_base_freq 1e4; without `layer_types`, every
 * `sliding_window_pattern`-th layer (default 6) is full and the others slide.
 */
function gemma3Config(f: ConfigFields, numHeads: number): FamilyConfig {
  fields(f);
  const window = slidingWindow(f, 4096);
  const pattern = f.optionalInt('sliding_window_pattern') ?? f.optionalInt('_sliding_window_pattern') ?? 6;
  const types = layerTypes(f, (i) => ((i + 1) % pattern ? 'sliding_attention' : 'full_attention'));
  const local = { theta: f.optionalNumber('rope_local_base_freq') ?? 10000, scaling: null };
  return {
    ...gemmaConfig(f, numHeads, { numKvHeads: 4, ropeTheta: 1_000_000 }),
    layers: types.map((t) => (t === 'sliding_attention' ? { window, rope: local } : { window: null })),
  };
}

export const gemma3: Architecture = {
  ...gemma2,
  name: 'gemma3',
  classes: ['Gemma3ForCausalLM'],
  modelTypes: ['gemma3_text'],
  config: gemma3Config,
  unsupported: [['use_bidirectional_attention', true]],
  positionLimit: { key: 'max_position_embeddings', default: 131072 },
  embeddingModuleScale: (cfg) => Math.fround(Math.sqrt(cfg.hiddenSize)),
  build: (cfg, p) => buildGemma2(cfg, p, fields(new ConfigFields(cfg.raw, 'config.json')), { qkNorm: true, scaledEmbedding: true }),
};
