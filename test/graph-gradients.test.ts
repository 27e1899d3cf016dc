// Every gradient rule against central finite differences of the forward graph, run in onnxruntime.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph, type Tensor } from '../src/graph/graph.js';
import * as op from '../src/graph/ops.js';
import { gradients } from '../src/graph/autodiff.js';
import { toOnnx, type ExportOptions } from '../src/graph/onnx.js';
import { allocateQuantized, quantizeColumnsInto, quantizeRowsInto, type QuantizedMatrix } from '../src/weights/quantize.js';
import { Engine, type TensorData } from '../src/runtime/engine.js';
import onnxProto from 'onnx-proto';
import { elementCount } from '../src/shape.js';
import { encoderOf, lstmLayer } from '../src/peft/encoders.js';
import { promptEncoderConfig } from '../src/peft/methods.js';
import type { ModelConfig } from '../src/models/config.js';

/** The sizes the encoders read from a model config. */
const TINY = { arch: 'llama', hiddenSize: 4, numHeads: 2, numLayers: 1, numKvHeads: 2, headDim: 2 } as ModelConfig;

const { onnx } = onnxProto;

const engine = Engine.create({ threads: 1 });
after(() => engine.close());

let seed = 12345;
function rand(): number {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
}
function randn(n: number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * rand());
}

interface Spec { name: string; shape: number[]; lo?: number; hi?: number; int?: number[] }
let caseNo = 0;

/** Builds f(inputs), reduces it to a scalar with fixed random weights, and compares autodiff with finite differences. */
async function checkGrad(
  specs: Spec[],
  f: (xs: Tensor[]) => Tensor,
  wrtNames = specs.filter((s) => !s.int).map((s) => s.name),
  exportOptions: ExportOptions = {},
) {
  const g = new Graph();
  const xs = specs.map((s) => g.input(s.name, s.int ? 'int64' : 'float32', s.shape));
  const y = f(xs);
  const w = g.constant(randn(elementCount(y.shape as number[])), y.shape as number[]);
  const loss = op.reduceSum(op.mul(y, w), y.shape.map((_, i) => i), false);
  const wrt = xs.filter((x) => wrtNames.includes(x.name));
  const grads = gradients(loss, wrt);
  const outputs: Record<string, Tensor> = { loss };
  wrt.forEach((x, i) => (outputs[`grad_${x.name}`] = grads[i]));
  const key = `case${caseNo++}`;
  await engine.load(key, () => toOnnx(g, outputs, exportOptions));
  const lossKey = `${key}_loss`;
  await engine.load(lossKey, () => toOnnx(g, { loss }, exportOptions));

  const feeds: Record<string, TensorData> = {};
  for (const s of specs) {
    const n = elementCount(s.shape);
    feeds[s.name] = s.int
      ? { dtype: 'int64', dims: s.shape, data: BigInt64Array.from(s.int, BigInt) }
      : { dtype: 'float32', dims: s.shape, data: randn(n, s.lo, s.hi) };
  }
  const out = await engine.run(key, feeds, Object.keys(outputs));
  const lossAt = async () => ((await engine.run(lossKey, feeds, ['loss'])).loss.data as Float32Array)[0];
  for (const x of wrt) {
    const data = feeds[x.name].data as Float32Array;
    const got = out[`grad_${x.name}`].data as Float32Array;
    assert.deepEqual(out[`grad_${x.name}`].dims, feeds[x.name].dims, `grad shape of ${x.name}`);
    const eps = 1e-2;
    let maxErr = 0;
    let maxRef = 1e-3;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      data[i] = v + eps;
      const up = await lossAt();
      data[i] = v - eps;
      const down = await lossAt();
      data[i] = v;
      const fd = (up - down) / (2 * eps);
      maxErr = Math.max(maxErr, Math.abs(fd - got[i]));
      maxRef = Math.max(maxRef, Math.abs(fd));
    }
    assert.ok(maxErr / maxRef < 2e-2, `${x.name}: max |autodiff - fd| = ${maxErr} vs max |fd| = ${maxRef}`);
  }
}

const A = { name: 'a', shape: [2, 3] };
const B = { name: 'b', shape: [2, 3] };

test('Add, Sub, Mul, Div gradients, with broadcasting', async () => {
  await checkGrad([A, { name: 'b', shape: [3] }], ([a, b]) => op.add(a, b));
  await checkGrad([A, { name: 'b', shape: [2, 1] }], ([a, b]) => op.sub(a, b));
  await checkGrad([{ name: 'a', shape: [1, 3] }, { name: 'b', shape: [2, 1, 1] }], ([a, b]) => op.mul(a, b));
  await checkGrad([A, { ...B, lo: 0.5, hi: 2 }], ([a, b]) => op.div(a, b));
});

