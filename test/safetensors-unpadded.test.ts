// A safetensors header need not be padded to 8 bytes (the format allows any length), so tensor data may start at any
// offset; every reader (adapters, checkpoints, model weights) must read such files from disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAdapter } from '../src/peft/adapter-files.js';
import { DirectoryCheckpointStore } from '../src/train/checkpoint-files.js';
import { parseCheckpoint, TRAINER_STATE } from '../src/train/checkpoint.js';
import { loadWeights } from '../src/weights/files.js';
import { Safetensors } from '../src/weights/safetensors.js';
import { tempDir } from './cli-helpers.js';

/** A safetensors file whose JSON header is `pad` spaces longer than compact, so data starts at 8 + json + pad. */
function unpadded(tensors: Record<string, { dtype: 'F32' | 'F16'; shape: number[]; bytes: Uint8Array }>, metadata: Record<string, string> | null, pad: number): Uint8Array {
  let offset = 0;
  const header: Record<string, unknown> = metadata ? { __metadata__: metadata } : {};
  for (const [name, t] of Object.entries(tensors)) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const t of Object.values(tensors)) {
    out.set(t.bytes, at);
    at += t.bytes.length;
  }
  return out;
}

const f32 = (...v: number[]) => new Uint8Array(Float32Array.from(v).buffer);

for (const pad of [0, 1, 2, 3, 5]) {
  test(`an adapter whose header ends at a ${pad}-space offset loads from disk`, async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'PROMPT_TUNING' }));
    writeFileSync(join(dir, 'adapter_model.safetensors'), unpadded({ prompt_embeddings: { dtype: 'F32', shape: [2, 2], bytes: f32(1, 2, 3, 4) } }, { format: 'pt' }, pad));
    assert.deepEqual(Array.from((await loadAdapter(dir)).prompt), [1, 2, 3, 4]);
  });

  test(`a checkpoint's optimizer state with a ${pad}-space header offset reads back`, async () => {
    const root = tempDir();
    const dir = join(root, 'checkpoint-1');
    mkdirSync(dir);
    writeFileSync(join(dir, 'optimizer.safetensors'), unpadded({ exp_avg: { dtype: 'F32', shape: [3], bytes: f32(1, 2, 3) }, exp_avg_sq: { dtype: 'F32', shape: [3], bytes: f32(4, 5, 6) } }, { step: '1' }, pad));
    writeFileSync(join(dir, TRAINER_STATE), '{}');
    const files = await new DirectoryCheckpointStore(root).read('checkpoint-1');
    assert.throws(() => parseCheckpoint(files, dir), /global_step/); // read past the moments to the state
    const file = Safetensors.parse(readFileSync(join(dir, 'optimizer.safetensors')), 'optimizer');
    assert.deepEqual(Array.from(file.float32('exp_avg_sq')), [4, 5, 6]);
  });

  test(`F16 model weights with a ${pad}-space header offset load`, async () => {
    const dir = tempDir();
    const half = new Uint8Array(Uint16Array.of(0x3c00, 0x4000, 0xc000).buffer); // 1, 2, -2
    writeFileSync(join(dir, 'model.safetensors'), unpadded({ a: { dtype: 'F16', shape: [3], bytes: half }, b: { dtype: 'F32', shape: [1], bytes: f32(7) } }, null, pad));
    const weights = await loadWeights(dir);
    assert.deepEqual(Array.from(weights.float32('a')), [1, 2, -2]);
    assert.deepEqual(Array.from(weights.float32('b')), [7]);
  });
}
