/**
 * Granite (3.x): Llama's block with four scalars: inputs_embeds x embedding_multiplier inside the model (soft-prompt
 * rows included), attention scores x attention_multiplier (instead of 1/sqrt(head_dim)), each branch x
 * residual_multiplier before it joins the residual, and logits / logits_scaling. Follows transformers'
 * modeling_granite.py.
 */
import type { Tensor } from '../graph/graph.js';
import { add, gather, mul, unsqueeze } from '../graph/ops.js';
import { checkActivation, gatedActivation } from './activations.js';
import type { Architecture, ArchitectureBuilder, AuxTensors, KvCache } from './architecture.js';
import { evenSplit, parseRopeScaling, type ConfigFields } from './config-fields.js';
import type { FamilyConfig } from './config.js';
import { attention, linear, mergeHeads, rmsNorm, rope, splitHeads, withCache } from './layers.js';

const EMBED_TOKENS = 'model.embed_tokens.weight';
const LM_HEAD = 'lm_head.weight';
const MULTIPLIERS = ['embedding_multiplier', 'residual_multiplier', 'attention_multiplier', 'logits_scaling'];

/** GraniteConfig: the multipliers default to 1 (a plain Llama); mlp_bias adds biases to the three MLP projections. */
function config(f: ConfigFields, numHeads: number): FamilyConfig {
  const hiddenSize = f.int('hidden_size');
  for (const key of MULTIPLIERS) f.optionalNumber(key); // checked here, read by the builder
  f.optionalBool('mlp_bias');
  return {
    hiddenSize,
    numKvHeads: f.optionalInt('num_key_value_heads') ?? numHeads,
    headDim: evenSplit(hiddenSize, numHeads, f.source),
    intermediateSize: f.int('intermediate_size'),
    normEps: f.optionalNumber('rms_norm_eps') ?? 1e-6,
    ropeTheta: f.optionalNumber('rope_theta') ?? 10000,
    ropeScaling: parseRopeScaling(f.raw.rope_scaling, f.source),
    tieWordEmbeddings: f.optionalBool('tie_word_embeddings') ?? false,
    activation: checkActivation(f.optionalString('hidden_act') ?? 'silu', 'hidden_act', f.source, true),
    attentionBias: f.optionalBool('attention_bias') ?? false,
  };
}

const build: ArchitectureBuilder = (cfg, p) => {
  const H = cfg.hiddenSize;
  const hd = cfg.headDim;
  const nh = cfg.numHeads;
  const nkv = cfg.numKvHeads;
  const I = cfg.intermediateSize;
  const eps = cfg.normEps;
  const scalar = (key: string) => (cfg.raw[key] as number | null | undefined) ?? 1;
  const embeddingMultiplier = scalar('embedding_multiplier');
  const residualMultiplier = scalar('residual_multiplier');
  const attentionMultiplier = scalar('attention_multiplier');
  const logitsScaling = scalar('logits_scaling');
  const mlpBias = cfg.raw.mlp_bias === true;
  const embedTokens = () => p(EMBED_TOKENS, [cfg.vocabSize, H]);

  function selfAttention(x: Tensor, i: number, aux: AuxTensors, cache?: KvCache): Tensor {
    const a = `model.layers.${i}.self_attn.`;
    const bias = (name: string, size: number) => (cfg.attentionBias ? p(a + name, [size]) : undefined);
    const q = linear(x, p(a + 'q_proj.weight', [nh * hd, H]), bias('q_proj.bias', nh * hd));
    const k = linear(x, p(a + 'k_proj.weight', [nkv * hd, H]), bias('k_proj.bias', nkv * hd));
    const v = linear(x, p(a + 'v_proj.weight', [nkv * hd, H]), bias('v_proj.bias', nkv * hd));
    const cos = unsqueeze(aux.cos!, [1]);
    const sin = unsqueeze(aux.sin!, [1]);
    const qh = rope(splitHeads(q, nh, hd), cos, sin);
    const [kh, vh] = withCache(cache, i, rope(splitHeads(k, nkv, hd), cos, sin), splitHeads(v, nkv, hd));
    const out = attention(qh, kh, vh, aux.bias, attentionMultiplier);
    return linear(mergeHeads(out, nh, hd), p(a + 'o_proj.weight', [H, nh * hd]), bias('o_proj.bias', H));
  }

  function mlp(x: Tensor, i: number): Tensor {
    const m = `model.layers.${i}.mlp.`;
    const bias = (name: string, size: number) => (mlpBias ? p(m + name, [size]) : undefined);
    const gate = linear(x, p(m + 'gate_proj.weight', [I, H]), bias('gate_proj.bias', I));
    const up = linear(x, p(m + 'up_proj.weight', [I, H]), bias('up_proj.bias', I));
    return linear(gatedActivation(cfg.activation, gate, up), p(m + 'down_proj.weight', [H, I]), bias('down_proj.bias', H));
  }

  return {
    embed: (ids) => gather(embedTokens(), ids, 0),
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
    headWeight: () => (cfg.tieWordEmbeddings ? embedTokens() : p(LM_HEAD, [cfg.vocabSize, H])),
    head(h) {
      return linear(h, this.headWeight());
    },
  };
};

export const granite: Architecture = {
  name: 'granite',
  classes: ['GraniteForCausalLM'],
  modelTypes: ['granite'],
  config,
  tokenDefaults: { bos: 1, eos: 2 },
  unsupported: [],
  positions: 'rope',
  mask: 'either',
  positionLimit: { key: 'max_position_embeddings', default: 2048 },
  embeddingWeight: EMBED_TOKENS,
  headWeight: LM_HEAD,
  gatedMlp: true,
  build,
};
