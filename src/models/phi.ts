/**
 * Phi (Phi-1, Phi-1.5, Phi-2): one LayerNorm feeding attention and MLP in parallel (x + attn(ln(x)) + mlp(ln(x))),
 * RoPE on the first partial_rotary_factor of each head, biases on q/k/v/dense and the MLP, optional per-head q/k
 * LayerNorm, a final LayerNorm and an lm_head with a bias. Follows transformers' modeling_phi.py.
 */
import type { Tensor } from '../graph/graph.js';
import { add, gather, layerNorm, unsqueeze } from '../graph/ops.js';
import { activation, checkActivation } from './activations.js';
import type { Architecture, ArchitectureBuilder, AuxTensors, KvCache } from './architecture.js';
import { evenSplit, parseRopeScaling, rotaryDims, type ConfigFields } from './config-fields.js';
import type { FamilyConfig } from './config.js';
import { attention, linear, mergeHeads, partialRope, splitHeads, withCache } from './layers.js';

const EMBED_TOKENS = 'model.embed_tokens.weight';
const LM_HEAD = 'lm_head.weight';

/** PhiConfig: partial_rotary_factor (0.5), gelu_new, qk_layernorm (false), GQA heads, untied. */
function config(f: ConfigFields, numHeads: number): FamilyConfig {
  const hiddenSize = f.int('hidden_size');
  const headDim = evenSplit(hiddenSize, numHeads, f.source);
  f.optionalBool('qk_layernorm');
  return {
    hiddenSize,
    numKvHeads: f.optionalInt('num_key_value_heads') ?? numHeads,
    headDim,
    rotaryDim: rotaryDims(headDim, f.optionalNumber('partial_rotary_factor') ?? 0.5, 'partial_rotary_factor', f.source),
    intermediateSize: f.optionalInt('intermediate_size') ?? 8192,
    normEps: f.optionalNumber('layer_norm_eps') ?? 1e-5,
    ropeTheta: f.optionalNumber('rope_theta') ?? 10000,
    ropeScaling: parseRopeScaling(f.raw.rope_scaling, f.source),
    tieWordEmbeddings: f.optionalBool('tie_word_embeddings') ?? false,
    activation: checkActivation(f.optionalString('hidden_act') ?? 'gelu_new', 'hidden_act', f.source, false),
    attentionBias: true,
  };
}

const build: ArchitectureBuilder = (cfg, p) => {
  const H = cfg.hiddenSize;
  const nh = cfg.numHeads;
  const nkv = cfg.numKvHeads;
  const hd = cfg.headDim;
  const I = cfg.intermediateSize;
  const eps = cfg.normEps;
  const qkNorm = cfg.raw.qk_layernorm === true;
  const embedTokens = () => p(EMBED_TOKENS, [cfg.vocabSize, H]);
  const ln = (x: Tensor, name: string, size = H) => layerNorm(x, p(name + '.weight', [size]), p(name + '.bias', [size]), eps);

  function selfAttention(x: Tensor, i: number, aux: AuxTensors, cache?: KvCache): Tensor {
    const a = `model.layers.${i}.self_attn.`;
    const proj = (name: string, heads: number) =>
      splitHeads(linear(x, p(a + name + '.weight', [heads * hd, H]), p(a + name + '.bias', [heads * hd])), heads, hd);
    // LayerNorm over each head's dims (what later transformers apply; 4.40 normed the unsplit projection, one head only).
    const norm = (t: Tensor, name: string) => (qkNorm ? ln(t, a + name, hd) : t);
    const cos = unsqueeze(aux.cos!, [1]);
    const sin = unsqueeze(aux.sin!, [1]);
    const q = partialRope(norm(proj('q_proj', nh), 'q_layernorm'), cos, sin, cfg.rotaryDim!);
    const k = partialRope(norm(proj('k_proj', nkv), 'k_layernorm'), cos, sin, cfg.rotaryDim!);
    const [kc, vc] = withCache(cache, i, k, proj('v_proj', nkv));
    const out = attention(q, kc, vc, aux.bias, 1 / Math.sqrt(hd));
    return linear(mergeHeads(out, nh, hd), p(a + 'dense.weight', [H, nh * hd]), p(a + 'dense.bias', [H]));
  }

  function mlp(x: Tensor, i: number): Tensor {
    const m = `model.layers.${i}.mlp.`;
    const h = activation(cfg.activation)(linear(x, p(m + 'fc1.weight', [I, H]), p(m + 'fc1.bias', [I])));
    return linear(h, p(m + 'fc2.weight', [H, I]), p(m + 'fc2.bias', [H]));
  }

  return {
    embed: (ids) => gather(embedTokens(), ids, 0),
    forward(x, aux, cache) {
      for (let i = 0; i < cfg.numLayers; i++) {
        const h = ln(x, `model.layers.${i}.input_layernorm`);
        x = add(add(selfAttention(h, i, aux, cache), mlp(h, i)), x);
      }
      return ln(x, 'model.final_layernorm');
    },
    headWeight: () => (cfg.tieWordEmbeddings ? embedTokens() : p(LM_HEAD, [cfg.vocabSize, H])),
    headBias: () => p('lm_head.bias', [cfg.vocabSize]),
    head(h) {
      return linear(h, this.headWeight(), this.headBias!());
    },
  };
};

export const phi: Architecture = {
  name: 'phi',
  classes: ['PhiForCausalLM'],
  modelTypes: ['phi'],
  config,
  tokenDefaults: { bos: 1, eos: 2 },
  unsupported: [],
  positions: 'rope',
  mask: 'either',
  positionLimit: { key: 'max_position_embeddings', default: 2048 },
  embeddingWeight: EMBED_TOKENS,
  headWeight: LM_HEAD,
  gatedMlp: false,
  build,
};
