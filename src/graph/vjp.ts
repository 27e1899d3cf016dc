/**
 * Vector-Jacobian products, one rule per op: given the node and the gradients of its outputs (null where an output
 * gets none), return the gradient of each input (null where `need` is false or the input is not differentiable).
 * Rules are written with the same ops as the forward pass, so the backward graph is plain ONNX too.
 */
import type { Node, Tensor } from './graph.js';
import {
  add, concat, div, erf, exp, expand, filledLike, gather, greater, int64s, matmul, mul, neg, pow, reduceMean, reduceSum, reshape, reshapeTo,
  shapeOf, shapeTensor, sigmoid, softmax, split, sub, tanh, transpose, transposeLast, unsqueeze, where, cast, castAfter, quantizedMatMul,
} from './ops.js';
import { elementCount } from '../shape.js';

export type Rule = (node: Node, grads: (Tensor | null)[], need: boolean[]) => (Tensor | null)[];

/** Sums a broadcast gradient back to the shape of the operand that was broadcast. */
export function unbroadcast(g: Tensor, target: Tensor): Tensor {
  const lead = g.rank - target.rank;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead) axes.push(i);
    else if (target.shape[i - lead] === 1 && g.shape[i] !== 1) axes.push(i);
  }
  if (axes.length === 0) return g;
  const summed = reduceSum(g, axes, true);
  if (lead === 0) return summed;
  return target.shape.every((d) => typeof d === 'number')
    ? reshape(summed, target.shape as number[])
    : reshapeTo(summed, shapeVia(target, g), target.shape);
}

/**
 * x's shape as a run-time tensor, read off `alive` (a tensor the backward pass holds anyway) where x's symbolic dims
 * appear there too: a Shape(x) node would keep all of x alive until the backward pass reaches it.
 */
function shapeVia(x: Tensor, alive: Tensor): Tensor {
  const parts = x.shape.map((d) => {
    const axis = d === '?' ? -1 : alive.shape.indexOf(d);
    return typeof d === 'number' ? d : axis >= 0 ? { of: alive, axis } : null;
  });
  return parts.every((p) => p !== null) ? shapeTensor(x.graph, parts) : shapeOf(x);
}

/** The size of the reduced axes as a float scalar, static when the dims are known. */
function reducedCount(x: Tensor, axes: number[]): Tensor | number {
  const dims = axes.map((a) => x.shape[a]);
  if (dims.every((d) => typeof d === 'number')) return elementCount(dims as number[]);
  const picked = gather(shapeOf(x), int64s(x.graph, axes), 0);
  return cast(x.graph.node('ReduceProd', [picked], { keepdims: 0 }, [{ dtype: 'int64', shape: [] }])[0], 'float32');
}

function expandBack(g: Tensor, x: Tensor, axes: number[], keepdims: boolean): Tensor {
  const kept = keepdims ? g : unsqueeze(g, axes);
  return expand(kept, shapeVia(x, g), x.shape);
}

function invertPerm(perm: number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => (inv[p] = i));
  return inv;
}

function axesOf(node: Node): number[] {
  const axes = node.inputs[1];
  return Array.from(axes.graph.constants.get(axes) as BigInt64Array, Number);
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** d/dx of 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), recomputed from x. */
function geluTanhGrad(x: Tensor, g: Tensor): Tensor {
  const x2 = mul(x, x);
  const t = tanh(mul(mul(x, add(mul(x2, 0.044715), 1)), SQRT_2_OVER_PI));
  const du = mul(add(mul(x2, 3 * 0.044715), 1), SQRT_2_OVER_PI);
  const dy = add(mul(add(t, 1), 0.5), mul(mul(mul(x, 0.5), sub(1, mul(t, t))), du));
  return mul(g, dy);
}

/** d/dx of x Phi(x) = Phi(x) + x phi(x): 0.5 (1 + erf(x / sqrt 2)) + x exp(-x^2 / 2) / sqrt(2 pi), recomputed from x. */
function geluExactGrad(x: Tensor, g: Tensor): Tensor {
  const cdf = mul(add(erf(mul(x, Math.SQRT1_2)), 1), 0.5);
  const pdf = mul(exp(mul(mul(x, x), -0.5)), 1 / Math.sqrt(2 * Math.PI));
  return mul(g, add(cdf, mul(x, pdf)));
}

