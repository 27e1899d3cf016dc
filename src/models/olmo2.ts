/**
 * OLMo 2: no pre-norms; each branch's output is normalised before it joins the residual (post_attention_layernorm,
 * post_feedforward_layernorm), and q and k get an RMSNorm over the whole projection (all heads at once) before the
 * head split and RoPE. SwiGLU MLP, untied head by default. Follows transformers' modeling_olmo2.py.
 */
import { add } from '../graph/ops.js';
import type { Architecture, ArchitectureBuilder } from './architecture.js';
import { rmsNorm } from './layers.js';
import { llama, llamaBlocks, llamaConfig, llamaEmbeddings } from './llama.js';

const build: ArchitectureBuilder = (cfg, p) => {
  const H = cfg.hiddenSize;
  const eps = cfg.normEps;
  const { selfAttention, mlp } = llamaBlocks(cfg, p, {
    qkvBias: cfg.attentionBias,
    outBias: cfg.attentionBias,
    // q_norm/k_norm: RMSNorm over the full projection, before the head split.
    qkNorm: (x, attn, which, heads) => rmsNorm(x, p(`${attn}${which}_norm.weight`, [heads * cfg.headDim]), eps),
    qkNormBeforeSplit: true,
  });

  return {
    ...llamaEmbeddings(cfg, p),
    forward(x, aux, cache) {
      for (let i = 0; i < cfg.numLayers; i++) {
        const l = `model.layers.${i}.`;
        x = add(x, rmsNorm(selfAttention(x, i, aux, cache), p(l + 'post_attention_layernorm.weight', [H]), eps));
        x = add(x, rmsNorm(mlp(x, i), p(l + 'post_feedforward_layernorm.weight', [H]), eps));
      }
      return rmsNorm(x, p('model.norm.weight', [H]), eps);
    },
  };
};

export const olmo2: Architecture = {
  ...llama,
  name: 'olmo2',
  classes: ['Olmo2ForCausalLM'],
  modelTypes: ['olmo2'],
  /** Olmo2Config: rms_norm_eps 1e-5, attention_bias on all four projections. */
  config: (f, numHeads) => llamaConfig(f, numHeads, { normEps: 1e-5 }),
  tokenDefaults: { bos: null, eos: 50279 },
  unsupported: [],
  build,
};
