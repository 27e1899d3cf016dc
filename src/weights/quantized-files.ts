/**
 * Quantized copies of a checkpoint's frozen weights on disk, so onnxruntime maps them instead of receiving them, and a
 * second load reads them instead of quantizing again. They live in the Hugging Face cache folder:
 * `HF_HUB_CACHE/softprompt-quantized/<key>/`, where <key> is a sha256 of the checkpoint's identity (each weight
 * file's content hash where the hub cache names its blob by it, else its real path, size, mtime and safetensors
 * header), the quantization settings and the list of quantized tensors. Weights with no file (built in memory) get a
 * temporary folder, removed at exit.
 *
 * Format, one pair of files per orientation ('rows': W quantized along its rows, for x W^T and row gathers; 'cols':
 * W^T, for x W):
 * - `<layout>.bin`: each tensor's data, scales and zero points (weights/quantize.ts), each piece starting on a
 *   4096-byte boundary (onnxruntime maps page-aligned external data rather than reading it into the heap);
 * - `<layout>.json`: `{ "format": 1, "plan": {name: {shape, settings}}, "tensors": { name: { "n", "k", "data": [offset, length],
 *   "scales": [...], "zero_points"?: [...] } } }`, written after the .bin, each through a temporary file and a rename,
 *   so a .json is only ever seen beside a complete .bin.
 * Graphs that read the tensors are written next to them (the ONNX external-data location is relative to the model
 * file), loaded from there and deleted.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, realpathSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { hubSettings, type HubOptions } from '../hub/settings.js';
import {
  QUANTIZER_VERSION, allocateQuantized, blobBytes, blocksPerRow, quantizeColumnsInto, quantizeRowsInto, zeroPointBytesPerRow, type BlockQuantization, type QuantizedMatrix,
} from './quantize.js';
import type { WeightSource } from './files.js';

export type Layout = 'rows' | 'cols';
/** A weight to store quantized: its shape [rows, cols] and how. */
export interface QuantizedPlan {
  shape: number[];
  settings: BlockQuantization;
}
type Range = { location: string; offset: number; length: number };
/** One stored orientation of a weight (the shape graph/onnx.ts's StoredQuantized expects). */
export interface StoredTensor {
  n: number;
  k: number;
  data: Range;
  scales: Range;
  zeroPoints?: Range;
}

const FORMAT = 1;
const ALIGN = 4096;
/** Source rows read at once while quantizing: a vocabulary-sized matrix is never held whole in fp32. */
const PIECE_VALUES = 1 << 22;

let graphCounter = 0;

export class QuantizedWeightFiles {
  private readonly layouts = new Map<Layout, Map<string, StoredTensor>>();

  private constructor(
    readonly dir: string,
    private readonly weights: WeightSource,
    /** Checkpoint name -> shape and quantization of every weight stored quantized. */
    readonly plan: Map<string, QuantizedPlan>,
    /** 'q8' or 'q4'. */
    readonly dtype: string,
  ) {}

  /**
   * The store for `weights` quantized as `plan` says. Nothing is quantized yet: each orientation is made (or read from
   * the cache) when a graph first asks for it.
   */
  static open(weights: WeightSource, plan: Map<string, QuantizedPlan>, dtype: string, hub: HubOptions = {}): QuantizedWeightFiles {
    const identity = checkpointIdentity(weights, [...plan.keys()]);
    const key = createHash('sha256').update(JSON.stringify({ FORMAT, QUANTIZER_VERSION, identity, tensors: [...plan] })).digest('hex').slice(0, 32);
    let dir: string;
    if (identity === null) dir = temporaryDir();
    else {
      dir = join(hubSettings(hub).cacheDir, 'softprompt-quantized', key);
      try {
        mkdirSync(dir, { recursive: true });
      } catch {
        dir = temporaryDir();
      }
    }
    return new QuantizedWeightFiles(dir, weights, plan, dtype);
  }

  /** How a weight is stored, or undefined when it is not quantized. */
  storage(name: string): BlockQuantization | undefined {
    return this.plan.get(name)?.settings;
  }

  /** Whether an orientation is already on disk (a second load reads it). */
  cached(layout: Layout): boolean {
    return existsSync(join(this.dir, `${layout}.json`));
  }

  /** A weight's stored tensors in one orientation, quantizing every weight in that orientation on first use. */
  stored(name: string, layout: Layout): StoredTensor | undefined {
    let tensors = this.layouts.get(layout);
    if (!tensors) {
      tensors = this.read(layout) ?? this.write(layout);
      this.layouts.set(layout, tensors);
    }
    return tensors.get(name);
  }

  removeGraph(path: string): void {
    removeGraphFile(path);
  }

  /** Writes ONNX bytes that reference the stored tensors next to them; returns the path (delete it once loaded). */
  writeGraph(bytes: Uint8Array): string {
    const path = join(this.dir, `graph-${process.pid}-${graphCounter++}.onnx`);
    writeFileSync(path, bytes);
    return path;
  }

  private read(layout: Layout): Map<string, StoredTensor> | null {
    const path = join(this.dir, `${layout}.json`);
    if (!existsSync(path)) return null;
    try {
      const index = JSON.parse(readFileSync(path, 'utf8')) as { format: number; tensors: Record<string, { n: number; k: number; data: number[]; scales: number[]; zero_points?: number[] }> };
      if (index.format !== FORMAT) return null;
      const location = `${layout}.bin`;
      const size = statSync(join(this.dir, location)).size;
      const range = ([offset, length]: number[]): Range => {
        if (offset + length > size) throw new Error('truncated');
        return { location, offset, length };
      };
      const out = new Map<string, StoredTensor>();
      for (const name of this.plan.keys()) {
        const t = index.tensors[name];
        if (!t) return null;
        out.set(name, { n: t.n, k: t.k, data: range(t.data), scales: range(t.scales), ...(t.zero_points ? { zeroPoints: range(t.zero_points) } : {}) });
      }
      return out;
    } catch {
      return null; // unreadable: quantize again and replace it
    }
  }

