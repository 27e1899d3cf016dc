/**
 * The ops models and gradient rules are written with. Each is one ONNX node (opset 20) plus shape inference, so a
 * graph reads like the math and exports one-to-one. Numbers passed where a tensor is expected become scalar constants
 * of the other operand's dtype.
 */
import { type Dim, type DType, Graph, Tensor } from './graph.js';
import { elementCount } from '../shape.js';

type Operand = Tensor | number;

function graphOf(...xs: Operand[]): Graph {
  for (const x of xs) if (x instanceof Tensor) return x.graph;
  throw new Error('an op needs at least one tensor operand');
}

function lift(g: Graph, x: Operand, dtype: DType): Tensor {
  if (x instanceof Tensor) return x;
  if (dtype === 'int64') return g.constant(BigInt64Array.of(BigInt(x)), []);
  return g.constant(Float32Array.of(x), []);
}

function dtypeOf(...xs: Operand[]): DType {
  for (const x of xs) if (x instanceof Tensor) return x.dtype;
  return 'float32';
}

/** Numpy broadcasting of two shapes; a symbol meets a number as that number (the symbol is assumed to equal it). */
export function broadcastShapes(a: Dim[], b: Dim[]): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x === 1) out.push(y);
    else if (y === 1 || x === y) out.push(x);
    else if (typeof x === 'number' && typeof y === 'number') throw new Error(`cannot broadcast [${a}] with [${b}]`);
    else out.push(typeof x === 'number' ? x : y);
  }
  return out;
}

function binary(op: string, a: Operand, b: Operand, outDtype?: DType): Tensor {
  const g = graphOf(a, b);
  const dt = dtypeOf(a, b);
  const ta = lift(g, a, dt);
  const tb = lift(g, b, dt);
  return g.node(op, [ta, tb], {}, [{ dtype: outDtype ?? dt, shape: broadcastShapes(ta.shape, tb.shape) }])[0];
}

function unary(op: string, x: Tensor, attrs: Record<string, number> = {}): Tensor {
  return x.graph.node(op, [x], attrs, [{ dtype: x.dtype, shape: x.shape }])[0];
}

export const add = (a: Operand, b: Operand) => binary('Add', a, b);
export const sub = (a: Operand, b: Operand) => binary('Sub', a, b);
export const mul = (a: Operand, b: Operand) => binary('Mul', a, b);
export const div = (a: Operand, b: Operand) => binary('Div', a, b);
export const equal = (a: Operand, b: Operand) => binary('Equal', a, b, 'bool');
export const greater = (a: Operand, b: Operand) => binary('Greater', a, b, 'bool');
export const neg = (x: Tensor) => unary('Neg', x);
export const exp = (x: Tensor) => unary('Exp', x);
export const log = (x: Tensor) => unary('Log', x);
export const sqrt = (x: Tensor) => unary('Sqrt', x);
export const tanh = (x: Tensor) => unary('Tanh', x);
export const sigmoid = (x: Tensor) => unary('Sigmoid', x);
export const reciprocal = (x: Tensor) => unary('Reciprocal', x);
export const identity = (x: Tensor) => unary('Identity', x);
export const erf = (x: Tensor) => unary('Erf', x);
/** max(x, 0) (the P-tuning encoders' activation). */
export const relu = (x: Tensor) => unary('Relu', x);

/**
 * log(sum(exp(x))) over the last axis, kept as a size-1 axis. Not an ONNX op: export expands it (onnx.ts) into
 * LogSoftmax, whose kernel is vectorised, where ReduceLogSumExp's is ~7x slower on vocabulary-sized rows.
 */
export function logSumExp(x: Tensor): Tensor {
  return x.graph.node('LogSumExp', [x], {}, [{ dtype: x.dtype, shape: [...x.shape.slice(0, -1), 1] }])[0];
}

/**
 * `value` (one entry per row of `x`: x's shape with the last axis kept as 1) whose gradient w.r.t. `x` is given rather
 * than derived: row i of `grad` is d value[i] / d x[i, :], already computed in the forward pass. Exported as Identity of
 * `value`; autodiff sends `g * grad` to `x` and nothing through the ops that computed `value` or `grad`.
 */
export function withGradient(value: Tensor, x: Tensor, grad: Tensor): Tensor {
  return value.graph.node('WithGradient', [value, x, grad], {}, [{ dtype: value.dtype, shape: value.shape }])[0];
}

/**
 * silu(gate) * up, the gated MLP activation of Llama-family models, as one op: its gradient rule (vjp.ts) keeps two
 * tensors from the forward pass instead of gate, up, sigmoid(gate) and silu(gate).
 * Not an ONNX op: export expands it (onnx.ts) into Sigmoid, Mul, Mul.
 */
