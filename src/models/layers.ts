/** Building blocks shared by the architectures, each the formula transformers uses, written with graph ops. */
import type { Tensor } from '../graph/graph.js';
import { rowViewName } from '../runtime/protocol.js';
import type { CausalLM, KvCache, Param } from './architecture.js';
import type { ModelConfig } from './config.js';
import {
  add, concat, div, gather, halfSource, isQuantizedWeight, matmul, matmulTransB, readWeight, mul, neg, quantizedMatMul, reduceMean, reshape,
  softmax, split, sqrt, tanh, transpose, transposeLast, unsqueeze,
} from '../graph/ops.js';

/** Rows per product when a weight held as fp16 has more output rows than this (a vocabulary-sized head): see linear. */
export const HALF_ROWS_CHUNK = 16384;

/**
 * A bound weight [V, ...] (a graph input, or a float16 one cast to float32) as views of at most `chunk` rows each:
 * engine inputs named `W#rows=A:B` (runtime/protocol.ts), float16 ones for a weight held as fp16 (read them with
 * ops.ts readWeight, one chunk at a time, so only one chunk's float32 copy exists at once). Null when the weight is
 * computed in the graph or has `chunk` rows or fewer.
 */
export function weightRowViews(weight: Tensor, chunk: number): Tensor[] | null {
  const source = halfSource(weight) ?? weight;
  const [V, ...rest] = source.shape as number[];
  if (V <= chunk || source.producer !== null) return null;
  const g = source.graph;
  const views: Tensor[] = [];
  for (let start = 0; start < V; start += chunk) {
    const end = Math.min(V, start + chunk);
    const name = rowViewName(source.name, start, end);
    views.push(g.inputs.find((t) => t.name === name) ?? g.input(name, source.dtype, [end - start, ...rest]));
  }
  return views;
}

/**
 * torch.nn.Linear: weight [out, in]; a weight stored quantized multiplies with onnxruntime's quantized kernel. A weight
 * held as fp16 is cast where it is read (ops.ts castAfter) and multiplied without a Transpose node; a large one (the
 * head) in row chunks, each cast after the previous chunk's product, so no float32 copy of it is ever whole.
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  let y: Tensor;
  if (isQuantizedWeight(weight)) y = quantizedMatMul(x, weight, true);
  else if (halfSource(weight)) {
    const views = weightRowViews(weight, HALF_ROWS_CHUNK) ?? [weight];
    let after = x;
    const parts = views.map((w) => (after = matmulTransB(x, readWeight(w, after))));
    y = parts.length === 1 ? parts[0] : concat(parts, -1);
  } else if (weight.producer?.op === 'Cast' && weight.producer.inputs[0].dtype === 'float16') {
    y = matmulTransB(x, weight); // already cast (a loss-head chunk, ops.ts readWeight)
  } else y = matmul(x, transposeLast(weight));
  return bias ? add(y, bias) : y;
}

/** x @ weight for a weight [in, out]: GPT-2's Conv1D without its bias, and products with a head's rows. */
export function matmulWeight(x: Tensor, weight: Tensor): Tensor {
  return isQuantizedWeight(weight) ? quantizedMatMul(x, weight, false) : matmul(x, weight);
}

/**
 * The token embedding table `embedding` [V, H], and a head that is that table when tied (or when the family has no
 * `head` of its own: null), else `head` [V, H].
 */
export function embeddingsAndHead(cfg: ModelConfig, p: Param, embedding: string, head: string | null) {
  const table = () => p(embedding, [cfg.vocabSize, cfg.hiddenSize]);
  return {
    embed: (ids: Tensor) => gather(table(), ids, 0),
    headWeight: () => (head === null || cfg.tieWordEmbeddings ? table() : p(head, [cfg.vocabSize, cfg.hiddenSize])),
    head(this: CausalLM, h: Tensor) {
      return linear(h, this.headWeight());
    },
  };
}

/** GPT-2's Conv1D: weight [in, out]. */
export function conv1d(x: Tensor, weight: Tensor, bias: Tensor): Tensor {
  return add(matmulWeight(x, weight), bias);
}

/** Llama's RMSNorm, in fp32: x * rsqrt(mean(x^2) + eps) * w. */
export function rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
  const variance = reduceMean(mul(x, x), [-1], true);
  return mul(weight, div(x, sqrt(add(variance, eps))));
}

/** Gemma's RMSNorm, in fp32: x * rsqrt(mean(x^2) + eps) * (1 + w). */
export function rmsNormPlusOne(x: Tensor, weight: Tensor, eps: number): Tensor {
  return rmsNorm(x, add(weight, 1), eps);
}

