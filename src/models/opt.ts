/**
 * OPT: learned positions taken from the attention mask (cumsum(mask) * mask - 1, offset 2, so pads read row 1),
 * LayerNorm blocks before (do_layer_norm_before) or after each residual, q scaled before QK^T, a ReLU MLP, biases,
 * tied head. With word_embed_proj_dim != hidden_size, project_in maps the embeddings (the soft prompt included: PEFT
 * prepends it to inputs_embeds) up to the hidden size and project_out maps the final states back down.
 * Follows transformers' modeling_opt.py.
 */
import type { Tensor } from '../graph/graph.js';
import { add, gather, layerNorm, mul } from '../graph/ops.js';
import { activation, checkActivation } from './activations.js';
import type { Architecture, ArchitectureBuilder, AuxTensors, KvCache } from './architecture.js';
import { evenSplit, type ConfigFields } from './config-fields.js';
import type { FamilyConfig, ModelConfig } from './config.js';
import { attention, linear, mergeHeads, splitHeads, withCache } from './layers.js';

const EMBED_TOKENS = 'model.decoder.embed_tokens.weight';
const LM_HEAD = 'lm_head.weight';
/** OPTLearnedPositionalEmbedding's offset: row p + 2 holds position p. */
const POSITION_OFFSET = 2;

/** OPTConfig's switches, with its defaults; read again where the model is built. */
function switches(raw: Record<string, unknown>, hiddenSize: number) {
  return {
    preNorm: raw.do_layer_norm_before !== false,
    finalNorm: raw.do_layer_norm_before !== false && raw._remove_final_layer_norm !== true,
    affineNorms: raw.layer_norm_elementwise_affine !== false,
    wordDim: typeof raw.word_embed_proj_dim === 'number' ? raw.word_embed_proj_dim : hiddenSize,
  };
}

/** OPTConfig: ffn_dim (3072), activation_function (relu), enable_bias (true), word_embed_proj_dim (hidden_size), tied. */
function config(f: ConfigFields, numHeads: number): FamilyConfig {
  const hiddenSize = f.int('hidden_size');
  for (const key of ['do_layer_norm_before', '_remove_final_layer_norm', 'layer_norm_elementwise_affine']) f.optionalBool(key);
  f.optionalInt('word_embed_proj_dim');
  return {
    hiddenSize,
    numKvHeads: numHeads,
    headDim: evenSplit(hiddenSize, numHeads, f.source),
    intermediateSize: f.optionalInt('ffn_dim') ?? 3072,
    normEps: 1e-5,
    ropeTheta: 10000,
    ropeScaling: null,
    tieWordEmbeddings: f.optionalBool('tie_word_embeddings') ?? true,
    activation: checkActivation(f.optionalString('activation_function') ?? 'relu', 'activation_function', f.source, false),
    attentionBias: f.optionalBool('enable_bias') ?? true,
  };
}

const build: ArchitectureBuilder = (cfg, p) => {
  const H = cfg.hiddenSize;
  const nh = cfg.numHeads;
  const hd = cfg.headDim;
  const I = cfg.intermediateSize;
  const { preNorm, finalNorm, affineNorms, wordDim } = switches(cfg.raw, H);
  const embedTokens = () => p(EMBED_TOKENS, [cfg.vocabSize, wordDim]);
  const bias = (name: string, size: number) => (cfg.attentionBias ? p(name, [size]) : undefined);
  const ln = (x: Tensor, name: string) => {
    const [scale, shift] = affineNorms
      ? [p(name + '.weight', [H]), p(name + '.bias', [H])]
      : [x.graph.constant(new Float32Array(H).fill(1), [H]), x.graph.constant(new Float32Array(H), [H])];
    return layerNorm(x, scale, shift, cfg.normEps);
  };

  function selfAttention(x: Tensor, i: number, aux: AuxTensors, cache?: KvCache): Tensor {
    const a = `model.decoder.layers.${i}.self_attn.`;
    const proj = (name: string) => linear(x, p(a + name + '.weight', [H, H]), bias(a + name + '.bias', H));
    const q = mul(proj('q_proj'), hd ** -0.5);
    const [k, v] = withCache(cache, i, splitHeads(proj('k_proj'), nh, hd), splitHeads(proj('v_proj'), nh, hd));
    const out = attention(splitHeads(q, nh, hd), k, v, aux.bias, 1);
    return linear(mergeHeads(out, nh, hd), p(a + 'out_proj.weight', [H, H]), bias(a + 'out_proj.bias', H));
  }

  function mlp(x: Tensor, i: number): Tensor {
    const m = `model.decoder.layers.${i}.`;
    const h = activation(cfg.activation)(linear(x, p(m + 'fc1.weight', [I, H]), bias(m + 'fc1.bias', I)));
    return linear(h, p(m + 'fc2.weight', [H, I]), bias(m + 'fc2.bias', H));
  }

  return {
    embed: (ids) => gather(embedTokens(), ids, 0),
    forward(x, aux, cache) {
      if (wordDim !== H) x = linear(x, p('model.decoder.project_in.weight', [H, wordDim]));
      x = add(x, gather(p('model.decoder.embed_positions.weight', [cfg.maxPositions! + POSITION_OFFSET, H]), aux.positionIds!, 0));
      for (let i = 0; i < cfg.numLayers; i++) {
        const l = `model.decoder.layers.${i}.`;
        if (preNorm) {
          x = add(x, selfAttention(ln(x, l + 'self_attn_layer_norm'), i, aux, cache));
          x = add(x, mlp(ln(x, l + 'final_layer_norm'), i));
        } else {
          x = ln(add(x, selfAttention(x, i, aux, cache)), l + 'self_attn_layer_norm');
          x = ln(add(x, mlp(x, i)), l + 'final_layer_norm');
        }
      }
      if (finalNorm) x = ln(x, 'model.decoder.final_layer_norm');
      return wordDim !== H ? linear(x, p('model.decoder.project_out.weight', [wordDim, H])) : x;
    },
    headWeight: () => (cfg.tieWordEmbeddings ? embedTokens() : p(LM_HEAD, [cfg.vocabSize, wordDim])),
    head(h) {
      return linear(h, this.headWeight());
    },
  };
};

export const opt: Architecture = {
  name: 'opt',
  classes: ['OPTForCausalLM'],
  modelTypes: ['opt'],
  config,
  tokenDefaults: { bos: 2, eos: 2 },
  unsupported: [],
  positions: 'learned',
  mask: 'either',
  positionLimit: { key: 'max_position_embeddings', default: 2048 },
  embeddingWeight: EMBED_TOKENS,
  headWeight: LM_HEAD,
  gatedMlp: false,
  build,
  promptWidth: (cfg: ModelConfig) => switches(cfg.raw, cfg.hiddenSize).wordDim,
  // cumsum(mask) * mask - 1, plus the offset: real slots count the real slots up to them, masked slots read row 1.
  maskPositions(mask) {
    let seen = 0;
    return mask.map((m) => (m ? ++seen - 1 + POSITION_OFFSET : POSITION_OFFSET - 1));
  },
};
