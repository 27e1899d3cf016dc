/**
 * Granite (3.x): Llama's block with four scalars: inputs_embeds x embedding_multiplier inside the model (soft-prompt
 * rows included), attention scores x attention_multiplier (instead of 1/sqrt(head_dim)), each branch x
 * residual_multiplier before it joins the residual, and logits / logits_scaling. Follows transformers'
 * modeling_granite.py.
 */
import { add, mul } from '../graph/ops.js';
import type { Architecture, ArchitectureBuilder } from './architecture.js';
import type { ConfigFields } from './config-fields.js';
import type { FamilyConfig } from './config.js';
import { rmsNorm } from './layers.js';
import { llama, llamaBlocks, llamaConfig, llamaEmbeddings } from './llama.js';

const MULTIPLIERS = ['embedding_multiplier', 'residual_multiplier', 'attention_multiplier', 'logits_scaling'];

/** GraniteConfig: the multipliers default to 1 (a plain Llama), no head_dim key; mlp_bias adds biases to the MLP. */
function config(f: ConfigFields, numHeads: number): FamilyConfig {
  for (const key of MULTIPLIERS) f.optionalNumber(key); // checked here, read by the builder
  f.optionalBool('mlp_bias');
  return llamaConfig(f, numHeads, { keys: { headDim: null } });
}

const build: ArchitectureBuilder = (cfg, p) => {
  const H = cfg.hiddenSize;
  const eps = cfg.normEps;
  const scalar = (key: string) => (cfg.raw[key] as number | null | undefined) ?? 1;
  const embeddingMultiplier = scalar('embedding_multiplier');
  const residualMultiplier = scalar('residual_multiplier');
  const logitsScaling = scalar('logits_scaling');
  const { selfAttention, mlp } = llamaBlocks(cfg, p, {
    qkvBias: cfg.attentionBias,
    outBias: cfg.attentionBias,
    mlpBias: cfg.raw.mlp_bias === true,
    scale: scalar('attention_multiplier'),
  });

  return {
    ...llamaEmbeddings(cfg, p),
    forward(x, aux, cache) {
      // The multiplier applies to inputs_embeds, so the soft prompt is scaled like the tokens.
      x = mul(x, embeddingMultiplier);
      for (let i = 0; i < cfg.numLayers; i++) {
        const l = `model.layers.${i}.`;
        x = add(x, mul(selfAttention(rmsNorm(x, p(l + 'input_layernorm.weight', [H]), eps), i, aux, cache), residualMultiplier));
        x = add(x, mul(mlp(rmsNorm(x, p(l + 'post_attention_layernorm.weight', [H]), eps), i), residualMultiplier));
      }
      // logits / logits_scaling, folded into the hidden states: the head (and the loss's chunked head) stay a product.
      return mul(rmsNorm(x, p('model.norm.weight', [H]), eps), 1 / logitsScaling);
    },
  };
};

export const granite: Architecture = {
  ...llama,
  name: 'granite',
  classes: ['GraniteForCausalLM'],
  modelTypes: ['granite'],
  config,
  tokenDefaults: { bos: 1, eos: 2 },
  unsupported: [],
  build,
};