test('unary gradients: Neg, Exp, Log, Sqrt, Tanh, Sigmoid, Gelu, Reciprocal, Pow, Identity, Cast', async () => {
  await checkGrad([A], ([a]) => op.neg(a));
  await checkGrad([A], ([a]) => op.exp(a));
  await checkGrad([{ ...A, lo: 0.5, hi: 2 }], ([a]) => op.log(a));
  await checkGrad([{ ...A, lo: 0.5, hi: 2 }], ([a]) => op.sqrt(a));
  await checkGrad([A], ([a]) => op.tanh(a));
  await checkGrad([A], ([a]) => op.sigmoid(a));
  await checkGrad([{ ...A, lo: -3, hi: 3 }], ([a]) => op.geluTanh(a));
  await checkGrad([{ ...A, lo: 0.5, hi: 2 }], ([a]) => op.reciprocal(a));
  await checkGrad([{ ...A, lo: 0.5, hi: 2 }], ([a]) => op.pow(a, 3));
  await checkGrad([A], ([a]) => op.identity(a));
  await checkGrad([A], ([a]) => op.cast(op.cast(a, 'float32'), 'float32'));
});

test('exact GELU, Erf and Relu gradients', async () => {
  await checkGrad([{ ...A, lo: -3, hi: 3 }], ([a]) => op.gelu(a));
  await checkGrad([{ ...A, lo: -2, hi: 2 }], ([a]) => op.erf(a));
  // Relu's inputs stay farther from its kink at 0 than the finite-difference step: half positive, half negative.
  const signs = (a: Tensor) => a.graph.constant(Float32Array.of(1, -1, 1, -1, -1, 1), [2, 3]);
  await checkGrad([{ ...A, lo: 0.1, hi: 1 }], ([a]) => op.relu(op.mul(a, signs(a))));
});

test('MatMul gradients: batched, broadcast batch, and a 2-D weight under a 3-D input', async () => {
  await checkGrad([{ name: 'a', shape: [2, 3, 4] }, { name: 'b', shape: [2, 4, 2] }], ([a, b]) => op.matmul(a, b));
  await checkGrad([{ name: 'a', shape: [2, 2, 3, 4] }, { name: 'b', shape: [2, 1, 4, 2] }], ([a, b]) => op.matmul(a, b));
  await checkGrad([{ name: 'a', shape: [2, 3, 4] }, { name: 'b', shape: [4, 5] }], ([a, b]) => op.matmul(a, b));
});

test('layout gradients: Transpose, Reshape, Unsqueeze, Expand, Concat, Split', async () => {
  await checkGrad([{ name: 'a', shape: [2, 3, 4] }], ([a]) => op.transpose(a, [2, 0, 1]));
  await checkGrad([{ name: 'a', shape: [2, 3, 4] }], ([a]) => op.reshape(a, [0, -1]));
  await checkGrad([A], ([a]) => op.unsqueeze(a, [0, 2]));
  await checkGrad([{ name: 'a', shape: [1, 3] }], ([a]) => op.expand(a, op.int64s(a.graph, [4, 3]), [4, 3]));
  await checkGrad([A, { name: 'b', shape: [2, 2] }], ([a, b]) => op.concat([a, b], 1));
  await checkGrad([{ name: 'a', shape: [2, 5] }], ([a]) => {
    const [p, q] = op.split(a, [2, 3], 1);
    return op.concat([op.mul(q, 2), op.exp(p)], 1);
  });
  // Only one piece used: the other piece's gradient is zeros.
  await checkGrad([{ name: 'a', shape: [2, 5] }], ([a]) => op.split(a, [2, 3], 1)[1]);
});

test('Concat and Expand gradients with symbolic dims resolved at run time', async () => {
  const shapeOfRow = (a: Tensor) => op.shapeTensor(a.graph, [{ of: a, axis: 0 }, 2, 3]);
  await checkGrad([{ name: 'p', shape: [2, 3] }, { name: 'x', shape: [4, 5, 3] }], ([p, x]) => {
    const sym = op.reshapeTo(x, op.shapeOf(x), ['batch', 'seq', 3]);
    const prompt = op.expand(op.unsqueeze(p, [0]), shapeOfRow(sym), ['batch', 2, 3]);
    // The weights of the scalar reduction need a static shape.
    return op.reshape(op.concat([prompt, sym], 1), [4, 7, 3]);
  });
});

