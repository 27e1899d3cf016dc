// Block quantization (weights/quantize.ts) and the onnxruntime kernels that read it: MatMulNBits in both orientations
// and GatherBlockQuantized give what the dequantized weights give, for 4 and 8 bits, with and without zero points,
// and with a reduction axis that is not a multiple of the block.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Graph } from '../src/graph/graph.js';
import * as op from '../src/graph/ops.js';
import { toOnnx, type StoredQuantized } from '../src/graph/onnx.js';
import { Engine } from '../src/runtime/engine.js';
import {
  allocateQuantized, dequantize, quantize, quantizeColumnsInto, quantizeRowsInto, transposed, type BlockQuantization, type QuantizedMatrix,
} from '../src/weights/quantize.js';

const engine = Engine.create({ threads: 1 });
after(() => engine.close());

let seed = 7;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
const randn = (n: number) => Float32Array.from({ length: n }, rand);

const stored = (m: QuantizedMatrix): StoredQuantized => ({
  n: m.n, k: m.k, data: { data: m.data }, scales: { data: new Uint8Array(m.scales.buffer) },
  ...(m.zeroPoints ? { zeroPoints: { data: m.zeroPoints } } : {}),
});

function matmulRef(x: Float32Array, m: number, w: Float32Array, k: number, n: number, transB: boolean): Float32Array {
  const y = new Float32Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let t = 0; t < k; t++) s += x[i * k + t] * (transB ? w[j * k + t] : w[t * n + j]);
    y[i * n + j] = s;
  }
  return y;
}

function maxRelErr(got: Float32Array, want: Float32Array): number {
  let err = 0;
  let ref = 1e-6;
  for (let i = 0; i < want.length; i++) {
    err = Math.max(err, Math.abs(got[i] - want[i]));
    ref = Math.max(ref, Math.abs(want[i]));
  }
  return err / ref;
}

const SETTINGS: BlockQuantization[] = [4, 8].flatMap((bits) =>
  [true, false].flatMap((symmetric) => [32, 64].map((blockSize) => ({ bits: bits as 4 | 8, blockSize, symmetric, accuracyLevel: 0 }))));

test('dequantize(quantize(w)) is within a step of w per block (half a step but where the range is clamped)', () => {
  for (const q of SETTINGS) {
    const [n, k] = [5, 100];
    const w = randn(n * k);
    const m = quantize(w, n, k, q);
    const back = dequantize(m);
    const kb = Math.ceil(k / q.blockSize);
    for (let r = 0; r < n; r++) for (let c = 0; c < k; c++) {
      const step = Math.abs(m.scales[r * kb + Math.floor(c / q.blockSize)]);
      assert.ok(Math.abs(back[r * k + c] - w[r * k + c]) <= step + 1e-6, `${JSON.stringify(q)} at ${r},${c}`);
    }
  }
});

test('columns quantized in pieces equal the transpose quantized whole', () => {
  const q: BlockQuantization = { bits: 4, blockSize: 32, symmetric: false, accuracyLevel: 0 };
  const [rows, cols] = [80, 6];
  const w = randn(rows * cols);
  const whole = quantize(transposed(w, rows, cols), cols, rows, q);
  const pieces = allocateQuantized(cols, rows, q);
  for (let at = 0; at < rows; at += 64) quantizeColumnsInto(pieces, at, w.subarray(at * cols, Math.min(rows, at + 64) * cols));
  assert.deepEqual(pieces.data, whole.data);
  assert.deepEqual(pieces.scales, whole.scales);
  assert.deepEqual(pieces.zeroPoints, whole.zeroPoints);
});

let caseNo = 0;
test('MatMulNBits (x W^T and x W) and GatherBlockQuantized match the dequantized weights', async () => {
  for (const q of SETTINGS) {
    const [n, k, m] = [24, 40, 3];
    const w = randn(n * k); // [n, k] as nn.Linear stores it
    const rows = allocateQuantized(n, k, q);
    quantizeRowsInto(rows, 0, w);
    const cols = allocateQuantized(k, n, q); // W^T [k, n]... quantized along n: for x [m, n] @ W
    quantizeColumnsInto(cols, 0, w);
    const g = new Graph();
    const wq = op.quantizedWeight(g, 'w', [n, k], q);
    const x = g.input('x', 'float32', [m, k]);
    const x2 = g.input('x2', 'float32', [m, n]);
    const ids = g.input('ids', 'int64', [4]);
    const outputs = { linear: op.quantizedMatMul(x, wq, true), conv: op.quantizedMatMul(x2, wq, false), rows: op.gather(wq, ids, 0) };
    const key = `q${caseNo++}`;
    await engine.load(key, () => toOnnx(g, outputs, { quantized: (_name, layout) => stored(layout === 'rows' ? rows : cols) }));
    const xs = randn(m * k);
    const x2s = randn(m * n);
    const pick = [3, 0, 23, 3];
    const out = await engine.run(key, {
      x: { dtype: 'float32', dims: [m, k], data: xs },
      x2: { dtype: 'float32', dims: [m, n], data: x2s },
      ids: { dtype: 'int64', dims: [4], data: BigInt64Array.from(pick, BigInt) },
    }, Object.keys(outputs));
    const deqRows = dequantize(rows); // [n, k]
    const deqCols = transposed(dequantize(cols), k, n); // back to [n, k]
    const label = JSON.stringify(q);
    assert.ok(maxRelErr(out.linear.data as Float32Array, matmulRef(xs, m, deqRows, k, n, true)) < 1e-5, `x W^T ${label}`);
    assert.ok(maxRelErr(out.conv.data as Float32Array, matmulRef(x2s, m, deqCols, n, k, false)) < 1e-5, `x W ${label}`);
    assert.deepEqual(out.rows.dims, [4, k]);
    const want = Float32Array.from(pick.flatMap((r) => [...deqRows.subarray(r * k, (r + 1) * k)]));
    assert.ok(maxRelErr(out.rows.data as Float32Array, want) < 1e-6, `gather ${label}`);
  }
});
