import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, MissingError, UnsupportedError } from '../src/errors.js';
import { f32ToBf16, f32ToF16, Safetensors, serializeSafetensors } from '../src/weights/safetensors.js';
import { FIXTURE_MODELS, fixture } from './fixtures.js';
import { elementCount } from '../src/shape.js';

/** A file with a hand-written header (unpadded, so the data may sit at an odd address) and the given data. */
function fileWith(header: object | string, data: Uint8Array | number = 0): Uint8Array {
  const text = typeof header === 'string' ? header : JSON.stringify(header);
  const json = header instanceof Uint8Array ? header : new TextEncoder().encode(text);
  const body = typeof data === 'number' ? new Uint8Array(data) : data;
  const out = new Uint8Array(8 + json.length + body.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  out.set(body, 8 + json.length);
  return out;
}

function rejects(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(
    () => Safetensors.parse(bytes, 'bad.safetensors'),
    (e: unknown) => e instanceof FormatError && e.message.includes('bad.safetensors') && pattern.test(e.message),
  );
}

const f32 = (shape: number[], begin: number, end: number) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });

test('every fixture model checkpoint parses and converts to float32', (t) => {
  for (const model of FIXTURE_MODELS) {
    const path = fixture(t, 'models', model, 'model.safetensors');
    if (!path) return;
    const file = Safetensors.parse(readFileSync(path), path);
    assert.deepEqual(file.metadata, { format: 'pt' });
    assert.ok(file.names().length > 0);
    for (const name of file.names()) {
      const { shape } = file.entry(name);
      assert.equal(file.float32(name).length, elementCount(shape));
    }
  }
});

test('golden tensors read back exactly the values PyTorch recorded', (t) => {
  const dir = fixture(t, 'golden', 'gpt2-tiny');
  if (!dir) return;
  const file = Safetensors.parse(readFileSync(join(dir, 'tensors.safetensors')), 'tensors.safetensors');
  const small = JSON.parse(readFileSync(join(dir, 'small_tensors.json'), 'utf8')) as Record<string, unknown>;
  for (const [name, nested] of Object.entries(small)) {
    assert.deepEqual(Array.from(file.float32(name)), (nested as unknown[]).flat(Infinity), name);
  }
});

test('serialized adapters are byte-identical to what Python safetensors wrote', (t) => {
  for (const model of FIXTURE_MODELS) {
    for (const adapter of ['adapter_random', 'adapter_text']) {
      const path = fixture(t, 'golden', model, adapter, 'adapter_model.safetensors');
      if (!path) return;
      const original = readFileSync(path);
      const parsed = Safetensors.parse(original, path);
      const { shape } = parsed.entry('prompt_embeddings');
      const bytes = serializeSafetensors(
        [{ name: 'prompt_embeddings', shape, data: parsed.float32('prompt_embeddings') }],
        parsed.metadata,
      );
      assert.deepEqual(Buffer.from(bytes), original, path);
    }
  }
});

test('serialize orders tensors by name, aligns data to 8 bytes and round-trips', () => {
  const b = new Float32Array([1, 2, 3, 4, 5, 6]);
  const a = new Float32Array([-0.5]);
  const bytes = serializeSafetensors(
    [{ name: 'b', shape: [2, 3], data: b }, { name: 'a', shape: [1], data: a }],
    { k: 'v' },
  );
  const headerLength = new DataView(bytes.buffer).getUint32(0, true);
  assert.equal(headerLength % 8, 0);
  const header = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength));
  assert.equal(
    header.trimEnd(),
    '{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},' +
      '"b":{"dtype":"F32","shape":[2,3],"data_offsets":[4,28]}}',
  );
  const file = Safetensors.parse(bytes, 'mem');
  assert.deepEqual(file.names(), ['a', 'b']);
  assert.deepEqual(file.float32('b'), b);
  assert.deepEqual(file.float32('a'), a);
  assert.deepEqual(file.metadata, { k: 'v' });
});

test('serialize orders integer-like and unusual names bytewise, as Rust does', () => {
  const one = new Float32Array([1]);
  const names = ['2', '10', '__proto__', 'é', 'z'];
  const bytes = serializeSafetensors(names.map((name) => ({ name, shape: [1], data: one })));
  const headerLength = new DataView(bytes.buffer).getUint32(0, true);
  const header = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength));
  const order = [...header.matchAll(/"([^"]+)":\{"dtype"/g)].map((m) => m[1]);
  assert.deepEqual(order, ['10', '2', '__proto__', 'z', 'é']);
  assert.deepEqual(Safetensors.parse(bytes, 'mem').names(), order);
});

test('serialize writes no __metadata__ key without metadata and accepts no tensors', () => {
  assert.deepEqual(Array.from(serializeSafetensors([])), [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]);
});

