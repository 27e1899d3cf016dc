// `softprompt compare` on stories260K with its training texts, tiny settings: measured rows whose numbers agree
// with what each method is (fine-tuning trains and stores everything, prompt tuning n x H floats, prompt engineering
// nothing but its text), written as Markdown and JSON.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/models/pretrained.js';
import { countBaseParameters } from '../src/peft/parameters.js';
import type { Comparison } from '../src/compare/compare.js';
import { fixture } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'softprompt-compare-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('compare measures prompt engineering, prompt tuning and fine-tuning with consistent numbers', async (t) => {
  const model = fixture(t, 'models', 'stories260K');
  const texts = fixture(t, 'golden', 'stories260K', 'train_texts.json');
  if (!model || !texts) return;
  const out = join(dir, 'table');
  const args = ['compare', '--model', model, '--dataset', texts, '--prompt', 'Tom had a dog named Max.', '--num_virtual_tokens', '4',
    '--num_train_epochs', '1', '--max_examples', '24', '--out', out, '--json'];
  const r = spawnSync(process.execPath, ['bin/softprompt.js', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const result: Comparison = JSON.parse(r.stdout);
  assert.deepEqual(JSON.parse(readFileSync(`${out}.json`, 'utf8')), result);
  const [base, engineering, tuning, ptuning, prefix, finetuning] = result.rows;
  assert.deepEqual(result.rows.map((row) => row.method), ['base model', 'prompt engineering', 'prompt tuning', 'P-tuning', 'prefix tuning', 'fine-tuning']);
  assert.equal(base.trainable_params + base.bytes_per_task + base.train_seconds, 0);

  const config = await loadConfig(model);
  const H = config.hiddenSize;
  assert.equal(engineering.trainable_params, 0);
  assert.equal(engineering.train_seconds, 0);
  assert.equal(engineering.bytes_per_task, 'Tom had a dog named Max.'.length);
  assert.equal(tuning.trainable_params, 4 * H);
  assert.ok(tuning.bytes_per_task >= 4 * H * 4 && tuning.bytes_per_task < 4 * H * 4 + 4096, `adapter bytes ${tuning.bytes_per_task}`);
  // P-tuning trains its MLP (3 Linear layers of width H) but stores only its output; prefix tuning a key and a value
  // per layer and KV head.
  assert.equal(ptuning.trainable_params, 4 * H + 3 * (H * H + H));
  assert.ok(ptuning.bytes_per_task >= 4 * H * 4 && ptuning.bytes_per_task < 4 * H * 4 + 4096, `P-tuning adapter bytes ${ptuning.bytes_per_task}`);
  assert.equal(prefix.trainable_params, 4 * 2 * config.numLayers * config.numKvHeads * config.headDim);
  assert.ok(prefix.bytes_per_task >= prefix.trainable_params * 4 && prefix.bytes_per_task < prefix.trainable_params * 4 + 4096);
  assert.equal(finetuning.trainable_params, countBaseParameters(config));
  assert.ok(finetuning.bytes_per_task >= finetuning.trainable_params * 4);
  assert.ok(finetuning.bytes_per_task > tuning.bytes_per_task && tuning.bytes_per_task > engineering.bytes_per_task);
  for (const row of result.rows) assert.ok(Number.isFinite(row.held_out_loss) && row.peak_rss_mb > 0, JSON.stringify(row));
  assert.deepEqual(result.examples, { train: 18, held_out: 6 });

  const table = readFileSync(`${out}.md`, 'utf8');
  assert.match(table, /\| method \| trainable params \| stored per task \| training time \| peak memory \(RSS\) \| held-out loss \|/);
  assert.match(table, /\| fine-tuning \| 260,032 \|/);
});

test('compare names a missing model and refuses a bad option', () => {
  const missing = spawnSync(process.execPath, ['bin/softprompt.js', 'compare', '--model', join(dir, 'nope')], { encoding: 'utf8' });
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /no model directory here/);
  const bad = spawnSync(process.execPath, ['bin/softprompt.js', 'compare', '--model', dir, '--num_virtual_tokens', '0'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--num_virtual_tokens: is "0"; expected an integer >= 1/);
});