export function swiGlu(gate: Tensor, up: Tensor): Tensor {
  return gate.graph.node('SwiGlu', [gate, up], {}, [{ dtype: gate.dtype, shape: broadcastShapes(gate.shape, up.shape) }])[0];
}

/** GELU with the tanh approximation as one fused op: the backward rule then keeps only x, not five temporaries. */
export function geluTanh(x: Tensor): Tensor {
  return x.graph.node('Gelu', [x], { approximate: 'tanh' }, [{ dtype: x.dtype, shape: x.shape }])[0];
}

/** Exact GELU, x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)), as ONNX Gelu (approximate 'none'): one node, a rule that keeps x. */
export function gelu(x: Tensor): Tensor {
  return x.graph.node('Gelu', [x], {}, [{ dtype: x.dtype, shape: x.shape }])[0];
}

/** x ** exponent for a constant exponent (the only case the models need, and the only one with a simple rule). */
export function pow(x: Tensor, exponent: number): Tensor {
  return x.graph.node('Pow', [x, lift(x.graph, exponent, 'float32')], {}, [{ dtype: x.dtype, shape: x.shape }])[0];
}

/**
 * The float16 graph input a float32 tensor is a Cast of (a frozen weight held as fp16, see models/graphs.ts
 * modelInputs), or null.
 */
export function halfSource(t: Tensor): Tensor | null {
  const p = t.producer;
  if (!p || p.op !== 'Cast' || t.dtype !== 'float32') return null;
  const src = p.inputs[0];
  return src.dtype === 'float16' && src.producer === null ? src : null;
}

/**
 * x @ W^T for W [N, K] without a Transpose node: com.microsoft FusedMatMul with transB. For weights held as fp16, whose
 * Cast onnxruntime's optimizer would otherwise swap with the Transpose (a transposed copy made every run).
 */
export function matmulTransB(x: Tensor, w: Tensor): Tensor {
  const shape = [...x.shape.slice(0, -1), w.shape[0]];
  return x.graph.node('MatMulTransB', [x, w], {}, [{ dtype: x.dtype, shape }])[0];
}

/**
 * A float16 weight cast to float32 once `after` has been computed. onnxruntime schedules a node as soon as its inputs
 * exist, so a plain Cast of a graph input runs first, and every weight's float32 copy was alive at once (+0.86 GB on
 * bloomz-560m). Here the Cast reads the weight through a Reshape (an alias, no copy) whose target shape is computed
 * from `after`'s shape (times 0), which ties it to the activation that is about to use it.
 */
export function castAfter(w: Tensor, after: Tensor): Tensor {
  const g = w.graph;
  const dims = w.shape as number[];
  const zero = mul(x0(shapeOf(after)), g.constant(BigInt64Array.of(0n), [1]));
  const target = add(g.constant(BigInt64Array.from(dims, BigInt), [dims.length]), zero);
  const tied = g.node('Reshape', [w, target], {}, [{ dtype: w.dtype, shape: dims }])[0];
  return cast(tied, 'float32');
}

/** The first element of a 1-D tensor, as [1]. */
function x0(t: Tensor): Tensor {
  const g = t.graph;
  const c = (v: number) => g.constant(BigInt64Array.of(BigInt(v)), [1]);
  return g.node('Slice', [t, c(0), c(1)], {}, [{ dtype: t.dtype, shape: [1] }])[0];
}

/**
 * A weight held as fp16 read as float32 after `after` (castAfter), or the weight itself: `w` is its float16 graph input
 * or a row view of it, or a float32 weight.
 */
export function readWeight(w: Tensor, after: Tensor): Tensor {
  if (w.dtype === 'float16') return castAfter(w, after);
  const half = halfSource(w);
  return half ? castAfter(half, after) : w;
}

export function cast(x: Tensor, to: DType): Tensor {
  return x.graph.node('Cast', [x], { to: ONNX_DTYPE[to] }, [{ dtype: to, shape: x.shape }])[0];
}

export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  const g = cond.graph;
  const dt = dtypeOf(a, b);
  const ta = lift(g, a, dt);
  const tb = lift(g, b, dt);
  const shape = broadcastShapes(cond.shape, broadcastShapes(ta.shape, tb.shape));
  return g.node('Where', [cond, ta, tb], {}, [{ dtype: dt, shape }])[0];
}

export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.rank < 2 || b.rank < 2) throw new Error('matmul needs rank >= 2 operands');
  const batch = broadcastShapes(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const shape = [...batch, a.shape[a.rank - 2], b.shape[b.rank - 1]];
  return a.graph.node('MatMul', [a, b], {}, [{ dtype: a.dtype, shape }])[0];
}

