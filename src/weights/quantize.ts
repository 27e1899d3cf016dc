/**
 * Block-wise weight quantization in onnxruntime's MatMulNBits layout. A matrix [N, K] is quantized along K (the
 * reduction axis of y = x W^T) in blocks of `blockSize` values, each block with its own float scale and, unless
 * symmetric, its own zero point:  w = scale * (q - zero_point).
 *
 * - data: uint8 [N, ceil(K / blockSize), blockSize * bits / 8]; with 4 bits two values per byte, the even element in
 *   the low nibble. The last block of a row is padded with zeros.
 * - scales: float32 [N * ceil(K / blockSize)].
 * - zeroPoints (asymmetric only): uint8 [N * ceil(ceil(K / blockSize) * bits / 8)], packed like the data.
 *   Symmetric blocks store none: MatMulNBits then assumes 2^(bits-1) (8 or 128).
 *
 * Symmetric scales follow llama.cpp's q4_0: the block's value of largest magnitude maps to the code -2^(bits-1)
 * exactly, so both ends of the code range are used. Asymmetric blocks span [min(0, lo), max(0, hi)].
 */
import { OptionError } from '../errors.js';

/** Changes whenever the same settings would quantize to different bytes, so cached copies are not reused across it. */
export const QUANTIZER_VERSION = 3;

/** How frozen weights are stored: fp32 (as loaded), fp16, or block-quantized to 8 or 4 bits. */
export type WeightDtype = 'fp32' | 'fp16' | 'q8' | 'q4';
export const WEIGHT_DTYPES: readonly WeightDtype[] = ['fp32', 'fp16', 'q8', 'q4'];

/** How a weight matrix is quantized: bits per weight, block size along the reduction axis, zero points, kernel accuracy. */
export interface BlockQuantization {
  /** 8 or 4 bits per weight. */
  bits: 4 | 8;
  /** Values per block along the reduction axis: 32 or 64. */
  blockSize: number;
  /** No zero points (codes centred on 2^(bits-1)). */
  symmetric: boolean;
  /**
   * MatMulNBits' accuracy_level: 4 quantizes the activations to int8 per block and multiplies in integers (the fast
   * path on x86 with AVX2/AVX-512 VNNI, and the only fast one for 8 bits); 0 dequantizes to fp32.
   */
  accuracyLevel: number;
}

/**
 * Settings for a weight whose rows (along the reduction axis) hold `k` values. Defaults, measured on this project's
 * machine (docs/design.md, "Quantized weights"): symmetric, accuracy_level 4, blocks of 32, and of 64 for 8 bits on
 * rows of 512 values or more (faster and smaller, no measurable loss there; on stories260K's 64-value rows one block
 * per row changed the greedy continuation at the 6th token).
 */
export function quantizationFor(dtype: 'q8' | 'q4', k: number, overrides: Partial<BlockQuantization> = {}): BlockQuantization {
  const bits = dtype === 'q8' ? 8 : 4;
  const q: BlockQuantization = { bits, blockSize: bits === 8 && k >= 512 ? 64 : 32, symmetric: true, accuracyLevel: 4, ...overrides };
  if (q.blockSize !== 32 && q.blockSize !== 64) throw new OptionError(`is ${q.blockSize}; expected 32 or 64`, 'block_size');
  if (![0, 1, 2, 3, 4].includes(q.accuracyLevel)) throw new OptionError(`is ${q.accuracyLevel}; expected 0-4`, 'accuracy_level');
  return q;
}

export function parseWeightDtype(value: string, field = 'dtype'): WeightDtype {
  const v = value === 'float32' ? 'fp32' : value === 'float16' ? 'fp16' : value;
  if (!(WEIGHT_DTYPES as readonly string[]).includes(v)) throw new OptionError(`is ${JSON.stringify(value)}; expected fp32, fp16, q8 or q4`, field);
  return v as WeightDtype;
}

/** A [N, K] matrix quantized along K. */
export interface QuantizedMatrix {
  n: number;
  k: number;
  bits: 4 | 8;
  blockSize: number;
  data: Uint8Array;
  scales: Float32Array;
  zeroPoints?: Uint8Array;
}

export const blocksPerRow = (k: number, blockSize: number) => Math.ceil(k / blockSize);
export const blobBytes = (bits: number, blockSize: number) => (blockSize * bits) / 8;
export const zeroPointBytesPerRow = (k: number, q: { bits: number; blockSize: number }) => Math.ceil((blocksPerRow(k, q.blockSize) * q.bits) / 8);

/** Empty storage for n rows of k values. */
export function allocateQuantized(n: number, k: number, q: BlockQuantization): QuantizedMatrix {
  const kb = blocksPerRow(k, q.blockSize);
  return {
    n,
    k,
    bits: q.bits,
    blockSize: q.blockSize,
    data: new Uint8Array(n * kb * blobBytes(q.bits, q.blockSize)),
    scales: new Float32Array(n * kb),
    zeroPoints: q.symmetric ? undefined : new Uint8Array(n * zeroPointBytesPerRow(k, q)).fill(q.bits === 4 ? 0x88 : 0x80),
  };
}

