/**
 * `npm run bench:checkpoint -- --config FILE --dtype fp32|fp16|bf16 --out DIR`: a random-weight checkpoint in Hugging Face
 * layout (config.json + model.safetensors) with the shape of any supported config, for speed and memory benchmarks
 * at real scale without downloading a model. Tensors are streamed to disk, so a 2 GB checkpoint needs little memory.
 */
import { mkdirSync, openSync, writeSync, closeSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseModelConfig } from '../src/models/config.js';
import { architectureWeights } from '../src/models/graphs.js';
import { f32ToBf16, f32ToF16 } from '../src/weights/safetensors.js';
import { randomFloats } from './util.js';
import { elementCount } from '../src/shape.js';

const { values } = parseArgs({
  options: { config: { type: 'string' }, dtype: { type: 'string', default: 'fp32' }, out: { type: 'string' } },
});
const DTYPES: Record<string, { safetensors: string; torch: string; bytes: number; convert?: (x: Float32Array) => Uint16Array }> = {
  fp32: { safetensors: 'F32', torch: 'float32', bytes: 4 },
  fp16: { safetensors: 'F16', torch: 'float16', bytes: 2, convert: f32ToF16 },
  bf16: { safetensors: 'BF16', torch: 'bfloat16', bytes: 2, convert: f32ToBf16 },
};
const dtype = DTYPES[values.dtype!];
if (!values.config || !values.out || !dtype) {
  console.error('usage: npm run bench:checkpoint -- --config config.json --dtype fp32|fp16|bf16 --out DIR');
  process.exit(2);
}
const rawConfig = JSON.parse(readFileSync(values.config, 'utf8'));
const cfg = parseModelConfig(rawConfig, values.config);

const shapes = architectureWeights(cfg);

const names = [...shapes.keys()].sort();
const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
let offset = 0;
for (const name of names) {
  const n = elementCount(shapes.get(name)!);
  header[name] = { dtype: dtype.safetensors, shape: shapes.get(name), data_offsets: [offset, offset + n * dtype.bytes] };
  offset += n * dtype.bytes;
}
let json = JSON.stringify(header);
json += ' '.repeat((8 - (json.length % 8)) % 8);

mkdirSync(values.out, { recursive: true });
const path = join(values.out, 'model.safetensors');
const temp = `${path}.tmp`;
const fd = openSync(temp, 'w');
const length = Buffer.alloc(8);
length.writeBigUInt64LE(BigInt(json.length));
writeSync(fd, length);
writeSync(fd, json);
let seed = 1;
const chunk = 1 << 22;
for (const name of names) {
  const n = elementCount(shapes.get(name)!);
  // Norm scales near 1 keep activations realistic; everything else small and random.
  const isNorm = /norm|ln_/.test(name) && name.endsWith('weight');
  for (let at = 0; at < n; at += chunk) {
    const m = Math.min(chunk, n - at);
    const data = isNorm ? new Float32Array(m).fill(1) : randomFloats(m, seed++);
    const bytes = dtype.convert ? dtype.convert(data) : data;
    writeSync(fd, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }
}
closeSync(fd);
renameSync(temp, path);
writeFileSync(join(values.out, 'config.json'), JSON.stringify({ ...rawConfig, torch_dtype: dtype.torch }, null, 2));
console.log(`wrote ${path}: ${names.length} tensors, ${(offset / 1e9).toFixed(2)} GB (${values.dtype})`);