export function transpose(x: Tensor, perm: number[]): Tensor {
  return x.graph.node('Transpose', [x], { perm }, [{ dtype: x.dtype, shape: perm.map((p) => x.shape[p]) }])[0];
}

/** Swaps the last two axes. */
export function transposeLast(x: Tensor): Tensor {
  const perm = x.shape.map((_, i) => i);
  [perm[x.rank - 2], perm[x.rank - 1]] = [perm[x.rank - 1], perm[x.rank - 2]];
  return transpose(x, perm);
}

export function int64s(g: Graph, values: number[]): Tensor {
  return g.constant(BigInt64Array.from(values, (v) => BigInt(v)), [values.length]);
}

/** Reshape with ONNX semantics for the target: 0 copies the input dim at that position, -1 is inferred. */
export function reshape(x: Tensor, dims: number[]): Tensor {
  const known = x.shape.every((d) => typeof d === 'number');
  const shape: Dim[] = dims.map((d, i) => (d === 0 ? x.shape[i] : d));
  const inferred = shape.indexOf(-1);
  if (inferred >= 0) {
    const rest = shape.filter((_, i) => i !== inferred) as Dim[];
    shape[inferred] =
      known && rest.every((d) => typeof d === 'number')
        ? elementCount(x.shape as number[]) / elementCount(rest as number[])
        : '?';
  }
  return x.graph.node('Reshape', [x, int64s(x.graph, dims)], {}, [{ dtype: x.dtype, shape }])[0];
}

/** Reshape to a runtime shape tensor; `shape` is what is known statically about the result. */
export function reshapeTo(x: Tensor, target: Tensor, shape: Dim[]): Tensor {
  return x.graph.node('Reshape', [x, target], {}, [{ dtype: x.dtype, shape }])[0];
}

export function shapeOf(x: Tensor): Tensor {
  return x.graph.node('Shape', [x], {}, [{ dtype: 'int64', shape: [x.rank] }])[0];
}

/** A 1-D int64 shape tensor from static numbers and dims read off tensors at run time. */
export function shapeTensor(g: Graph, parts: Array<number | { of: Tensor; axis: number }>): Tensor {
  if (parts.every((p) => typeof p === 'number')) return int64s(g, parts as number[]);
  const pieces = parts.map((p) => (typeof p === 'number' ? int64s(g, [p]) : gather(shapeOf(p.of), int64s(g, [p.axis]), 0)));
  return concat(pieces, 0);
}

export function expand(x: Tensor, target: Tensor, shape: Dim[]): Tensor {
  return x.graph.node('Expand', [x, target], {}, [{ dtype: x.dtype, shape }])[0];
}

export function unsqueeze(x: Tensor, axes: number[]): Tensor {
  const shape = [...x.shape];
  for (const a of [...axes].sort((p, q) => p - q)) shape.splice(a, 0, 1);
  return x.graph.node('Unsqueeze', [x, int64s(x.graph, axes)], {}, [{ dtype: x.dtype, shape }])[0];
}

export function concat(xs: Tensor[], axis: number): Tensor {
  const rank = xs[0].rank;
  const ax = axis < 0 ? axis + rank : axis;
  const sizes = xs.map((x) => x.shape[ax]);
  const total: Dim = sizes.every((s) => typeof s === 'number') ? (sizes as number[]).reduce((a, b) => a + b, 0) : '?';
  const shape = xs[0].shape.map((d, i) => (i === ax ? total : d));
  return xs[0].graph.node('Concat', xs, { axis: ax }, [{ dtype: xs[0].dtype, shape }])[0];
}

/** Split along `axis` into pieces of the given sizes: numbers, or a runtime 1-D int64 tensor with `count` entries. */
export function split(x: Tensor, sizes: number[] | { tensor: Tensor; count: number }, axis: number): Tensor[] {
  const ax = axis < 0 ? axis + x.rank : axis;
  const g = x.graph;
  const sizeTensor = Array.isArray(sizes) ? int64s(g, sizes) : sizes.tensor;
  const dims: Dim[] = Array.isArray(sizes) ? sizes : new Array(sizes.count).fill('?');
  return g.node(
    'Split',
    [x, sizeTensor],
    { axis: ax },
    dims.map((d) => ({ dtype: x.dtype, shape: x.shape.map((s, i) => (i === ax ? d : s)) })),
  );
}

export function gather(data: Tensor, indices: Tensor, axis: number): Tensor {
  // Rows of a weight held as float16 are gathered before the cast, so only the rows read are converted.
  const half = halfSource(data);
  if (half && axis === 0) return cast(gather(half, indices, 0), 'float32');
  const shape = [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)];
  return data.graph.node('Gather', [data, indices], { axis }, [{ dtype: data.dtype, shape }])[0];
}

