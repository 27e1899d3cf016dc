// Sizes that cannot fit are refused up front with one line, before any allocation: a prompt longer than the model's
// positions, an example beyond them (RoPE models included), a row whose step cannot fit in memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertUserError, softprompt, tempDir, TINY_MODEL, TINY_TEXTS } from './cli-helpers.js';
import { FIXTURES, fixture } from './fixtures.js';

const BLOOM = join(FIXTURES, 'models', 'bloom-tiny-4h');
const LLAMA = join(FIXTURES, 'models', 'llama-tiny');

function train(model: string, dataset: string, extra: string[]) {
  const started = Date.now();
  const r = softprompt(['train', '--model', model, '--dataset', dataset, '--output_dir', tempDir(), '--max_steps', '1', '--save_strategy', 'no', ...extra], { timeout: 30_000 });
  return { ...r, seconds: (Date.now() - started) / 1000 };
}

function textFile(text: string): string {
  const path = join(tempDir(), 'data.jsonl');
  writeFileSync(path, `${JSON.stringify({ text })}\n${JSON.stringify({ text: 'Once upon a time' })}\n`);
  return path;
}

test('--num_virtual_tokens 100000 is refused at once, naming the position limit (RoPE) or the memory it needs (ALiBi)', (t) => {
  if (!fixture(t, 'models', 'stories260K') || !fixture(t, 'models', 'bloom-tiny-4h')) return;
  const rope = train(TINY_MODEL, TINY_TEXTS, ['--max_length', '16', '--num_virtual_tokens', '100000']);
  assertUserError(rope, /num_virtual_tokens: is 100000, leaving no room for tokens within the model's max_position_embeddings 512/);
  const alibi = train(BLOOM, TINY_TEXTS, ['--max_length', '16', '--num_virtual_tokens', '100000', '--max_memory', '2GB']);
  assertUserError(alibi, /train_dataset: the longest example \(\d+ tokens\) needs about [\d.]+ GB for one training step, more than max_memory/);
  assert.ok(rope.seconds < 10 && alibi.seconds < 10, `${rope.seconds} s, ${alibi.seconds} s`);
});

test('a 1 MB row without --max_length is refused before training, naming the limit', (t) => {
  if (!fixture(t, 'models', 'stories260K') || !fixture(t, 'models', 'bloom-tiny-4h')) return;
  const data = textFile('Once upon a time there was a cat. '.repeat(30_000));
  assertUserError(train(TINY_MODEL, data, []), /train_dataset: an example of \d+ tokens plus 8 virtual tokens takes \d+ positions, beyond the model's max_position_embeddings 512 \(truncate examples with max_length <= 504\)/);
  assertUserError(train(BLOOM, data, []), /train_dataset: the longest example .* more than max_memory/);
});

test('virtual + real tokens beyond max_position_embeddings of a RoPE model are refused, not trained silently', (t) => {
  if (!fixture(t, 'models', 'llama-tiny')) return;
  const data = textFile('Once upon a time there was a cat. '.repeat(200));
  assertUserError(train(LLAMA, data, ['--max_length', '250', '--num_virtual_tokens', '8']), /positions, beyond the model's max_position_embeddings 256/);
  const ok = train(LLAMA, data, ['--max_length', '248', '--num_virtual_tokens', '8']);
  assert.equal(ok.code, 0, ok.stderr);
});