test('reduction gradients: ReduceSum, ReduceMean (kept and dropped dims), LogSumExp, Softmax', async () => {
  await checkGrad([{ name: 'a', shape: [2, 3, 4] }], ([a]) => op.reduceSum(a, [1], false));
  await checkGrad([{ name: 'a', shape: [2, 3, 4] }], ([a]) => op.reduceSum(a, [0, 2], true));
  await checkGrad([{ name: 'a', shape: [2, 3, 4] }], ([a]) => op.reduceMean(a, [-1], true));
  await checkGrad([{ name: 'a', shape: [2, 3, 4] }], ([a]) => op.reduceMean(a, [1], false));
  await checkGrad([{ name: 'a', shape: [2, 3, 4] }], ([a]) => op.logSumExp(a));
  await checkGrad([{ name: 'a', shape: [2, 3, 4] }], ([a]) => op.softmax(a, -1));
  await checkGrad([{ name: 'a', shape: [2, 3, 4] }], ([a]) => op.softmax(a, 1));
});

test('ReduceMean gradient when the reduced dim is symbolic', async () => {
  await checkGrad([{ name: 'a', shape: [2, 3, 4] }], ([a]) => op.reduceMean(op.reshapeTo(a, op.shapeOf(a), [2, 'n', 4]), [1], false));
});

test('LayerNormalization gradient w.r.t. input, scale and bias', async () => {
  await checkGrad([{ name: 'x', shape: [2, 3, 6] }, { name: 's', shape: [6] }, { name: 'b', shape: [6] }], ([x, s, b]) =>
    op.layerNorm(x, s, b, 1e-5),
  );
});

test('Where, Gather (repeated ids accumulate) and GatherElements gradients', async () => {
  await checkGrad([A, B, { name: 'm', shape: [2, 3], int: [1, 0, 1, 0, 0, 1] }], ([a, b, m]) => op.where(op.equal(m, 1), a, b));
  await checkGrad([{ name: 'e', shape: [5, 3] }, { name: 'ids', shape: [2, 3], int: [1, 4, 1, 0, 1, 4] }], ([e, ids]) => op.gather(e, ids, 0));
  await checkGrad([{ name: 'x', shape: [2, 3, 5] }, { name: 't', shape: [2, 3, 1], int: [0, 4, 2, 2, 1, 3] }], ([x, t]) =>
    op.gatherElements(x, t, 2),
  );
});

test('gradients flow through a value used twice (accumulation)', async () => {
  await checkGrad([A], ([a]) => op.mul(op.tanh(a), op.exp(a)));
});

test('export keeps only the nodes the outputs need', async () => {
  const g = new Graph();
  const x = g.input('x', 'float32', [2]);
  const unused = g.input('unused', 'float32', [2]);
  const y = op.exp(x);
  op.tanh(op.add(x, unused)); // dead
  const bytes = toOnnx(g, { y });
  const info = await engine.load('dead', () => bytes);
  assert.deepEqual(info.inputs, ['x']);
  const text = new TextDecoder().decode(bytes);
  assert.ok(!text.includes('Tanh'), 'a dead Tanh node was exported');
});

test('gradients emit no rules for branches that do not reach the differentiated input', async () => {
  const g = new Graph();
  const p = g.input('p', 'float32', [2]);
  const w = g.input('w', 'float32', [2]);
  const loss = op.reduceSum(op.mul(op.tanh(w), op.exp(p)), [0], false);
  const before = g.nodes.length;
  gradients(loss, [p]);
  const added = g.nodes.slice(before).map((n) => n.op);
  // d/dp of sum(tanh(w) * exp(p)) needs Mul rules and Exp's rule, never Tanh's (1 - y^2 would add a Sub).
  assert.ok(!added.includes('Sub'), `unexpected ops: ${added.join(',')}`);
});

test('WithGradient sends the given gradient to x, beside x\'s ordinary uses, and nothing through the value\'s ops', async () => {
  // log-sum-exp as max - log(max softmax): ReduceMax has no gradient rule, so only the given softmax can be right.
  const lse = (a: Tensor) => op.sub(op.reduceMax(a, [-1]), op.log(op.reduceMax(op.softmax(a, -1), [-1])));
  await checkGrad([{ name: 'a', shape: [3, 5] }], ([a]) => op.withGradient(lse(a), a, op.softmax(a, -1)));
  await checkGrad([{ name: 'a', shape: [3, 5] }], ([a]) => op.add(op.withGradient(lse(a), a, op.softmax(a, -1)), op.reduceSum(op.mul(a, a), [-1])));
});

