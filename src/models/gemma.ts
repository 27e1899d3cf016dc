/**
 * Gemma: Llama's attention and gated MLP (GeGLU) with Gemma's changes around them: RMSNorm x (1 + w), the inputs
 * (soft prompt included: PEFT passes inputs_embeds) multiplied by sqrt(hidden_size) inside the model, a head_dim of its
 * own, and a head tied to the embeddings unless the config says otherwise. Follows transformers 4.40's modeling_gemma.py.
 */
import { add, gather, mul } from '../graph/ops.js';
import { checkActivation } from './activations.js';
import type { Architecture, CausalLM, Param } from './architecture.js';
import { parseRopeScaling, type ConfigFields } from './config-fields.js';
import type { FamilyConfig, ModelConfig } from './config.js';
import { linear, rmsNormPlusOne } from './layers.js';
import { llamaBlocks } from './llama.js';

const EMBED_TOKENS = 'model.embed_tokens.weight';
const LM_HEAD = 'lm_head.weight';

/**
 * GemmaConfig: num_key_value_heads 16 and head_dim 256 when absent, tied head; the MLP activation is
 * `hidden_activation` (transformers 4.40 ignores `hidden_act` and falls back to gelu_pytorch_tanh).
 */
export function gemmaConfig(f: ConfigFields): FamilyConfig {
  return {
    hiddenSize: f.int('hidden_size'),
    numKvHeads: f.optionalInt('num_key_value_heads') ?? 16,
    headDim: f.optionalInt('head_dim') ?? 256,
    intermediateSize: f.int('intermediate_size'),
    normEps: f.optionalNumber('rms_norm_eps') ?? 1e-6,
    ropeTheta: f.optionalNumber('rope_theta') ?? 10000,
    ropeScaling: parseRopeScaling(f.raw.rope_scaling, f.source),
    tieWordEmbeddings: f.optionalBool('tie_word_embeddings') ?? true,
    activation: checkActivation(f.optionalString('hidden_activation') ?? 'gelu_pytorch_tanh', 'hidden_activation', f.source, true),
    attentionBias: f.optionalBool('attention_bias') ?? false,
  };
}

function buildGemma(cfg: ModelConfig, p: Param): CausalLM {
  const H = cfg.hiddenSize;
  const eps = cfg.normEps;
  const embedTokens = () => p(EMBED_TOKENS, [cfg.vocabSize, H]);
  const { selfAttention, mlp } = llamaBlocks(cfg, p, { qkv: cfg.attentionBias, out: cfg.attentionBias });
  // torch.tensor(hidden_size ** 0.5, dtype=float32)
  const normalizer = Math.fround(Math.sqrt(H));

  return {
    embed: (ids) => gather(embedTokens(), ids, 0),
    forward(x, aux, cache) {
      x = mul(x, normalizer);
      for (let i = 0; i < cfg.numLayers; i++) {
        const l = `model.layers.${i}.`;
        x = add(x, selfAttention(rmsNormPlusOne(x, p(l + 'input_layernorm.weight', [H]), eps), i, aux, cache));
        x = add(x, mlp(rmsNormPlusOne(x, p(l + 'post_attention_layernorm.weight', [H]), eps), i));
      }
      return rmsNormPlusOne(x, p('model.norm.weight', [H]), eps);
    },
    headWeight: () => (cfg.tieWordEmbeddings ? embedTokens() : p(LM_HEAD, [cfg.vocabSize, H])),
    head(h) {
      return linear(h, this.headWeight());
    },
  };
}

export const gemma: Architecture = {
  name: 'gemma',
  classes: ['GemmaForCausalLM'],
  modelTypes: ['gemma'],
  config: gemmaConfig,
  tokenDefaults: { bos: 2, eos: 1 },
  unsupported: [],
  positions: 'rope',
  mask: 'either',
  positionLimit: { key: 'max_position_embeddings', default: 8192 },
  embeddingWeight: EMBED_TOKENS,
  headWeight: LM_HEAD,
  gatedMlp: true,
  build: buildGemma,
};
