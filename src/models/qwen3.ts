/**
 * Qwen3: Llama's pre-norm block with an RMSNorm over each head's q and k (q_norm/k_norm, over head_dim) before RoPE,
 * no projection biases unless attention_bias, and head_dim 128 unless config.json says otherwise. Follows
 * transformers' modeling_qwen3.py.
 */
import type { Architecture } from './architecture.js';
import { rmsNorm } from './layers.js';
import { buildLlama, llama, llamaConfig } from './llama.js';

export const qwen3: Architecture = {
  ...llama,
  name: 'qwen3',
  classes: ['Qwen3ForCausalLM'],
  modelTypes: ['qwen3'],
  /** Qwen3Config: head_dim defaults to 128 (not hidden / heads); sliding windows only with use_sliding_window (refused). */
  config: (f, numHeads) => llamaConfig(f, numHeads, { headDim: 128 }),
  tokenDefaults: { bos: null, eos: null },
  unsupported: [['use_sliding_window', true]],
  positionLimit: { key: 'max_position_embeddings', default: 32768 },
  build: (cfg, p) =>
    buildLlama(cfg, p, {
      qkvBias: cfg.attentionBias,
      outBias: cfg.attentionBias,
      // q_norm/k_norm: RMSNorm over each head's head_dim values, before RoPE.
      qkNorm: (x, attn, which) => rmsNorm(x, p(`${attn}${which}_norm.weight`, [cfg.headDim]), cfg.normEps),
    }),
};
