// Leftovers: what a killed save left is tidied on the next run; a config with 10^5 layers fails fast; and messages
// that used to mislead (a loss that went up called "-3.1% lower", a rounded u64, "token id 1.5 is outside the
// vocabulary", "NaN tokens/s" after resuming a finished run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { change } from '../src/cli/demo.js';
import { ShapeError } from '../src/errors.js';
import { modelFromPretrained } from '../src/models/pretrained.js';
import { DirectoryCheckpointStore } from '../src/train/checkpoint-files.js';
import { Safetensors } from '../src/weights/safetensors.js';
import { assertUserError, softprompt, tempDir, TINY_MODEL, trainTiny } from './cli-helpers.js';
import { fixture } from './fixtures.js';

test("the next run removes a killed save's temporary files and restores a checkpoint moved aside", async () => {
  const dir = tempDir();
  mkdirSync(join(dir, '.checkpoint-3.0123456789ab.tmp'));
  writeFileSync(join(dir, '.checkpoint-3.0123456789ab.tmp', 'trainer_state.json'), '{');
  writeFileSync(join(dir, '.adapter_model.safetensors.0123456789ab.tmp'), 'partial');
  mkdirSync(join(dir, '.checkpoint-2.aaaaaaaaaaaa.old'));
  writeFileSync(join(dir, '.checkpoint-2.aaaaaaaaaaaa.old', 'x'), 'kept');
  mkdirSync(join(dir, 'checkpoint-1'));
  mkdirSync(join(dir, '.checkpoint-1.bbbbbbbbbbbb.old'));
  writeFileSync(join(dir, 'notes.txt'), 'mine');
  await new DirectoryCheckpointStore(dir).prepare();
  assert.deepEqual(readdirSync(dir).sort(), ['checkpoint-1', 'checkpoint-2', 'notes.txt']);
  assert.equal(readFileSync(join(dir, 'checkpoint-2', 'x'), 'utf8'), 'kept');
});

test('generate with num_hidden_layers 100000 fails within seconds, naming the missing tensor', (t) => {
  if (!fixture(t, 'models', 'stories260K')) return;
  const model = tempDir();
  for (const f of readdirSync(TINY_MODEL)) if (f !== 'config.json') symlinkSync(join(TINY_MODEL, f), join(model, f));
  const config = JSON.parse(readFileSync(join(TINY_MODEL, 'config.json'), 'utf8'));
  writeFileSync(join(model, 'config.json'), JSON.stringify({ ...config, num_hidden_layers: 100000 }));
  const started = Date.now();
  assertUserError(softprompt(['generate', '--model', model, '--prompt', 'Once', '--max_new_tokens', '2'], { timeout: 30_000 }), /tensor 'model\.layers\.5\..*' not found/);
  assert.ok(Date.now() - started < 10_000, `${Date.now() - started} ms`);
});

test('a loss that went up is "higher", not a negative "lower"', () => {
  assert.equal(change(2, 1.5), '25.0% lower');
  assert.equal(change(2, 2.062), '3.1% higher');
});

test('a safetensors header length past 2^53 is printed exactly', () => {
  const bytes = new Uint8Array(16);
  new DataView(bytes.buffer).setBigUint64(0, 2n ** 63n - 1n, true);
  assert.throws(() => Safetensors.parse(bytes, 'f'), /header length 9223372036854775807 runs past/);
});

test('a fractional token id is "not an integer", not "outside the vocabulary"', async (t) => {
  if (!fixture(t, 'models', 'stories260K')) return;
  const model = await modelFromPretrained(TINY_MODEL);
  try {
    await assert.rejects(model.forward({ input_ids: [[1.5]] }), (e) => e instanceof ShapeError && /input_ids: token id 1\.5 is not an integer$/.test(e.message));
  } finally {
    await model.engine.close();
  }
});

test('resuming a run that had finished reports 0 tokens/s, not NaN', (t) => {
  if (!fixture(t, 'models', 'stories260K')) return;
  const out = tempDir();
  assert.equal(trainTiny(out, ['--max_steps', '2', '--save_steps', '1']).code, 0);
  const again = trainTiny(out, ['--max_steps', '2', '--save_steps', '1', '--resume']);
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stdout + again.stderr, /NaN/);
  const json = trainTiny(out, ['--max_steps', '2', '--save_steps', '1', '--resume', '--json']);
  assert.equal(JSON.parse(json.stdout).train_tokens_per_second, 0);
});
