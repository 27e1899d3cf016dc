/**
 * SmolLM3: Llama's block where `no_rope_layers[i]` = 0 marks a layer without RoPE (NoPE): its q and k are not rotated.
 * Tied head and rope_theta 2e6 by default. Follows transformers' modeling_smollm3.py.
 */
import { FormatError } from '../errors.js';
import type { Architecture } from './architecture.js';
import type { ConfigFields } from './config-fields.js';
import type { FamilyConfig } from './config.js';
import { buildLlama, llama, llamaConfig } from './llama.js';

/**
 * Which layers rotate q and k: config.json's `no_rope_layers` (1 = RoPE, 0 = NoPE), else every
 * `no_rope_layer_interval`-th layer (default 4) is NoPE, as SmolLM3Config fills it in.
 */
function ropeLayers(raw: Record<string, unknown>, numLayers: number, source: string): boolean[] {
  const listed = raw.no_rope_layers;
  if (listed === undefined || listed === null) {
    const interval = (raw.no_rope_layer_interval as number | undefined) ?? 4;
    return Array.from({ length: numLayers }, (_, i) => (i + 1) % interval !== 0);
  }
  if (!Array.isArray(listed) || listed.length !== numLayers || !listed.every((v) => v === 0 || v === 1)) {
    throw new FormatError(`no_rope_layers is ${JSON.stringify(listed)}; expected ${numLayers} values of 0 or 1`, source);
  }
  return listed.map((v) => v === 1);
}

/** SmolLM3Config: tied by default, rope_theta 2e6; mlp_bias adds biases to the MLP projections. */
function config(f: ConfigFields, numHeads: number): FamilyConfig {
  ropeLayers(f.raw, f.int('num_hidden_layers'), f.source);
  f.optionalInt('no_rope_layer_interval');
  f.optionalBool('mlp_bias');
  return llamaConfig(f, numHeads, { ropeTheta: 2000000, tieWordEmbeddings: true });
}

export const smollm3: Architecture = {
  ...llama,
  name: 'smollm3',
  classes: ['SmolLM3ForCausalLM'],
  modelTypes: ['smollm3'],
  config,
  tokenDefaults: { bos: 128000, eos: 128001 },
  unsupported: [['use_sliding_window', true]],
  positionLimit: { key: 'max_position_embeddings', default: 32768 },
  build(cfg, p) {
    const usesRope = ropeLayers(cfg.raw, cfg.numLayers, 'config.json');
    const mlpBias = cfg.raw.mlp_bias === true;
    return buildLlama(cfg, p, { qkvBias: cfg.attentionBias, outBias: cfg.attentionBias, mlpBias, rotates: (i) => usesRope[i] });
  },
};