test('serialize rejects data that does not fill the shape', () => {
  assert.throws(() => serializeSafetensors([{ name: 'x', shape: [2, 2], data: new Float32Array(3) }]), /tensor "x"/);
});

test('aligned F32 data is returned as a view, unaligned data as a copy', () => {
  const aligned = serializeSafetensors([{ name: 'x', shape: [2], data: new Float32Array([1.5, -2]) }]);
  const view = Safetensors.parse(aligned, 'mem').float32('x');
  assert.equal(view.buffer, aligned.buffer);

  const padded = new Uint8Array(aligned.length + 1);
  padded.set(aligned, 1);
  const copy = Safetensors.parse(padded.subarray(1), 'mem').float32('x');
  assert.notEqual(copy.buffer, padded.buffer);
  assert.deepEqual(Array.from(copy), [1.5, -2]);
});

/** Reference decoding of a 16-bit float with `e` exponent bits, by arithmetic rather than bit tricks. */
function decode16(bits: number, exponentBits: number): number {
  const mantissaBits = 15 - exponentBits;
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> mantissaBits) & ((1 << exponentBits) - 1);
  const mantissa = bits & ((1 << mantissaBits) - 1);
  const bias = (1 << (exponentBits - 1)) - 1;
  if (exponent === (1 << exponentBits) - 1) return mantissa ? NaN : sign * Infinity;
  if (exponent === 0) return sign * mantissa * 2 ** (1 - bias - mantissaBits);
  return sign * (1 + mantissa / 2 ** mantissaBits) * 2 ** (exponent - bias);
}

for (const [dtype, exponentBits] of [['F16', 5], ['BF16', 8]] as const) {
  test(`${dtype} upcasts every bit pattern exactly (subnormals, ±0, ±inf, NaN), aligned or not`, () => {
    const patterns = new Uint16Array(65536).map((_, i) => i);
    const data = new Uint8Array(patterns.buffer);
    // One of the two paddings leaves the data at an odd address.
    for (const padding of ['', ' ']) {
      const header = { x: { dtype, shape: [65536], data_offsets: [0, data.length] } };
      const bytes = fileWith(JSON.stringify(header) + padding, data);
      const out = Safetensors.parse(bytes, 'mem').float32('x');
      for (let i = 0; i < 65536; i++) {
        if (!Object.is(out[i], decode16(i, exponentBits))) assert.fail(`${dtype} 0x${i.toString(16)}: got ${out[i]}`);
      }
    }
  });
}

test('F16 and BF16 spot values', () => {
  const file = (dtype: string, bits: number[]) => {
    const header = { x: { dtype, shape: [bits.length], data_offsets: [0, bits.length * 2] } };
    return Safetensors.parse(fileWith(header, new Uint8Array(new Uint16Array(bits).buffer)), 'mem').float32('x');
  };
  assert.deepEqual(
    Array.from(file('F16', [0x3c00, 0x0001, 0x7bff, 0xfc00, 0x8000])),
    [1, 2 ** -24, 65504, -Infinity, -0],
  );
  assert.deepEqual(Array.from(file('BF16', [0x3f80, 0x0001, 0xc000, 0x7f80])), [1, 2 ** -133, -2, Infinity]);
  assert.ok(Number.isNaN(file('F16', [0x7e00])[0]) && Number.isNaN(file('BF16', [0x7fc0])[0]));
});

test('rejects a file shorter than the 8-byte length prefix', () => {
  rejects(new Uint8Array(5), /shorter than the 8-byte/);
});

test('rejects a header length beyond the end of the file', () => {
  const bytes = fileWith({});
  new DataView(bytes.buffer).setUint32(0, 1000, true);
  rejects(bytes, /runs past the end/);
  new DataView(bytes.buffer).setUint32(4, 1, true);
  rejects(bytes, /runs past the end/);
});

test('rejects a corrupt header', () => {
  rejects(fileWith('{"x": {"dtype": "F32",'), /not UTF-8 JSON/);
  rejects(fileWith(new Uint8Array([0xff, 0xfe])), /not UTF-8 JSON/);
  rejects(fileWith('[1, 2]'), /not a JSON object/);
  rejects(fileWith({ x: 'F32' }), /tensor "x" must be an object/);
  rejects(fileWith({ __metadata__: { n: 1 } }), /__metadata__/);
});

test('rejects an unknown dtype, listing the known ones', () => {
  rejects(fileWith({ x: { dtype: 'F128', shape: [1], data_offsets: [0, 16] } }, 16), /unknown dtype "F128".*BF16/);
});