  private write(layout: Layout): Map<string, StoredTensor> {
    const location = `${layout}.bin`;
    const temp = join(this.dir, `${location}.${process.pid}.tmp`);
    const fd = openSync(temp, 'w');
    const out = new Map<string, StoredTensor>();
    let end = 0;
    const place = (length: number): Range => {
      const offset = Math.ceil(end / ALIGN) * ALIGN;
      end = offset + length;
      return { location, offset, length };
    };
    const put = (range: Range, at: number, bytes: Uint8Array) => writeAll(fd, bytes, range.offset + at);
    try {
      for (const [name, { shape, settings }] of this.plan) {
        const [rows, cols] = shape;
        const [n, k] = layout === 'rows' ? [rows, cols] : [cols, rows];
        const kb = blocksPerRow(k, settings.blockSize);
        const rowBytes = kb * blobBytes(settings.bits, settings.blockSize);
        const zpRow = zeroPointBytesPerRow(k, settings);
        const stored: StoredTensor = {
          n,
          k,
          data: place(n * rowBytes),
          scales: place(n * kb * 4),
          ...(settings.symmetric ? {} : { zeroPoints: place(n * zpRow) }),
        };
        // Pieces of source rows; for 'cols' a whole number of blocks each, since a block then runs down the rows.
        const step = Math.max(settings.blockSize, Math.floor(PIECE_VALUES / cols / settings.blockSize) * settings.blockSize);
        const read = (start: number, stop: number) =>
          this.weights.float32Rows?.(name, start, stop) ?? this.weights.float32(name).subarray(start * cols, stop * cols);
        if (layout === 'rows') {
          for (let start = 0; start < rows; start += step) {
            const stop = Math.min(rows, start + step);
            const piece = allocateQuantized(stop - start, k, settings);
            quantizeRowsInto(piece, 0, read(start, stop));
            writePiece(put, stored, piece, start, rowBytes, kb, zpRow);
          }
        } else {
          const whole = allocateQuantized(n, k, settings);
          for (let start = 0; start < rows; start += step) quantizeColumnsInto(whole, start, read(start, Math.min(rows, start + step)));
          writePiece(put, stored, whole, 0, rowBytes, kb, zpRow);
        }
        out.set(name, stored);
      }
    } finally {
      closeSync(fd);
    }
    renameSync(temp, join(this.dir, location));
    const tensors = Object.fromEntries([...out].map(([name, t]) => [name, {
      n: t.n, k: t.k, data: [t.data.offset, t.data.length], scales: [t.scales.offset, t.scales.length],
      ...(t.zeroPoints ? { zero_points: [t.zeroPoints.offset, t.zeroPoints.length] } : {}),
    }]));
    const index = join(this.dir, `${layout}.json`);
    writeFileSync(`${index}.${process.pid}.tmp`, JSON.stringify({ format: FORMAT, plan: Object.fromEntries(this.plan), tensors }));
    renameSync(`${index}.${process.pid}.tmp`, index);
    return out;
  }
}

/** Removes a graph file written by writeGraph, once onnxruntime has loaded it. */
export function removeGraphFile(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // already gone
  }
}

function writePiece(
  put: (range: Range, at: number, bytes: Uint8Array) => void,
  stored: StoredTensor,
  piece: QuantizedMatrix,
  firstRow: number,
  rowBytes: number,
  kb: number,
  zpRow: number,
): void {
  put(stored.data, firstRow * rowBytes, piece.data);
  put(stored.scales, firstRow * kb * 4, new Uint8Array(piece.scales.buffer, piece.scales.byteOffset, piece.scales.byteLength));
  if (stored.zeroPoints && piece.zeroPoints) put(stored.zeroPoints, firstRow * zpRow, piece.zeroPoints);
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at, Math.min(bytes.length - at, 2 ** 30), position + at);
}

/**
 * What identifies the checkpoint's bytes, or null when the weights have no files (then nothing is cached). A hub
 * cache's blob is named by its content hash (LFS sha256 or git blob id); a file elsewhere by real path, size, mtime and
 * its first 64 KB (the safetensors header).
 */
function checkpointIdentity(weights: WeightSource, names: string[]): string[] | null {
  const files = new Set<string>();
  for (const name of names) {
    const source = weights.source(name);
    if (!existsSync(source)) return null;
    files.add(source);
  }
  return [...files].sort().map((file) => {
    const real = realpathSync(file);
    if (basename(join(real, '..')) === 'blobs') return `blob:${basename(real)}`;
    const { size, mtimeMs } = statSync(real);
    const fd = openSync(real, 'r');
    const head = new Uint8Array(Math.min(size, 65536));
    try {
      readSyncAll(fd, head);
    } finally {
      closeSync(fd);
    }
    return `file:${real}:${size}:${mtimeMs}:${createHash('sha256').update(head).digest('hex')}`;
  });
}

function readSyncAll(fd: number, into: Uint8Array): void {
  for (let at = 0; at < into.length; ) {
    const n = readSync(fd, into, at, into.length - at, at);
    if (n === 0) return;
    at += n;
  }
}

function temporaryDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'softprompt-quantized-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
