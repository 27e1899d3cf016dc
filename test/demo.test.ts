// `softprompt demo` end to end on the embedded default model, shortened: run from another directory, it trains,
// measures held-out loss, generates twice, saves an adapter and the loss curve. No fixtures needed.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { assertSvg, svgTexts } from './svg.js';

const dir = mkdtempSync(join(tmpdir(), 'softprompt-demo-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const bin = resolve('bin', 'softprompt.js');

test('softprompt demo lowers the held-out loss, shows both generations and saves the adapter and loss curve', () => {
  const args = ['demo', '--output_dir', 'adapter', '--num_train_epochs', '2', '--max_examples', '40', '--max_new_tokens', '8', '--json'];
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', cwd: dir });
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  assert.ok(summary.held_out_loss_after < summary.held_out_loss_before, JSON.stringify(summary));
  assert.match(summary.baseline, /^It was \S/);
  assert.match(summary.tuned, /^It was \S/);
  const out = join(dir, 'adapter');
  assert.ok(existsSync(join(out, 'adapter_config.json')) && existsSync(join(out, 'adapter_model.safetensors')));
  const svg = readFileSync(join(out, 'loss_curve.svg'), 'utf8');
  assertSvg(svg);
  for (const word of ['training loss', 'held-out loss', 'step']) assert.ok(svgTexts(svg).includes(word), word);
});

test('softprompt demo names what is missing when its model is absent', () => {
  const r = spawnSync(process.execPath, [bin, 'demo', '--model', join(dir, 'nope')], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /the demo's model is not here/);
});