/** Soft-capping, cap * tanh(x / cap) (attention scores or logits); x itself without a cap. */
export function softcap(x: Tensor, cap: number | null | undefined): Tensor {
  return cap === null || cap === undefined ? x : mul(tanh(div(x, cap)), cap);
}

/** gelu with the tanh approximation (BLOOM's gelu, GPT-2's gelu_new): one fused op, see graph/ops.ts. */
export { geluTanh } from '../graph/ops.js';

/** [B, S, heads * d] -> [B, heads, S, d] */
export function splitHeads(x: Tensor, heads: number, headDim: number): Tensor {
  return transpose(reshape(x, [0, 0, heads, headDim]), [0, 2, 1, 3]);
}

/** [B, heads, S, d] -> [B, S, heads * d] */
export function mergeHeads(x: Tensor, heads: number, headDim: number): Tensor {
  return reshape(transpose(x, [0, 2, 1, 3]), [0, 0, heads * headDim]);
}

/**
 * softmax(q k^T * scale + bias) v. `bias` [B, 1 or heads, Sq, Sk] carries the causal/padding mask (and ALiBi).
 * With grouped-query attention the query heads are viewed as [B, kvHeads, group, Sq, d] so that one k/v head
 * broadcasts over its group, which is what repeat_kv does without materialising the copies. `cap` soft-caps the
 * scaled scores before the mask is added (Gemma2's attn_logit_softcapping).
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor, scale: number, cap: number | null = null): Tensor {
  const heads = q.shape[1] as number;
  const kvHeads = k.shape[1] as number;
  const headDim = q.shape[3] as number;
  if (heads === kvHeads) {
    const scores = add(softcap(mul(matmul(q, transposeLast(k)), scale), cap), bias);
    return matmul(softmax(scores, -1), v);
  }
  const group = heads / kvHeads;
  const qg = reshape(q, [0, kvHeads, group, -1, headDim]);
  const kg = reshape(k, [0, kvHeads, 1, -1, headDim]);
  const vg = reshape(v, [0, kvHeads, 1, -1, headDim]);
  if (bias.shape[1] !== 1) throw new Error('grouped-query attention expects a bias shared by all heads');
  const bg = unsqueeze(bias, [2]);
  const scores = add(softcap(mul(matmul(qg, transposeLast(kg)), scale), cap), bg);
  const out = matmul(softmax(scores, -1), vg);
  return reshape(out, [0, heads, -1, headDim]);
}

/**
 * RoPE with the half-split layout: x * cos + rotate_half(x) * sin; cos/sin are [B, 1, S, r]. With partial rotary
 * (r < head size) only the first r dims of each head rotate and the rest pass through.
 */
export function rope(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
  const d = x.shape[3] as number;
  const r = cos.shape[3] as number;
  if (r < d) {
    const [xr, pass] = split(x, [r, d - r], -1);
    return concat([rope(xr, cos, sin), pass], -1);
  }
  const half = d / 2;
  const [x1, x2] = split(x, [half, half], -1);
  const rotated = concat([neg(x2), x1], -1);
  return add(mul(x, cos), mul(rotated, sin));
}

/** Appends this step's keys/values to the layer's cache (when decoding with one) and returns what attention sees. */
export function withCache(cache: KvCache | undefined, layer: number, k: Tensor, v: Tensor): [Tensor, Tensor] {
  if (!cache) return [k, v];
  const key = concat([cache.past[layer].key, k], 2);
  const value = concat([cache.past[layer].value, v], 2);
  cache.present[layer] = { key, value };
  return [key, value];
}

/** RoPE on the first `dims` of each head only (partial rotary: GPT-NeoX, Phi, StableLM); the rest passes through. */
export function partialRope(x: Tensor, cos: Tensor, sin: Tensor, dims: number): Tensor {
  const headDim = x.shape[3] as number;
  if (dims === headDim) return rope(x, cos, sin);
  if (dims === 0) return x;
  const [rotated, passed] = split(x, [dims, headDim - dims], -1);
  return concat([rope(rotated, cos, sin), passed], -1);
}

/** A fused projection laid out per head as [q | k | v] (BLOOM, GPT-NeoX): [B, S, heads*3*d] -> q, k, v [B, heads, S, d]. */
export function splitQkvPerHead(fused: Tensor, heads: number, headDim: number): Tensor[] {
  const perHead = transpose(reshape(fused, [0, 0, heads, 3, headDim]), [0, 2, 3, 1, 4]); // [B, heads, 3, S, d]
  return split(perHead, [1, 1, 1], 2).map((t) => reshape(t, [0, 0, -1, headDim]));
}