/**
 * Quantizes one block of `values` (read as values[at + i * stride] for i < count, zeros past count) into row `row`,
 * block `block` of `out`.
 */
function quantizeBlock(out: QuantizedMatrix, row: number, block: number, values: Float32Array, at: number, stride: number, count: number): void {
  const { bits, blockSize } = out;
  const kb = blocksPerRow(out.k, blockSize);
  const levels = (1 << bits) - 1;
  const half = 1 << (bits - 1);
  let lo = 0;
  let hi = 0;
  let extreme = 0;
  for (let i = 0; i < count; i++) {
    const v = values[at + i * stride];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
    if (Math.abs(v) > Math.abs(extreme)) extreme = v;
  }
  let scale: number;
  let zero: number;
  if (out.zeroPoints) {
    scale = (hi - lo) / levels;
    zero = scale === 0 ? half : Math.min(levels, Math.max(0, Math.round(-lo / scale)));
  } else {
    scale = extreme / -half;
    zero = half;
  }
  const inv = scale === 0 ? 0 : 1 / scale;
  const blockIndex = row * kb + block;
  out.scales[blockIndex] = scale;
  if (out.zeroPoints) {
    if (bits === 8) out.zeroPoints[row * zeroPointBytesPerRow(out.k, out) + block] = zero;
    else {
      const byte = row * zeroPointBytesPerRow(out.k, out) + (block >> 1);
      out.zeroPoints[byte] = block & 1 ? (out.zeroPoints[byte] & 0x0f) | (zero << 4) : (out.zeroPoints[byte] & 0xf0) | zero;
    }
  }
  const base = blockIndex * blobBytes(bits, blockSize);
  for (let i = 0; i < blockSize; i++) {
    const v = i < count ? values[at + i * stride] : 0;
    const q = Math.min(levels, Math.max(0, Math.round(v * inv) + zero));
    if (bits === 8) out.data[base + i] = q;
    else if (i & 1) out.data[base + (i >> 1)] |= q << 4;
    else out.data[base + (i >> 1)] = q;
  }
}

/** Rows [rowStart, rowStart + rows) of `out`, from `x` holding them row-major ([rows, k]). */
export function quantizeRowsInto(out: QuantizedMatrix, rowStart: number, x: Float32Array): void {
  const rows = x.length / out.k;
  const kb = blocksPerRow(out.k, out.blockSize);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < kb; b++) {
      const start = b * out.blockSize;
      quantizeBlock(out, rowStart + r, b, x, r * out.k + start, 1, Math.min(out.blockSize, out.k - start));
    }
  }
}

/**
 * The transposed layout: `out` quantizes W^T ([cols, rows] of a source W [rows, cols]), so its reduction axis runs
 * down W's columns. `x` holds source rows [rowStart, rowStart + rows) with rowStart a multiple of the block size
 * (rows too, except for the last piece).
 */
export function quantizeColumnsInto(out: QuantizedMatrix, rowStart: number, x: Float32Array): void {
  const cols = out.n;
  const rows = x.length / cols;
  if (rowStart % out.blockSize !== 0) throw new Error('quantizeColumnsInto: pieces must start on a block boundary');
  for (let at = 0; at < rows; at += out.blockSize) {
    const count = Math.min(out.blockSize, rows - at);
    const block = (rowStart + at) / out.blockSize;
    for (let c = 0; c < cols; c++) quantizeBlock(out, c, block, x, at * cols + c, cols, count);
  }
}

export function quantize(x: Float32Array, n: number, k: number, q: BlockQuantization): QuantizedMatrix {
  const out = allocateQuantized(n, k, q);
  quantizeRowsInto(out, 0, x);
  return out;
}

/** The values a quantized matrix stands for, [N, K] row-major. */
export function dequantize(m: QuantizedMatrix): Float32Array {
  const kb = blocksPerRow(m.k, m.blockSize);
  const blob = blobBytes(m.bits, m.blockSize);
  const zpRow = zeroPointBytesPerRow(m.k, m);
  const out = new Float32Array(m.n * m.k);
  for (let r = 0; r < m.n; r++) {
    for (let b = 0; b < kb; b++) {
      const scale = m.scales[r * kb + b];
      let zero = 1 << (m.bits - 1);
      if (m.zeroPoints) {
        const byte = m.zeroPoints[r * zpRow + (m.bits === 8 ? b : b >> 1)];
        zero = m.bits === 8 ? byte : b & 1 ? byte >> 4 : byte & 0x0f;
      }
      const base = (r * kb + b) * blob;
      for (let i = 0; i < m.blockSize && b * m.blockSize + i < m.k; i++) {
        const q = m.bits === 8 ? m.data[base + i] : i & 1 ? m.data[base + (i >> 1)] >> 4 : m.data[base + (i >> 1)] & 0x0f;
        out[r * m.k + b * m.blockSize + i] = scale * (q - zero);
      }
    }
  }
  return out;
}

/** x^T for x [rows, cols] row-major. */
export function transposed(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c];
  return out;
}
