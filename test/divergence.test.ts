// Divergence: a NaN/inf loss, gradient or parameter stops training with a DivergenceError; the step is never saved, the
// last good checkpoint and adapter stay; nothing non-finite is ever written, and non-finite files are refused on load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dataCollatorForLanguageModeling } from '../src/data/collator.js';
import { DivergenceError, ShapeError } from '../src/errors.js';
import { loadAdapter } from '../src/peft/adapter-files.js';
import { parseAdapter, serializeAdapterWeights } from '../src/peft/adapter.js';
import { promptTuningConfig } from '../src/peft/config.js';
import type { ModelConfig } from '../src/models/config.js';
import { parseCheckpoint } from '../src/train/checkpoint.js';
import { Trainer } from '../src/train/trainer.js';
import { loadWeights } from '../src/weights/files.js';
import { Safetensors, serializeSafetensors } from '../src/weights/safetensors.js';
import { assertUserError, softprompt, tempDir, TINY_MODEL, trainTiny } from './cli-helpers.js';
import { fixture } from './fixtures.js';
import { MemoryStore, QuadraticModel, examples } from './trainer-helpers.js';

const collator = dataCollatorForLanguageModeling({ pad_token_id: 0 });
const config = promptTuningConfig({ num_virtual_tokens: 2 }, { arch: 'llama', hiddenSize: 2, numHeads: 1, numLayers: 1 } as ModelConfig);

test('a NaN loss stops training at that step; the checkpoints before it stay and hold finite values', async () => {
  const model = new QuadraticModel();
  model.hook = (_, call) => (call === 2 ? NaN : undefined);
  const store = new MemoryStore();
  const t = new Trainer({ model, train_dataset: examples(10), data_collator: collator, checkpoints: store, args: { per_device_train_batch_size: 10, max_steps: 5, save_steps: 1 } });
  await assert.rejects(t.train(), (e) => e instanceof DivergenceError && /^step 3: the loss is NaN.*last good checkpoint is memory\/checkpoint-2$/.test(e.message));
  assert.deepEqual([...store.checkpoints.keys()], ['checkpoint-1', 'checkpoint-2']);
});

test('a learning rate that blows the parameters up stops training before anything non-finite is saved', async () => {
  const model = new QuadraticModel();
  const store = new MemoryStore();
  const t = new Trainer({ model, train_dataset: examples(10), data_collator: collator, checkpoints: store, args: { learning_rate: 3e38, max_grad_norm: 0, per_device_train_batch_size: 10, max_steps: 5, save_steps: 1 } });
  await assert.rejects(t.train(), DivergenceError);
  for (const [name, files] of store.checkpoints) parseCheckpoint(files, name); // all finite, or this throws
});

test('serializing a non-finite tensor is refused, naming it', () => {
  assert.throws(() => serializeAdapterWeights(config, Float32Array.of(1, NaN, 0, 0)), (e) => e instanceof ShapeError && /prompt_embeddings.*NaN at index 1/.test(e.message));
  assert.throws(() => serializeSafetensors([{ name: 'w', shape: [1], data: Float32Array.of(-Infinity) }]), /tensor "w" holds a non-finite value/);
});

test('an adapter holding NaN or inf is refused on load, naming the tensor', () => {
  const nan = new Float32Array(4).fill(NaN);
  const file = rawSafetensors('prompt_embeddings', [2, 2], nan);
  assert.throws(() => parseAdapter({ peft_type: 'PROMPT_TUNING' }, file, 'dir'), (e) => e instanceof ShapeError && /dir\/adapter_model\.safetensors: not a usable adapter: tensor "prompt_embeddings" holds a non-finite value/.test(e.message));
});

test('model weights holding NaN are refused when the tensor is read, naming it', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'model.safetensors'), rawSafetensors('w', [2], Float32Array.of(1, Infinity)));
  const weights = await loadWeights(dir);
  assert.throws(() => weights.float32('w'), /model\.safetensors: unusable weights: tensor "w" holds a non-finite value \(Infinity at index 1\)/);
});

test('softprompt train --learning_rate 3e38 exits 2 with one line; no adapter and no non-finite checkpoint is saved', (t) => {
  if (!fixture(t, 'models', 'stories260K')) return;
  const out = tempDir();
  const r = trainTiny(out, ['--max_steps', '6', '--save_steps', '1', '--learning_rate', '3e38', '--max_grad_norm', '0']);
  assertUserError(r, /step \d+: .*training diverged/);
  assert.ok(!existsSync(join(out, 'adapter_model.safetensors')));
  for (const name of readdirSync(out)) {
    const dir = join(out, name);
    parseCheckpoint(Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f))])), dir);
  }
});

test('a previous adapter in output_dir survives a diverged run', async (t) => {
  if (!fixture(t, 'models', 'stories260K')) return;
  const out = tempDir();
  assert.equal(trainTiny(out, ['--max_steps', '2', '--save_strategy', 'no']).code, 0);
  const before = readFileSync(join(out, 'adapter_model.safetensors'));
  assertUserError(trainTiny(out, ['--max_steps', '4', '--save_strategy', 'no', '--learning_rate', '3e38', '--max_grad_norm', '0']), /diverged/);
  assert.deepEqual(readFileSync(join(out, 'adapter_model.safetensors')), before);
  await loadAdapter(out);
});

test('softprompt generate refuses a NaN adapter with one line', (t) => {
  if (!fixture(t, 'models', 'stories260K')) return;
  const dir = tempDir();
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ peft_type: 'PROMPT_TUNING', task_type: 'CAUSAL_LM' }));
  writeFileSync(join(dir, 'adapter_model.safetensors'), rawSafetensors('prompt_embeddings', [2, 64], new Float32Array(128).fill(NaN)));
  assertUserError(softprompt(['generate', '--model', TINY_MODEL, '--adapter', dir, '--prompt', 'Once', '--max_new_tokens', '2']), /non-finite/);
});

/** A safetensors file with one F32 tensor, written without the serializer's finiteness check. */
function rawSafetensors(name: string, shape: number[], data: Float32Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify({ [name]: { dtype: 'F32', shape, data_offsets: [0, data.byteLength] } }));
  const out = new Uint8Array(8 + json.length + data.byteLength);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  out.set(new Uint8Array(data.buffer), 8 + json.length);
  Safetensors.parse(out, 'check'); // well-formed
  return out;
}
