/** Qwen2: Llama's block with biases on the q/k/v projections (never on o_proj), whatever attention_bias says. */
import type { Architecture } from './architecture.js';
import { buildLlama, llama, llamaConfig } from './llama.js';

export const qwen2: Architecture = {
  ...llama,
  name: 'qwen2',
  classes: ['Qwen2ForCausalLM'],
  modelTypes: ['qwen2'],
  config: (f, numHeads) => ({ ...llamaConfig(f, numHeads), attentionBias: true }),
  tokenDefaults: { bos: null, eos: null },
  unsupported: [['use_sliding_window', true]],
  positionLimit: { key: 'max_position_embeddings', default: 32768 },
  build: (cfg, p) => buildLlama(cfg, p, { qkvBias: true }),
};