test('a graph that outputs only a WithGradient value exports without the ops computing its gradient', () => {
  const g = new Graph();
  const a = g.input('a', 'float32', [3, 5]);
  const y = op.withGradient(op.reduceMax(a, [-1]), a, op.softmax(a, -1));
  const ops = onnx.ModelProto.decode(toOnnx(g, { y })).graph!.node!.map((n) => n.opType);
  assert.deepEqual(ops, ['ReduceMax', 'Identity', 'Identity']);
});

test('SwiGlu gradient w.r.t. gate and up, with broadcasting', async () => {
  await checkGrad([A, B], ([a, b]) => op.swiGlu(a, b));
  await checkGrad([A, { name: 'b', shape: [3] }], ([a, b]) => op.swiGlu(a, b));
});

test("P-tuning's encoders: the unrolled LSTM (both directions) and the MLP head, end to end", async () => {
  const e = 3;
  const lstm = (dir: string, input: number) => [
    { name: `wih${dir}`, shape: [4 * e, input] }, { name: `whh${dir}`, shape: [4 * e, e] },
    { name: `bih${dir}`, shape: [4 * e] }, { name: `bhh${dir}`, shape: [4 * e] },
  ];
  const x = { name: 'x', shape: [4, 5] };
  await checkGrad([x, ...lstm('', 5)], ([x, wih, whh, bih, bhh]) => lstmLayer(x, wih, whh, bih, bhh, false));
  await checkGrad([x, ...lstm('', 5)], ([x, wih, whh, bih, bhh]) => lstmLayer(x, wih, whh, bih, bhh, true));
  // Every parameter of a two-layer bidirectional encoder, through the layers' concatenation and the ReLU head.
  const enc = encoderOf(promptEncoderConfig({ num_virtual_tokens: 3, encoder_reparameterization_type: 'LSTM', encoder_hidden_size: 2 }, TINY), false);
  await checkGrad(enc.params.map((p, i) => ({ name: `p${i}`, shape: p.shape, lo: -0.8, hi: 0.8 })), (ps) => enc.build!(ps));
  const mlp = encoderOf(promptEncoderConfig({ num_virtual_tokens: 3, encoder_hidden_size: 3 }, TINY), false);
  await checkGrad(mlp.params.map((p, i) => ({ name: `p${i}`, shape: p.shape })), (ps) => mlp.build!(ps));
});

/** A weight [rows, cols] of multiples of `step` whose blocks (32 along either axis) each hold -2^(bits-1) steps: exact at `bits` both ways. */
function exactlyQuantizable(rows: number, cols: number, bits: 4 | 8, step: number): Float32Array {
  const top = (1 << (bits - 1)) - 1;
  const w = Float32Array.from({ length: rows * cols }, () => Math.round((rand() * 2 - 1) * top) * step);
  for (let i = 0; i < Math.max(rows, cols); i++) w[(i % rows) * cols + (i % cols)] = -(top + 1) * step;
  return w;
}

const stored = (m: QuantizedMatrix) => ({
  n: m.n, k: m.k, data: { data: m.data }, scales: { data: new Uint8Array(m.scales.buffer) },
  ...(m.zeroPoints ? { zeroPoints: { data: m.zeroPoints } } : {}),
});

test('QuantizedMatMul gradient (x W^T and x W) against finite differences of its own dequantized weights', async () => {
  for (const bits of [4, 8] as const) {
    // 64 x 32: one block per column, two per row.
    const [rows, cols] = [64, 32];
    const w = exactlyQuantizable(rows, cols, bits, 0.05);
    const q = { bits, blockSize: 32, symmetric: true, accuracyLevel: 0 };
    const byRows = allocateQuantized(rows, cols, q);
    quantizeRowsInto(byRows, 0, w);
    const byCols = allocateQuantized(cols, rows, q);
    quantizeColumnsInto(byCols, 0, w);
    const options: ExportOptions = { quantized: (_name, layout) => stored(layout === 'rows' ? byRows : byCols) };
    // linear: x [2, 3, 32] @ W^T -> [2, 3, 64]; conv1d-style: x [2, 64] @ W -> [2, 32].
    await checkGrad([{ name: 'x', shape: [2, 3, cols] }], ([x]) => op.quantizedMatMul(x, op.quantizedWeight(x.graph, 'w', [rows, cols], q), true), ['x'], options);
    await checkGrad([{ name: 'x', shape: [2, rows] }], ([x]) => op.quantizedMatMul(x, op.quantizedWeight(x.graph, 'w', [rows, cols], q), false), ['x'], options);
  }
});
