/**
 * safetensors: an 8-byte little-endian u64 header length N, then N bytes of UTF-8 JSON, then the data section.
 * The JSON maps each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the data section)
 * plus an optional "__metadata__" string-to-string map. Data is little-endian, row-major. Like the reference Rust
 * crate we require the tensors to tile the data section exactly: sorted by offset they start at 0, touch end to end
 * and finish at the end of the file.
 */
import { FormatError, MissingError, ShapeError, UnsupportedError } from '../errors.js';
import { elementCount } from '../shape.js';

const DTYPE_SIZES = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2,
  I32: 4, U32: 4, F32: 4,
  I64: 8, U64: 8, F64: 8,
} as const;

export type Dtype = keyof typeof DTYPE_SIZES;

export interface TensorEntry {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Byte offsets into the data section. */
  begin: number;
  end: number;
}

const METADATA_KEY = '__metadata__';

/** Reads bytes [begin, end) of the data section. */
export type DataReader = (begin: number, end: number) => Uint8Array;

export class Safetensors {
  private constructor(
    readonly source: string,
    readonly metadata: Record<string, string>,
    private readonly entries: Map<string, TensorEntry>,
    private readonly read: DataReader,
    /** True when every read returns fresh memory (nothing else refers to it, so it may be transferred). */
    readonly freshReads: boolean,
  ) {}

  /** `source` names the file in error messages. The result keeps (and may hand out views of) `bytes`. */
  static parse(bytes: Uint8Array, source: string): Safetensors {
    const dataStart = 8 + Safetensors.headerLength(bytes, bytes.length, source);
    return Safetensors.fromHeader(bytes, bytes.length, source, (b, e) => bytes.subarray(dataStart + b, dataStart + e), false);
  }

  /** The JSON header's length from the file's first 8 bytes, checked against the file size. */
  static headerLength(first8: Uint8Array, fileSize: number, source: string): number {
    if (fileSize < 8 || first8.length < 8) {
      throw new FormatError(`not a valid safetensors file: file is ${fileSize} bytes, shorter than the 8-byte header length`, source);
    }
    const view = new DataView(first8.buffer, first8.byteOffset, 8);
    // Printed from the exact u64: a Number above 2^53 would print rounded (9223372036854776000 for 2^63 - 1).
    const exact = view.getBigUint64(0, true);
    if (exact > BigInt(fileSize - 8)) {
      throw new FormatError(`not a valid safetensors file: header length ${exact} runs past the end of the ${fileSize}-byte file`, source);
    }
    return Number(exact);
  }

  /**
   * From the first 8 + header-length bytes only, for files too large to hold twice: tensor data comes from `read`
   * (offsets relative to the data section) when asked for.
   */
  static fromHeader(head: Uint8Array, fileSize: number, source: string, read: DataReader, freshReads: boolean): Safetensors {
    const bad = (message: string) => new FormatError(`not a valid safetensors file: ${message}`, source);
    const headerLength = Safetensors.headerLength(head, fileSize, source);
    let header: unknown;
    try {
      header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(8, 8 + headerLength)));
    } catch (e) {
      throw bad(`header is not UTF-8 JSON (${(e as Error).message})`);
    }
    if (!isPlainObject(header)) throw bad('header is not a JSON object');

    const metadata = parseMetadata(header[METADATA_KEY], bad);
    const entries = Object.entries(header)
      .filter(([name]) => name !== METADATA_KEY)
      .map(([name, info]) => parseEntry(name, info, bad))
      .sort((a, b) => a.begin - b.begin || a.end - b.end);

    const dataLength = fileSize - 8 - headerLength;
    let covered = 0;
    for (const e of entries) {
      if (e.end > dataLength) {
        const range = `[${e.begin}, ${e.end}]`;
        throw bad(`tensor "${e.name}" data_offsets ${range} lie outside the ${dataLength}-byte data section`);
      }
      if (e.begin < covered) throw bad(`tensor "${e.name}" data_offsets [${e.begin}, ${e.end}] overlap another tensor`);
      if (e.begin > covered) throw bad(`bytes ${covered}..${e.begin} of the data section belong to no tensor`);
      covered = e.end;
    }
    if (covered !== dataLength) throw bad(`bytes ${covered}..${dataLength} of the data section belong to no tensor`);

    return new Safetensors(source, metadata, new Map(entries.map((e) => [e.name, e])), read, freshReads);
  }

  /** Tensor names in file order. */
  names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  entry(name: string): TensorEntry {
    const e = this.entries.get(name);
    if (!e) throw new MissingError(`no tensor "${name}"`, this.source);
    return e;
  }

  /** The tensor's bytes: a view into the file bytes, or a fresh read. */
  raw(name: string): Uint8Array {
    const e = this.entry(name);
    return this.read(e.begin, e.end);
  }

  /**
   * The tensor as float32. F32 data that is 4-byte aligned comes back as a view of the file bytes (do not write to
   * it); anything else is a fresh array. Assumes a little-endian host, as every JS engine target is.
   */
  float32(name: string): Float32Array {
    return this.toFloat32(name, this.raw(name));
  }

  /** Rows start..end (along the first axis) of a tensor as float32, read alone: a vocabulary-sized matrix in pieces. */
  float32Rows(name: string, start: number, end: number): Float32Array {
    const e = this.entry(name);
    const rowBytes = (e.end - e.begin) / (e.shape[0] || 1);
    return this.toFloat32(name, this.read(e.begin + start * rowBytes, e.begin + end * rowBytes));
  }

  private toFloat32(name: string, bytes: Uint8Array): Float32Array {
    const e = this.entry(name);
    switch (e.dtype) {
      case 'F32':
        return bytes.byteOffset % 4 === 0
          ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4)
          : new Float32Array(copy(bytes).buffer);
      case 'F16':
        return f16ToF32(uint16s(bytes));
      case 'BF16':
        return bf16ToF32(uint16s(bytes));
      default:
        throw new UnsupportedError(
          `tensor "${name}" has dtype ${e.dtype}; only F32, F16 and BF16 convert to float`,
          this.source,
        );
    }
  }
}