test('rejects shapes and offsets that are not non-negative integers', () => {
  rejects(fileWith({ x: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4), /shape \[-1\]/);
  rejects(fileWith({ x: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, 4), /shape/);
  rejects(fileWith({ x: { dtype: 'F32', shape: [1], data_offsets: [0] } }, 4), /data_offsets \[0\]/);
  rejects(fileWith({ x: { dtype: 'F32', shape: [1], data_offsets: [4, 0] } }, 4), /data_offsets/);
});

test('rejects data_offsets that disagree with shape × dtype size', () => {
  rejects(fileWith({ x: f32([2, 2], 0, 12) }, 12), /F32\[2,2\] = 16 bytes but data_offsets span 12/);
});

test('rejects ranges outside the data section', () => {
  rejects(fileWith({ x: f32([2], 0, 8) }, 4), /outside the 4-byte data section/);
});

test('rejects overlapping ranges', () => {
  rejects(fileWith({ x: f32([2], 0, 8), y: f32([2], 4, 12) }, 12), /overlap/);
});

test('rejects holes and trailing bytes, as the Rust crate does', () => {
  rejects(fileWith({ x: f32([1], 0, 4), y: f32([1], 8, 12) }, 12), /bytes 4\.\.8 .* belong to no tensor/);
  rejects(fileWith({ x: f32([1], 0, 4) }, 8), /bytes 4\.\.8 .* belong to no tensor/);
});

test('a missing tensor is a MissingError naming it and the file', () => {
  const file = Safetensors.parse(fileWith({ x: f32([1], 0, 4) }, 4), 'w.safetensors');
  assert.equal(file.has('y'), false);
  assert.throws(
    () => file.float32('y'),
    (e: unknown) => e instanceof MissingError && /w\.safetensors.*"y"/.test(e.message),
  );
});

test('integer tensors are readable raw but not as float32', () => {
  const file = Safetensors.parse(fileWith({ ids: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, 8), 'mem');
  assert.equal(file.raw('ids').length, 8);
  assert.throws(() => file.float32('ids'), UnsupportedError);
});

test('F16 serialization rounds to nearest even as numpy does, and every half value round-trips', () => {
  const bits = [1065353216, 1065357312, 1065365504, 1199562752, 1199566848, 1199566845, 864026624, 855638016, 859832320, 786163455, 2147483648, 3223322624, 947903040, 868219947];
  // numpy: np.array(bits, np.uint32).view(np.float32).astype(np.float16).view(np.uint16)
  const numpy = [15360, 15360, 15362, 31743, 31744, 31743, 1, 0, 1, 0, 32768, 49408, 1023, 1];
  const values = new Float32Array(new Uint32Array(bits).buffer);
  assert.deepEqual(Array.from(f32ToF16(values)), numpy);

  const halves = Uint16Array.from({ length: 65536 }, (_, i) => i).filter((h) => (h & 0x7c00) !== 0x7c00);
  const header = { x: { dtype: 'F16', shape: [halves.length], data_offsets: [0, halves.length * 2] } };
  const asF32 = Safetensors.parse(fileWith(header, new Uint8Array(halves.buffer)), 'mem').float32('x');
  const file = serializeSafetensors([{ name: 'x', shape: [asF32.length], data: asF32, dtype: 'F16' }]);
  const back = Safetensors.parse(file, 'mem');
  assert.equal(back.entry('x').dtype, 'F16');
  assert.deepEqual(new Uint16Array(back.raw('x').slice().buffer), halves);
});

test('BF16 serialization rounds to nearest even as torch does, and every bfloat16 value round-trips', () => {
  // 1, the tie 1 + 2^-8 (to even: down), the tie above 0x3f81 (to even: up), just above a tie, FLT_MAX (to inf),
  // -0.99999994 (to -1), the smallest subnormal (to 0), -0, -inf.
  const bits = [0x3f800000, 0x3f808000, 0x3f818000, 0x3f808001, 0x7f7fffff, 0xbf7fffff, 0x00000001, 0x80000000, 0xff800000];
  const want = [0x3f80, 0x3f80, 0x3f82, 0x3f81, 0x7f80, 0xbf80, 0x0000, 0x8000, 0xff80];
  assert.deepEqual(Array.from(f32ToBf16(new Float32Array(new Uint32Array(bits).buffer))), want);
  assert.ok(Number.isNaN(new Float32Array(Uint32Array.of(f32ToBf16(Float32Array.of(NaN))[0] << 16).buffer)[0]));

  const halves = Uint16Array.from({ length: 65536 }, (_, i) => i).filter((h) => (h & 0x7f80) !== 0x7f80);
  const header = { x: { dtype: 'BF16', shape: [halves.length], data_offsets: [0, halves.length * 2] } };
  const asF32 = Safetensors.parse(fileWith(header, new Uint8Array(halves.buffer)), 'mem').float32('x');
  const back = Safetensors.parse(serializeSafetensors([{ name: 'x', shape: [asF32.length], data: asF32, dtype: 'BF16' }]), 'mem');
  assert.equal(back.entry('x').dtype, 'BF16');
  assert.deepEqual(new Uint16Array(back.raw('x').slice().buffer), halves);
});
