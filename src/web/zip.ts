/**
 * .zip archives, as far as adapters need them: writing stored (uncompressed) entries, which every unzip reads, and
 * reading stored or deflated entries (deflate through the platform's DecompressionStream). The format: a local header
 * + data per entry, then a central directory (one record per entry) and an end record pointing at it; all
 * little-endian, CRC-32 over each entry's uncompressed bytes.
 */
import { FormatError, UnsupportedError } from '../errors.js';

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A zip of the given files (name -> bytes), entries stored in the order given, dated 1980-01-01 so output repeats. */
export function zipFiles(files: Record<string, Uint8Array | string>): Uint8Array {
  const encoder = new TextEncoder();
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const [name, content] of Object.entries(files)) {
    const data = typeof content === 'string' ? encoder.encode(content) : content;
    const nameBytes = encoder.encode(name);
    const crc = crc32(data);
    const local = new Uint8Array(30 + nameBytes.length);
    const l = new DataView(local.buffer);
    l.setUint32(0, 0x04034b50, true);
    l.setUint16(4, 20, true); // version needed
    l.setUint16(6, 0x0800, true); // UTF-8 names
    l.setUint16(8, 0, true); // stored
    l.setUint16(10, 0, true); // time
    l.setUint16(12, (0 << 9) | (1 << 5) | 1, true); // date 1980-01-01
    l.setUint32(14, crc, true);
    l.setUint32(18, data.length, true);
    l.setUint32(22, data.length, true);
    l.setUint16(26, nameBytes.length, true);
    local.set(nameBytes, 30);
    const central = new Uint8Array(46 + nameBytes.length);
    const c = new DataView(central.buffer);
    c.setUint32(0, 0x02014b50, true);
    c.setUint16(4, 20, true);
    c.setUint16(6, 20, true);
    c.setUint16(8, 0x0800, true);
    c.setUint16(10, 0, true);
    c.setUint16(12, 0, true);
    c.setUint16(14, (0 << 9) | (1 << 5) | 1, true);
    c.setUint32(16, crc, true);
    c.setUint32(20, data.length, true);
    c.setUint32(24, data.length, true);
    c.setUint16(28, nameBytes.length, true);
    c.setUint32(42, offset, true);
    central.set(nameBytes, 46);
    locals.push(local, data);
    centrals.push(central);
    offset += local.length + data.length;
  }
  const centralSize = centrals.reduce((s, b) => s + b.length, 0);
  const end = new Uint8Array(22);
  const e = new DataView(end.buffer);
  e.setUint32(0, 0x06054b50, true);
  e.setUint16(8, centrals.length, true);
  e.setUint16(10, centrals.length, true);
  e.setUint32(12, centralSize, true);
  e.setUint32(16, offset, true);
  const out = new Uint8Array(offset + centralSize + end.length);
  let at = 0;
  for (const part of [...locals, ...centrals, end]) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

type Inflate = (data: Uint8Array) => Promise<Uint8Array>;

/** The platform's raw-deflate decoder (browsers and Node 18+ have DecompressionStream). */
const inflateRaw: Inflate = async (data) => {
  const Stream = (globalThis as unknown as { DecompressionStream?: new (format: string) => { readable: unknown; writable: unknown } }).DecompressionStream;
  if (!Stream) throw new UnsupportedError('this platform has no DecompressionStream to inflate deflated zip entries', 'zip');
  const stream = new Blob([data.slice()]).stream().pipeThrough(new Stream('deflate-raw') as never);
  return new Uint8Array(await new Response(stream as never).arrayBuffer());
};

/** The files of a zip (stored or deflated entries; directories skipped), by their path inside it. */
export async function unzipFiles(zip: Uint8Array, source = 'zip'): Promise<Record<string, Uint8Array>> {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  let endAt = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 65535); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      endAt = i;
      break;
    }
  }
  if (endAt < 0) throw new FormatError('not a zip file (no end of central directory record)', source);
  const count = view.getUint16(endAt + 10, true);
  let at = view.getUint32(endAt + 16, true);
  const files: Record<string, Uint8Array> = {};
  const decoder = new TextDecoder();
  for (let i = 0; i < count; i++) {
    if (view.getUint32(at, true) !== 0x02014b50) throw new FormatError(`central directory record ${i} is damaged`, source);
    const method = view.getUint16(at + 10, true);
    const compressed = view.getUint32(at + 20, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const localAt = view.getUint32(at + 42, true);
    const name = decoder.decode(zip.subarray(at + 46, at + 46 + nameLength));
    at += 46 + nameLength + extraLength + commentLength;
    if (name.endsWith('/')) continue;
    const dataAt = localAt + 30 + view.getUint16(localAt + 26, true) + view.getUint16(localAt + 28, true);
    const data = zip.subarray(dataAt, dataAt + compressed);
    if (method === 0) files[name] = data.slice();
    else if (method === 8) files[name] = await inflateRaw(data);
    else throw new UnsupportedError(`entry "${name}" uses compression method ${method}; expected stored (0) or deflate (8)`, source);
  }
  return files;
}
