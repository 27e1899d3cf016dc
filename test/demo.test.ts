// `softprompt demo` end to end, shortened: it trains, measures held-out loss, generates twice and saves an adapter.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixture } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'softprompt-demo-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('softprompt demo lowers the held-out loss, shows both generations and saves a PEFT adapter', (t) => {
  const model = fixture(t, 'models', 'stories260K');
  const dataset = fixture(t, 'golden', 'stories260K', 'train_texts.json');
  if (!model || !dataset) return;
  const out = join(dir, 'adapter');
  const args = ['--model', model, '--dataset', dataset, '--prompt', 'Once upon a time', '--learning_rate', '0.3'];
  const r = spawnSync(process.execPath, ['bin/softprompt.js', 'demo', ...args, '--output_dir', out, '--num_train_epochs', '2', '--json'], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  assert.ok(summary.held_out_loss_after < summary.held_out_loss_before, JSON.stringify(summary));
  assert.match(summary.baseline, /^Once upon a time/);
  assert.match(summary.tuned, /^Once upon a time/);
  assert.ok(existsSync(join(out, 'adapter_config.json')) && existsSync(join(out, 'adapter_model.safetensors')));
});

test('softprompt demo names what is missing when its model is absent', () => {
  const r = spawnSync(process.execPath, ['bin/softprompt.js', 'demo', '--model', join(dir, 'nope')], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /the demo's model is not here/);
});