/**
 * Serializes float32 tensors as the Python `safetensors` library does (byte for byte): tensors ordered by name,
 * compact JSON with "__metadata__" first, header padded with spaces to a multiple of 8 so the data is aligned.
 * A tensor with dtype F16 or BF16 is rounded to it (to nearest, ties to even, as torch's .half() and .bfloat16()).
 */
export function serializeSafetensors(
  tensors: Array<{ name: string; shape: number[]; data: Float32Array; dtype?: 'F32' | 'F16' | 'BF16' }>,
  metadata?: Record<string, string>,
): Uint8Array {
  const sorted = [...tensors].sort((a, b) => compareCodePoints(a.name, b.name));
  // Built by hand rather than from one object because JS objects put integer-like keys ("0", "10") first. For the
  // strings themselves JSON.stringify escapes exactly what serde_json escapes.
  const members: string[] = [];
  if (metadata) {
    // The Rust writer emits metadata in HashMap order, i.e. arbitrary; sorting at least makes ours reproducible.
    const pairs = Object.entries(metadata).sort(([a], [b]) => compareCodePoints(a, b));
    members.push(`"${METADATA_KEY}":{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);
  }
  const seen = new Set([METADATA_KEY]);
  let offset = 0;
  const bytes: Uint8Array[] = [];
  for (const t of sorted) {
    const where = `tensor "${t.name}"`;
    if (seen.has(t.name)) throw new ShapeError('name is reserved or used twice', where);
    seen.add(t.name);
    if (t.data.length !== elementCount(t.shape)) {
      throw new ShapeError(`${t.data.length} values do not fill shape [${t.shape}]`, where);
    }
    checkFinite(t.name, t.data, 'refusing to save');
    const data = t.dtype === 'F16' ? f32ToF16(t.data) : t.dtype === 'BF16' ? f32ToBf16(t.data) : t.data;
    bytes.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    const info = { dtype: t.dtype ?? 'F32', shape: t.shape, data_offsets: [offset, offset + data.byteLength] };
    members.push(`${JSON.stringify(t.name)}:${JSON.stringify(info)}`);
    offset += data.byteLength;
  }
  const json = new TextEncoder().encode(`{${members.join(',')}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLength % 2 ** 32, true);
  view.setUint32(4, Math.floor(headerLength / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const b of bytes) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/**
 * Throws a ShapeError naming the tensor and the first NaN or infinite value in it. `context` begins the message
 * ("refusing to save", a file path's reader, ...). A plain loop: about 1 GB/s, cheap next to reading the bytes.
 */
export function checkFinite(name: string, data: Float32Array, context: string, where?: string): void {
  for (let i = 0; i < data.length; i++) {
    const x = data[i];
    // x - x is 0 for every finite x and NaN for NaN and +-inf.
    if (x - x !== 0) {
      throw new ShapeError(`${context}: tensor "${name}" holds a non-finite value (${x} at index ${i})`, where);
    }
  }
}

type Bad = (message: string) => FormatError;

function parseMetadata(value: unknown, bad: Bad): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (!isPlainObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw bad(`"${METADATA_KEY}" must map strings to strings`);
  }
  return value as Record<string, string>;
}

function parseEntry(name: string, info: unknown, bad: Bad): TensorEntry {
  if (!isPlainObject(info)) throw bad(`tensor "${name}" must be an object with dtype, shape and data_offsets`);
  const { dtype, shape, data_offsets: offsets } = info;
  if (typeof dtype !== 'string' || !isDtype(dtype)) {
    const known = Object.keys(DTYPE_SIZES).join(', ');
    throw bad(`tensor "${name}" has unknown dtype ${JSON.stringify(dtype)}; expected one of ${known}`);
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInt)) {
    throw bad(`tensor "${name}" shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInt) || offsets[0] > offsets[1]) {
    throw bad(`tensor "${name}" data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 <= begin <= end`);
  }
  const [begin, end] = offsets as [number, number];
  const expected = elementCount(shape) * DTYPE_SIZES[dtype];
  if (end - begin !== expected) {
    throw bad(`tensor "${name}" is ${dtype}[${shape}] = ${expected} bytes but data_offsets span ${end - begin}`);
  }
  return { name, dtype, shape, begin, end };
}

function isDtype(s: string): s is Dtype {
  return Object.hasOwn(DTYPE_SIZES, s);
}

function uint16s(bytes: Uint8Array): Uint16Array {
  if (bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
  return new Uint16Array(copy(bytes).buffer);
}

/**
 * The bytes in fresh memory of their own. Not `bytes.slice()`: on a Node Buffer (what readFile returns) slice is a
 * view of the same, pooled, memory, so an unaligned tensor (a header not padded to 8 bytes) would not get a copy.
 */
function copy(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

let f16Table: Float32Array | null = null;

/** All 65536 half-precision values as float32, built once: a table lookup beats bit twiddling per element. */
function f16Lookup(): Float32Array {
  if (f16Table) return f16Table;
  const table = new Float32Array(65536);
  const bits = new Uint32Array(table.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0) {
      // Zero or subnormal: mantissa * 2^-24 is exact in float32.
      table[h] = (sign ? -1 : 1) * mantissa * 2 ** -24;
    } else if (exponent === 0x1f) {
      bits[h] = sign | 0x7f800000 | (mantissa << 13); // inf, or NaN keeping its payload
    } else {
      bits[h] = sign | ((exponent + 112) << 23) | (mantissa << 13); // rebias 15 -> 127
    }
  }
  return (f16Table = table);
}

function f16ToF32(halves: Uint16Array): Float32Array {
  const table = f16Lookup();
  const out = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) out[i] = table[halves[i]];
  return out;
}

/** float32 -> IEEE half, rounding to nearest even; overflow becomes inf, NaN stays NaN. */
export function f32ToF16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = bits[i];
    const sign = (x >>> 16) & 0x8000;
    const exponent = (x >>> 23) & 0xff;
    const mantissa = x & 0x7fffff;
    if (exponent === 0xff) {
      out[i] = sign | 0x7c00 | (mantissa ? 0x200 : 0);
      continue;
    }
    const e = exponent - 112; // rebias 127 -> 15
    if (e >= 0x1f) {
      out[i] = sign | 0x7c00;
    } else if (e <= 0) {
      // Subnormal or zero: shift the mantissa (with its implicit 1) into place, then round.
      if (e < -10) {
        out[i] = sign;
        continue;
      }
      const m = mantissa | 0x800000;
      const shift = 14 - e;
      const half = 1 << (shift - 1);
      const rest = m & ((1 << shift) - 1);
      let h = m >>> shift;
      if (rest > half || (rest === half && (h & 1))) h++;
      out[i] = sign | h;
    } else {
      let h = (e << 10) | (mantissa >>> 13);
      const rest = mantissa & 0x1fff;
      // A carry out of the mantissa correctly bumps the exponent (up to inf).
      if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++;
      out[i] = sign | h;
    }
  }
  return out;
}

/** float32 -> bfloat16 (its top half), rounding to nearest even as torch's .bfloat16(); NaN stays a (quiet) NaN. */
export function f32ToBf16(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const x = bits[i];
    out[i] = (x & 0x7fffffff) > 0x7f800000 ? (x >>> 16) | 0x40 : (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** bfloat16 is the top half of a float32. */
function bf16ToF32(halves: Uint16Array): Float32Array {
  const bits = new Uint32Array(halves.length);
  for (let i = 0; i < halves.length; i++) bits[i] = halves[i] << 16;
  return new Float32Array(bits.buffer);
}

function isNonNegativeInt(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Rust orders strings by UTF-8 bytes, which is code point order; JS `<` compares UTF-16 units. */
function compareCodePoints(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}