export function gatherElements(data: Tensor, indices: Tensor, axis: number): Tensor {
  return data.graph.node('GatherElements', [data, indices], { axis }, [{ dtype: data.dtype, shape: indices.shape }])[0];
}

export function softmax(x: Tensor, axis = -1): Tensor {
  return unary('Softmax', x, { axis: axis < 0 ? axis + x.rank : axis });
}

/** LayerNormalization over the last axis; also yields mean and 1/std (kept for the gradient rule). */
export function layerNorm(x: Tensor, scale: Tensor, bias: Tensor, epsilon: number): Tensor {
  const stat = [...x.shape.slice(0, -1), 1];
  return x.graph.node('LayerNormalization', [x, scale, bias], { axis: -1, epsilon }, [
    { dtype: x.dtype, shape: x.shape },
    { dtype: 'float32', shape: stat },
    { dtype: 'float32', shape: stat },
  ])[0];
}

function reducedShape(x: Tensor, axes: number[], keepdims: boolean): Dim[] {
  const norm = axes.map((a) => (a < 0 ? a + x.rank : a));
  return x.shape.flatMap((d, i) => (norm.includes(i) ? (keepdims ? [1] : []) : [d]));
}

function normAxes(x: Tensor, axes: number[]): number[] {
  return axes.map((a) => (a < 0 ? a + x.rank : a));
}

function reduce(op: string, x: Tensor, axes: number[], keepdims: boolean): Tensor {
  const ax = normAxes(x, axes);
  const shape = reducedShape(x, ax, keepdims);
  return x.graph.node(op, [x, int64s(x.graph, ax)], { keepdims: keepdims ? 1 : 0 }, [{ dtype: x.dtype, shape }])[0];
}

export const reduceSum = (x: Tensor, axes: number[], keepdims = true) => reduce('ReduceSum', x, axes, keepdims);
export const reduceMean = (x: Tensor, axes: number[], keepdims = true) => reduce('ReduceMean', x, axes, keepdims);
/** Not differentiable: used only where its value is a constant shift. */
export const reduceMax = (x: Tensor, axes: number[], keepdims = true) => reduce('ReduceMax', x, axes, keepdims);

/** A float tensor of `value` with the shape of `like`, built at run time. */
export function filledLike(like: Tensor, value: number): Tensor {
  const g = like.graph;
  return g.node('ConstantOfShape', [shapeOf(like)], { value: { tensor: value } }, [{ dtype: 'float32', shape: like.shape }])[0];
}

export const ONNX_DTYPE: Record<DType, number> = { float32: 1, int32: 6, int64: 7, bool: 9, float16: 10 };

/** How a frozen weight is stored block-quantized (weights/quantize.ts describes the layout). */
export interface QuantizedStorage {
  bits: 4 | 8;
  blockSize: number;
  symmetric: boolean;
  accuracyLevel: number;
}

/**
 * A frozen weight [rows, cols] stored block-quantized under `name`: a float value in the graph, read only by ops that
 * have a quantized kernel (quantizedMatMul, and Gather along axis 0, which export maps to GatherBlockQuantized).
 * Not an ONNX op: nothing exports it; its readers name the stored tensors instead (onnx.ts).
 */
export function quantizedWeight(g: Graph, name: string, shape: number[], q: QuantizedStorage): Tensor {
  const attrs = { name, bits: q.bits, block_size: q.blockSize, symmetric: q.symmetric ? 1 : 0, accuracy_level: q.accuracyLevel };
  return g.node('QuantizedWeight', [], attrs, [{ dtype: 'float32', shape }])[0];
}

export const isQuantizedWeight = (t: Tensor): boolean => t.producer?.op === 'QuantizedWeight';

/**
 * x @ W^T (`transB`, W [N, K] as nn.Linear stores it) or x @ W (W [K, N], GPT-2's Conv1D) for a quantizedWeight W:
 * com.microsoft MatMulNBits over W quantized along K. The two orientations are stored separately ('rows' and 'cols'
 * in onnx.ts), and each one's gradient w.r.t. x is the other.
 */
export function quantizedMatMul(x: Tensor, w: Tensor, transB: boolean): Tensor {
  if (!isQuantizedWeight(w)) throw new Error('quantizedMatMul needs a quantizedWeight');
  const n = w.shape[transB ? 0 : 1];
  return x.graph.node('QuantizedMatMul', [x, w], { trans_b: transB ? 1 : 0 }, [{ dtype: 'float32', shape: [...x.shape.slice(0, -1), n] }])[0];
}
