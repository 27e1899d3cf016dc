// The default model's recipe repeats: a one-step run of `npm run pretrain:default` trains the same tokenizer, byte for
// byte, and logs the same first loss as the committed models/default/training_log.json.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'softprompt-pretrain-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('pretrain:default reproduces the committed tokenizer and first logged loss', () => {
  const r = spawnSync(process.execPath, ['dist/scripts/pretrain-default.js', '--max_steps', '1', '--out', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const committed = join('models', 'default');
  assert.equal(readFileSync(join(dir, 'tokenizer.json'), 'utf8'), readFileSync(join(committed, 'tokenizer.json'), 'utf8'));
  const first = (path: string) => JSON.parse(readFileSync(join(path, 'training_log.json'), 'utf8')).log_history[0];
  assert.equal(first(dir).step, 1);
  assert.equal(first(dir).loss, first(committed).loss);
});
