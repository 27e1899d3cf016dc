/**
 * Gemma: Llama's attention and gated MLP (GeGLU) with Gemma's changes around them: RMSNorm x (1 + w), the inputs
 * (soft prompt included: PEFT passes inputs_embeds) multiplied by sqrt(hidden_size) inside the model, a head_dim of its
 * own, and a head tied to the embeddings unless the config says otherwise. Follows transformers 4.40's modeling_gemma.py.
 */
import { add, mul } from '../graph/ops.js';
import type { Architecture, CausalLM, Param } from './architecture.js';
import type { ConfigFields } from './config-fields.js';
import type { FamilyConfig, ModelConfig } from './config.js';
import { rmsNormPlusOne } from './layers.js';
import { llama, llamaBlocks, llamaConfig, llamaEmbeddings, type LlamaDefaults } from './llama.js';

/**
 * GemmaConfig: num_key_value_heads 16 and head_dim 256 when absent, tied head; the MLP activation is
 * `hidden_activation` (transformers 4.40 ignores `hidden_act` and falls back to gelu_pytorch_tanh).
 */
export function gemmaConfig(f: ConfigFields, numHeads: number, d: LlamaDefaults = {}): FamilyConfig {
  const keys = { activation: 'hidden_activation' };
  return llamaConfig(f, numHeads, { numKvHeads: 16, headDim: 256, tieWordEmbeddings: true, activation: 'gelu_pytorch_tanh', keys, ...d });
}

function buildGemma(cfg: ModelConfig, p: Param): CausalLM {
  const H = cfg.hiddenSize;
  const eps = cfg.normEps;
  const { selfAttention, mlp } = llamaBlocks(cfg, p, { qkvBias: cfg.attentionBias, outBias: cfg.attentionBias });
  // torch.tensor(hidden_size ** 0.5, dtype=float32)
  const normalizer = Math.fround(Math.sqrt(H));

  return {
    ...llamaEmbeddings(cfg, p),
    forward(x, aux, cache) {
      x = mul(x, normalizer);
      for (let i = 0; i < cfg.numLayers; i++) {
        const l = `model.layers.${i}.`;
        x = add(x, selfAttention(rmsNormPlusOne(x, p(l + 'input_layernorm.weight', [H]), eps), i, aux, cache));
        x = add(x, mlp(rmsNormPlusOne(x, p(l + 'post_attention_layernorm.weight', [H]), eps), i));
      }
      return rmsNormPlusOne(x, p('model.norm.weight', [H]), eps);
    },
  };
}

export const gemma: Architecture = {
  ...llama,
  name: 'gemma',
  classes: ['GemmaForCausalLM'],
  modelTypes: ['gemma'],
  config: gemmaConfig,
  tokenDefaults: { bos: 2, eos: 1 },
  unsupported: [],
  positionLimit: { key: 'max_position_embeddings', default: 8192 },
  build: buildGemma,
};