function matmulGrads(a: Tensor, b: Tensor, g: Tensor, need: boolean[]): (Tensor | null)[] {
  const ga = need[0] ? unbroadcast(matmul(g, transposeLast(b)), a) : null;
  let gb: Tensor | null = null;
  if (need[1]) {
    if (b.rank === 2 && a.rank > 2) {
      // Fold the batch into rows: one [K, rows] x [rows, N] product instead of a batched one summed afterwards.
      const k = a.shape[a.rank - 1] as number;
      const n = g.shape[g.rank - 1] as number;
      gb = matmul(transposeLast(reshape(a, [-1, k])), reshape(g, [-1, n]));
    } else {
      gb = unbroadcast(matmul(transposeLast(a), g), b);
    }
  }
  return [ga, gb];
}

export const RULES: Record<string, Rule> = {
  Identity: (_n, [g]) => [g],
  Add: ({ inputs: [a, b] }, [g], need) => [need[0] ? unbroadcast(g!, a) : null, need[1] ? unbroadcast(g!, b) : null],
  Sub: ({ inputs: [a, b] }, [g], need) => [need[0] ? unbroadcast(g!, a) : null, need[1] ? unbroadcast(neg(g!), b) : null],
  Mul: ({ inputs: [a, b] }, [g], need) => [
    need[0] ? unbroadcast(mul(g!, b), a) : null,
    need[1] ? unbroadcast(mul(g!, a), b) : null,
  ],
  Div: ({ inputs: [a, b], outputs: [y] }, [g], need) => [
    need[0] ? unbroadcast(div(g!, b), a) : null,
    need[1] ? unbroadcast(neg(div(mul(g!, y), b)), b) : null,
  ],
  Neg: (_n, [g]) => [neg(g!)],
  Gelu: ({ inputs: [x], attrs }, [g]) => [attrs.approximate === 'tanh' ? geluTanhGrad(x, g!) : geluExactGrad(x, g!)],
  // torch's rule: the gradient passes where x > 0 (x = 0 gets none); the forward pass keeps only that boolean mask.
  Relu: ({ inputs: [x] }, [g]) => [where(greater(x, 0), g!, 0)],
  Erf: ({ inputs: [x] }, [g]) => [mul(g!, mul(exp(neg(mul(x, x))), 2 / Math.sqrt(Math.PI)))],
  // d/da silu(a) = s (1 + a (1 - s)), s = sigmoid(a). What comes from the forward pass is grouped into two tensors,
  // b * silu'(a) and silu(a): onnxruntime computes such g-free parts of the backward pass as soon as it can, and
  // keeps them instead of a, b and the forward pass's own sigmoid and silu.
  SwiGlu: ({ inputs: [a, b] }, [g], need) => {
    const s = sigmoid(a);
    return [
      need[0] ? unbroadcast(mul(g!, mul(b, mul(s, add(mul(a, sub(1, s)), 1)))), a) : null,
      need[1] ? unbroadcast(mul(g!, mul(a, s)), b) : null,
    ];
  },
  Exp: ({ outputs: [y] }, [g]) => [mul(g!, y)],
  Log: ({ inputs: [x] }, [g]) => [div(g!, x)],
  Sqrt: ({ outputs: [y] }, [g]) => [div(mul(g!, 0.5), y)],
  Tanh: ({ outputs: [y] }, [g]) => [mul(g!, sub(1, mul(y, y)))],
  Sigmoid: ({ outputs: [y] }, [g]) => [mul(g!, mul(y, sub(1, y)))],
  Reciprocal: ({ outputs: [y] }, [g]) => [neg(mul(g!, mul(y, y)))],
  Pow: ({ inputs: [x, e] }, [g]) => {
    const c = (e.graph.constants.get(e) as Float32Array)[0];
    return [mul(g!, mul(pow(x, c - 1), c)), null];
  },
  Cast: ({ inputs: [x] }, [g]) => [cast(g!, x.dtype)],
  Where: ({ inputs: [c, a, b] }, [g], need) => [
    null,
    need[1] ? unbroadcast(where(c, g!, 0), a) : null,
    need[2] ? unbroadcast(where(c, 0, g!), b) : null,
  ],
  MatMul: ({ inputs: [a, b] }, [g], need) => matmulGrads(a, b, g!, need),
  // x @ W^T for a weight held as fp16 (frozen: the gradient reaches x only), W cast again once g exists, so the
  // forward pass's float32 copy is not kept for the backward pass.
  MatMulTransB: ({ inputs: [, w] }, [g], need) => [need[0] ? matmul(g!, w.producer?.op === 'Cast' ? castAfter(w.producer.inputs[0], g!) : w) : null, null],
  // d(x W^T)/dx = g W and d(x W)/dx = g W^T: the other orientation of the same frozen weight, stored quantized too.
  QuantizedMatMul: ({ inputs: [, w], attrs }, [g], need) => {
    if (need[1]) throw new Error('a quantized weight is frozen: it has no gradient');
    return [need[0] ? quantizedMatMul(g!, w, attrs.trans_b !== 1) : null, null];
  },
  Transpose: ({ attrs }, [g]) => [transpose(g!, invertPerm(attrs.perm as number[]))],
  Reshape: ({ inputs: [x] }, [g]) => [reshapeTo(g!, shapeVia(x, g!), x.shape), null],
  Unsqueeze: ({ inputs: [x] }, [g]) => [reshapeTo(g!, shapeVia(x, g!), x.shape), null],
  Squeeze: ({ inputs: [x] }, [g]) => [reshapeTo(g!, shapeVia(x, g!), x.shape), null],
  Expand: ({ inputs: [x] }, [g]) => [unbroadcast(g!, x), null],
  Concat: ({ inputs, attrs }, [g]) => {
    const axis = attrs.axis as number;
    const sizes = inputs.map((x) => x.shape[axis]);
    const pieces = sizes.every((s) => typeof s === 'number')
      ? split(g!, sizes as number[], axis)
      : split(g!, { tensor: concat(inputs.map((x) => gather(shapeOf(x), int64s(x.graph, [axis]), 0)), 0), count: inputs.length }, axis);
    return pieces;
  },
  Split: ({ outputs, attrs }, grads) => [concat(outputs.map((o, i) => grads[i] ?? filledLike(o, 0)), attrs.axis as number), null],
  Gather: ({ inputs: [data, idx], attrs }, [g]) => {
    if (attrs.axis !== 0) throw new Error('Gather gradient is implemented for axis 0 only');
    // Repeated ids must accumulate, hence ScatterND with reduction 'add' into zeros.
    const zeros = filledLike(data, 0);
    const target = data.graph.node('ScatterND', [zeros, unsqueeze(idx, [idx.rank]), g!], { reduction: 'add' }, [
      { dtype: data.dtype, shape: data.shape },
    ])[0];
    return [target, null];
  },
  GatherElements: ({ inputs: [data, idx], attrs }, [g]) => {
    const zeros = filledLike(data, 0);
    const target = data.graph.node('ScatterElements', [zeros, idx, g!], { axis: attrs.axis as number, reduction: 'add' }, [
      { dtype: data.dtype, shape: data.shape },
    ])[0];
    return [target, null];
  },
  ReduceSum: (node, [g]) => [expandBack(g!, node.inputs[0], axesOf(node), node.attrs.keepdims === 1), null],
  ReduceMean: (node, [g]) => {
    const x = node.inputs[0];
    const axes = axesOf(node);
    return [div(expandBack(g!, x, axes, node.attrs.keepdims === 1), reducedCount(x, axes))];
  },
  WithGradient: ({ inputs: [, , grad] }, [g], need) => [null, need[1] ? mul(g!, grad) : null, null],
  // The Jacobian of log-sum-exp is the softmax: one fused pass over a vocabulary-sized input.
  LogSumExp: ({ inputs: [x] }, [g]) => [mul(softmax(x, -1), g!)],
  Softmax: ({ outputs: [y], attrs }, [g]) => {
    const axis = attrs.axis as number;
    return [mul(y, sub(g!, reduceSum(mul(g!, y), [axis], true)))];
  },
  LayerNormalization: ({ inputs: [x, scale, bias], outputs: [, mean, invStd] }, [g], need) => {
    const xhat = mul(sub(x, mean), invStd);
    const gh = mul(g!, scale);
    const gx = need[0]
      ? mul(invStd, sub(sub(gh, reduceMean(gh, [-1], true)), mul(xhat, reduceMean(mul(gh, xhat), [-1], true))))
      : null;
    return [gx, need[1] ? unbroadcast(mul(g!, xhat), scale) : null, need[2] ? unbroadcast(g!, bias) : null];
  },
};

/** Ops whose outputs carry no gradient (integer results, shape queries, constant shifts). */
export const NON_DIFFERENTIABLE = new Set(['QuantizedWeight', 'Shape', 'Equal', 'ReduceMax', 'ConstantOfShape', 'ReduceProd', 'Range', 'CumSum', 'Greater']);
