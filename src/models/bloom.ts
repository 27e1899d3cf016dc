/**
 * BLOOM: LayerNorm on the embeddings (soft-prompt rows included), ALiBi instead of positions (in the bias input),
 * fused query_key_value whose output is [heads, 3, head_dim] per token (q/k/v interleaved per head), gelu (tanh),
 * tied head. Follows transformers' modeling_bloom.py.
 */
import type { Tensor } from '../graph/graph.js';
import { add, layerNorm, reshape, split, transpose } from '../graph/ops.js';
import type { Architecture, ArchitectureBuilder, AuxTensors, KvCache, PrefixLayout } from './architecture.js';
import { evenSplit, type ConfigFields } from './config-fields.js';
import type { FamilyConfig } from './config.js';
import { attention, embeddingsAndHead, geluTanh, linear, mergeHeads, withCache } from './layers.js';

const EMBEDDINGS = 'transformer.word_embeddings.weight';

/** BloomConfig: `n_embed` overrides `hidden_size`; the MLP is always 4x wide and the GELU always tanh (gelu_new). */
function config(f: ConfigFields, numHeads: number): FamilyConfig {
  const hiddenSize = f.int('n_embed', 'hidden_size');
  return {
    hiddenSize,
    numKvHeads: numHeads,
    headDim: evenSplit(hiddenSize, numHeads, f.source),
    intermediateSize: 4 * hiddenSize,
    normEps: f.optionalNumber('layer_norm_epsilon') ?? 1e-5,
    ropeTheta: 10000,
    ropeScaling: null,
    tieWordEmbeddings: true,
    activation: 'gelu_new',
    attentionBias: true,
  };
}

const build: ArchitectureBuilder = (cfg, p) => {
  const H = cfg.hiddenSize;
  const nh = cfg.numHeads;
  const hd = cfg.headDim;
  const eps = cfg.normEps;
  const ln = (x: Tensor, name: string) => layerNorm(x, p(name + '.weight', [H]), p(name + '.bias', [H]), eps);

  function selfAttention(x: Tensor, i: number, aux: AuxTensors, cache?: KvCache): Tensor {
    const a = `transformer.h.${i}.self_attention.`;
    const fused = linear(x, p(a + 'query_key_value.weight', [3 * H, H]), p(a + 'query_key_value.bias', [3 * H]));
    const perHead = transpose(reshape(fused, [0, 0, nh, 3, hd]), [0, 2, 3, 1, 4]); // [B, nh, 3, S, hd]
    const [q, k, v] = split(perHead, [1, 1, 1], 2).map((t) => reshape(t, [0, 0, -1, hd]));
    const [kc, vc] = withCache(cache, i, k, v);
    const out = attention(q, kc, vc, aux.bias, 1 / Math.sqrt(hd));
    return linear(mergeHeads(out, nh, hd), p(a + 'dense.weight', [H, H]), p(a + 'dense.bias', [H]));
  }

  function mlp(x: Tensor, i: number): Tensor {
    const m = `transformer.h.${i}.mlp.`;
    const h = geluTanh(linear(x, p(m + 'dense_h_to_4h.weight', [4 * H, H]), p(m + 'dense_h_to_4h.bias', [4 * H])));
    return linear(h, p(m + 'dense_4h_to_h.weight', [H, 4 * H]), p(m + 'dense_4h_to_h.bias', [H]));
  }

  return {
    ...embeddingsAndHead(cfg, p, EMBEDDINGS, null),
    forward(x, aux, cache) {
      x = ln(x, 'transformer.word_embeddings_layernorm');
      for (let i = 0; i < cfg.numLayers; i++) {
        x = add(x, selfAttention(ln(x, `transformer.h.${i}.input_layernorm`), i, aux, cache));
        x = add(x, mlp(ln(x, `transformer.h.${i}.post_attention_layernorm`), i));
      }
      return ln(x, 'transformer.ln_f');
    },
  };
};

/**
 * PEFT's prefix layout for BLOOM under transformers <= 4.43 (bloom_model_postprocess_past_key_value): layer l's key is
 * block l and its value block L+l (not 2l, 2l+1). The value is the per-head view [heads, n, hd]; the key is block l's
 * [n, D] slice flattened token-major and re-viewed as BLOOM's [heads, hd, n] key cache, a reshape rather than a
 * transpose of the per-head view. (transformers >= 4.44 dropped BLOOM's own cache, and PEFT >= 0.13 then uses the
 * standard layout: the same saved adapter means other keys and values there.)
 */
const prefixLayout: PrefixLayout = ({ tokens: n, layers: L, heads, headDim: hd }) => {
  const D = heads * hd;
  const row = 2 * L * D;
  return (layer, value, head, token, i) => {
    if (value) return token * row + (L + layer) * D + head * hd + i;
    const flat = head * hd * n + i * n + token; // element [head][i][token] of the re-viewed slice
    return Math.floor(flat / D) * row + layer * D + (flat % D);
  };
};

export const bloom: Architecture = {
  name: 'bloom',
  classes: ['BloomForCausalLM'],
  modelTypes: ['bloom'],
  config,
  tokenDefaults: { bos: 1, eos: 2 },
  unsupported: [['apply_residual_connection_post_layernorm', true]],
  positions: 'alibi',
  mask: 'either',
  positionLimit: null,
  embeddingWeight: EMBEDDINGS,
  headWeight: null,
  gatedMlp: false,
  build,
  prefixLayout,
};
