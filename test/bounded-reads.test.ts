// Metadata files are read with a size cap: a config.json or adapter symlinked to /dev/zero (or a huge file) fails
// quickly with one line instead of growing memory without end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError } from '../src/errors.js';
import { readFileCapped, readJson } from '../src/hub/local.js';
import { loadAdapter } from '../src/peft/adapter-files.js';
import { assertUserError, softprompt, tempDir, TINY_MODEL } from './cli-helpers.js';
import { fixture } from './fixtures.js';

const endless = existsSync('/dev/zero');

test('readFileCapped refuses a file past the cap by its size, and an endless one after the cap', async (t) => {
  const dir = tempDir();
  writeFileSync(join(dir, 'big'), new Uint8Array(2000));
  await assert.rejects(readFileCapped(join(dir, 'big'), 1000), (e) => e instanceof FormatError && /big: is 2000 bytes, more than the 1000 bytes/.test(e.message));
  assert.equal((await readFileCapped(join(dir, 'big'), 2000)).length, 2000);
  if (!endless) return t.skip('no /dev/zero');
  symlinkSync('/dev/zero', join(dir, 'zero'));
  await assert.rejects(readFileCapped(join(dir, 'zero'), 10_000), /zero: does not end within that size/);
});

test('a config.json or adapter symlinked to /dev/zero errors within seconds and bounded memory', async (t) => {
  if (!endless) return t.skip('no /dev/zero');
  const dir = tempDir();
  symlinkSync('/dev/zero', join(dir, 'config.json'));
  const before = process.memoryUsage().rss;
  const started = Date.now();
  await assert.rejects(readJson(join(dir, 'config.json')), FormatError);
  symlinkSync('/dev/zero', join(dir, 'adapter_config.json'));
  await assert.rejects(loadAdapter(dir), FormatError);
  assert.ok(Date.now() - started < 5000, `${Date.now() - started} ms`);
  assert.ok(process.memoryUsage().rss - before < 600 * 2 ** 20);
});

test('softprompt generate with a model whose config.json is /dev/zero, or an adapter of /dev/zero: one line, exit 2', (t) => {
  if (!endless || !fixture(t, 'models', 'stories260K')) return;
  const model = tempDir();
  for (const f of readdirSync(TINY_MODEL)) if (f !== 'config.json') symlinkSync(join(TINY_MODEL, f), join(model, f));
  symlinkSync('/dev/zero', join(model, 'config.json'));
  assertUserError(softprompt(['generate', '--model', model, '--prompt', 'Once'], { timeout: 20_000 }), /config\.json: does not end within/);
  const adapter = tempDir();
  writeFileSync(join(adapter, 'adapter_config.json'), JSON.stringify({ peft_type: 'PROMPT_TUNING' }));
  symlinkSync('/dev/zero', join(adapter, 'adapter_model.safetensors'));
  assertUserError(softprompt(['generate', '--model', TINY_MODEL, '--adapter', adapter, '--prompt', 'Once'], { timeout: 20_000 }), /adapter_model\.safetensors: does not end within/);
});
