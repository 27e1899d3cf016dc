// Runs that mix: a fresh run refuses an output_dir holding another run's checkpoints (unless --overwrite_output_dir);
// --resume refuses a checkpoint whose model, adapter config or data differ, naming which; trainer_state.json is
// validated field by field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError } from '../src/errors.js';
import { parseTrainerState } from '../src/train/checkpoint.js';
import { assertUserError, softprompt, tempDir, TINY_MODEL, trainTiny } from './cli-helpers.js';
import { fixture } from './fixtures.js';

const run = ['--max_steps', '2', '--save_steps', '1', '--per_device_train_batch_size', '4'];

test("a fresh run into an output_dir with another run's checkpoints is refused; --overwrite_output_dir starts over", (t) => {
  if (!fixture(t, 'models', 'stories260K')) return;
  const out = tempDir();
  assert.equal(trainTiny(out, run).code, 0);
  assertUserError(trainTiny(out, ['--max_steps', '1', '--save_steps', '1']), /holds checkpoints of an earlier run \(checkpoint-1, checkpoint-2\); continue it with --resume, or start over with --overwrite_output_dir/);
  const over = trainTiny(out, ['--max_steps', '1', '--save_steps', '1', '--overwrite_output_dir']);
  assert.equal(over.code, 0, over.stderr);
  assert.deepEqual(readdirSync(out).filter((n) => n.startsWith('checkpoint-')), ['checkpoint-1']);
});

test('--resume refuses a checkpoint of another adapter config or other data, saying which', (t) => {
  if (!fixture(t, 'models', 'stories260K')) return;
  const out = tempDir();
  assert.equal(trainTiny(out, run).code, 0);
  const longer = [...run.map((a) => (a === '2' ? '4' : a)), '--resume'];
  assertUserError(trainTiny(out, [...longer, '--num_virtual_tokens', '4']), /checkpoint-2: was written by a run with a different adapter config/);
  const other = join(tempDir(), 'other.json');
  writeFileSync(other, JSON.stringify(Array.from({ length: 10 }, (_, i) => ({ text: `Another story number ${i}.` }))));
  const r = softprompt(['train', '--model', TINY_MODEL, '--dataset', other, '--output_dir', out, '--max_length', '64', ...longer]);
  assertUserError(r, /checkpoint-2: was written by a run with a different training data/);
  const same = trainTiny(out, longer);
  assert.equal(same.code, 0, same.stderr);
});

const good = {
  global_step: 2, epoch: 0.2, max_steps: 4, num_train_epochs: 1, train_batch_size: 4, logging_steps: 500, eval_steps: 500,
  save_steps: 1, log_history: [], epoch_index: 0, micro_batches_in_epoch: 2, total_micro_batches: 2,
  rng_state: [1, 2, 3, 4], total_loss: 0, loss_since_log: 5.5, last_logged_step: 0,
};

test('trainer_state.json is validated field by field', () => {
  assert.equal(parseTrainerState(good, 'ts').global_step, 2);
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ global_step: -5 }, /"global_step" is -5; expected an integer >= 0/],
    [{ epoch: 1e300 }, /"epoch" 1e\+300/],
    [{ rng_state: [0, 0, 0, 0] }, /"rng_state"/],
    [{ rng_state: 'x' }, /"rng_state"/],
    [{ total_loss: null }, /"total_loss" is null; expected a finite number/],
    [{ last_logged_step: 3 }, /"last_logged_step" 3 is past "global_step" 2/],
    [{ global_step: 9 }, /"global_step" 9 is past "max_steps" 4/],
    [{ log_history: [{ loss: 'a' }] }, /"log_history"/],
    [{ train_batch_size: 0 }, /"train_batch_size" is 0/],
  ];
  for (const [change, message] of cases) {
    assert.throws(() => parseTrainerState({ ...good, ...change }, 'ts'), (e) => e instanceof FormatError && message.test(e.message), JSON.stringify(change));
  }
});
