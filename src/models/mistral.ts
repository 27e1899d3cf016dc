/**
 * Mistral: Llama's block without biases, every layer attending within a sliding window of `sliding_window` keys
 * (the window is a per-layer fact the attention bias carries; see positions.ts). Follows transformers' modeling_mistral.py.
 */
import { FormatError } from '../errors.js';
import type { Architecture } from './architecture.js';
import type { ConfigFields } from './config-fields.js';
import type { FamilyConfig } from './config.js';
import { buildLlama, llama, llamaConfig } from './llama.js';

/** MistralConfig: LlamaConfig's keys; `sliding_window` absent means 4096, null means full attention. */
function mistralConfig(f: ConfigFields, numHeads: number): FamilyConfig {
  const window = f.has('sliding_window') ? f.optionalInt('sliding_window') : 4096;
  if (window === 0) throw new FormatError('sliding_window is 0; expected a positive integer or null', f.source);
  const layers = f.int('num_hidden_layers');
  return {
    ...llamaConfig(f, numHeads),
    attentionBias: false,
    ...(window === null ? {} : { layers: Array.from({ length: layers }, () => ({ window })) }),
  };
}

export const mistral: Architecture = {
  ...llama,
  name: 'mistral',
  classes: ['MistralForCausalLM'],
  modelTypes: ['mistral'],
  config: mistralConfig,
  tokenDefaults: { bos: 1, eos: 2 },
  unsupported: [],
  positionLimit: { key: 'max_position_embeddings', default: 4096 * 32 },
  build: (cfg, p) => buildLlama(cfg, p),
};
