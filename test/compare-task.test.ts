// `softprompt compare` on a classification task, tiny: stories260K told happy from sad sentences in one epoch. Its
// rows must be what `train` and `eval` give for the same flags (the adapters byte for byte, every row's
// accuracy and macro-F1), its learning curve one point per method and size, and bad flags typed errors.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/models/pretrained.js';
import { countBaseParameters } from '../src/peft/parameters.js';
import { balancedOrder, type TaskComparison } from '../src/compare/task-compare.js';
import { assertUserError, softprompt, tempDir, TINY_MODEL } from './cli-helpers.js';
import { fixture } from './fixtures.js';

const dir = tempDir('softprompt-compare-task-');
after(() => rmSync(dir, { recursive: true, force: true }));

const HAPPY = ['Tom played with his dog Max in the sun.', 'Lily laughed and hugged her mom.', 'The kids ate cake at the party.', 'Max ran to Tom and wagged his tail.', 'They had fun at the park all day.', 'The bird sang a happy song.', 'Tom got a new red ball.', 'Lily smiled at the big tree.'];
const SAD = ['Tom fell and hurt his knee.', 'Lily cried because her toy broke.', 'The dog was lost in the rain.', 'Max was sad and alone.', 'The cat was scared of the loud noise.', 'Tom lost his ball in the river.', 'The boy was angry at his friend.', 'It was dark and cold outside.'];
const rows = HAPPY.flatMap((text, i) => [{ text, label: 'happy' }, { text: SAD[i], label: 'sad' }]);
const jsonl = (name: string, part: object[]) => {
  const path = join(dir, name);
  writeFileSync(path, part.map((r) => JSON.stringify(r)).join('\n'));
  return path;
};
const train = jsonl('train.jsonl', rows.slice(0, 10));
const test_ = jsonl('test.jsonl', rows.slice(10));
const TASK = ['--template', '{text} Tom felt', '--choices', 'happy,sad', '--label_column', 'label'];

function evalScores(args: string[]): { acc: number; f1: number } {
  const r = softprompt(['eval', '--dataset', test_, ...TASK, '--no_baseline', '--json', ...args]);
  assert.equal(r.code, 0, r.stderr);
  const entry = Object.values(JSON.parse(r.stdout).results as Record<string, Record<string, number>>)[0];
  return { acc: entry['acc,none'], f1: entry['f1,none'] };
}

test('compare on a task: majority, k-shot, prompt tuning and fine-tuning rows as train and eval compute them, and a learning curve', async (t) => {
  if (!fixture(t, 'models', 'stories260K')) return;
  const out = join(dir, 'table');
  const saved = join(dir, 'saved');
  const r = softprompt(['compare', '--model', TINY_MODEL, '--dataset', train, '--eval_dataset', test_, ...TASK, '--completion_template', ' {label}',
    '--num_fewshot', '0,2', '--train_sizes', '4,10', '--num_train_epochs', '1', '--output_dir', saved, '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const c: TaskComparison = JSON.parse(r.stdout);
  assert.deepEqual(JSON.parse(readFileSync(`${out}.json`, 'utf8')), c);
  assert.deepEqual(c.rows.map((row) => [row.method, row.num_fewshot]), [
    ['majority class', 0], ['prompt engineering', 0], ['prompt engineering', 2], ['prompt tuning', 0], ['P-tuning', 0], ['prefix tuning', 0], ['fine-tuning', 0],
  ]);
  const [majority, zero, two, tuning, ptuning, prefix, finetuning] = c.rows;
  assert.equal(majority.acc, 0.5);
  assert.equal(majority.peak_rss_mb, null);

  // Prompt tuning is train's task mode: the same flags give the same adapter.
  const trained = join(dir, 'trained');
  const tr = softprompt(['train', '--model', TINY_MODEL, '--dataset', train, '--template', '{text} Tom felt', '--completion_template', ' {label}',
    '--num_train_epochs', '1', '--output_dir', trained, '--json']);
  assert.equal(tr.code, 0, tr.stderr);
  const adapter = join(saved, 'prompt-tuning');
  assert.deepEqual(readFileSync(join(adapter, 'adapter_model.safetensors')), readFileSync(join(trained, 'adapter_model.safetensors')));

  const config = await loadConfig(TINY_MODEL);
  const size = (d: string, names: string[]) => names.reduce((n, name) => n + statSync(join(d, name)).size, 0);
  // Every row scores what eval scores.
  const pick = (row: { acc: number; f1: number }) => ({ acc: row.acc, f1: row.f1 });
  assert.deepEqual(pick(zero), evalScores(['--model', TINY_MODEL]));
  assert.deepEqual(pick(two), evalScores(['--model', TINY_MODEL, '--num_fewshot', '2', '--fewshot_dataset', train]));
  assert.deepEqual(pick(tuning), evalScores(['--model', TINY_MODEL, '--adapter', adapter]));
  assert.deepEqual(pick(finetuning), evalScores(['--model', join(saved, 'fine-tuning')]));
  // P-tuning and prefix tuning are train's --peft_type runs, scored as eval scores their saved adapters.
  for (const [row, peftType, name] of [[ptuning, 'P_TUNING', 'p-tuning'], [prefix, 'PREFIX_TUNING', 'prefix-tuning']] as const) {
    const trainedMethod = join(dir, `trained-${name}`);
    const run = softprompt(['train', '--model', TINY_MODEL, '--dataset', train, '--template', '{text} Tom felt', '--completion_template', ' {label}',
      '--peft_type', peftType, '--num_train_epochs', '1', '--output_dir', trainedMethod, '--json']);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(readFileSync(join(saved, name, 'adapter_model.safetensors')), readFileSync(join(trainedMethod, 'adapter_model.safetensors')), name);
    assert.deepEqual(pick(row), evalScores(['--model', TINY_MODEL, '--adapter', join(saved, name)]), name);
    assert.equal(row.bytes_per_task, size(join(saved, name), ['adapter_config.json', 'adapter_model.safetensors']), name);
  }

  assert.equal(tuning.trainable_params, 8 * config.hiddenSize);
  assert.equal(tuning.bytes_per_task, size(adapter, ['adapter_config.json', 'adapter_model.safetensors']));
  assert.equal(finetuning.trainable_params, countBaseParameters(config));
  assert.equal(finetuning.bytes_per_task, size(join(saved, 'fine-tuning'), ['config.json', 'model.safetensors']));
  assert.equal(zero.bytes_per_task, 0);
  // Two labelled examples and their delimiters, at least the two shortest.
  const shots = rows.slice(0, 10).map((row) => `${row.text} Tom felt ${row.label}\n\n`.length).sort((a, b) => a - b);
  assert.ok(two.bytes_per_task >= shots[0] + shots[1], `2-shot bytes ${two.bytes_per_task}`);
  for (const row of c.rows.slice(1)) assert.ok(row.peak_rss_mb! > 0 && row.eval_seconds > 0, JSON.stringify(row));
  // Training's peak is measured before scoring, inside the row's own peak; untrained rows have none.
  for (const row of c.rows) {
    const trained = row.train_steps > 0;
    assert.equal(row.train_peak_rss_mb === null, !trained, row.method);
    if (trained) assert.ok(row.train_peak_rss_mb! > 0 && row.train_peak_rss_mb! <= row.peak_rss_mb!, JSON.stringify(row));
  }

  // One epoch at batch 8: 1 step on 4 rows, 2 on 10.
  assert.deepEqual(c.learning_curve.map((p) => [p.method, p.train_examples, p.train_steps]), [['prompt tuning', 4, 1], ['fine-tuning', 4, 1], ['prompt tuning', 10, 2], ['fine-tuning', 10, 2]]);
  // The whole training set is the rows above.
  assert.equal(c.learning_curve[2].accuracy, tuning.acc);
  assert.equal(c.learning_curve[3].accuracy, finetuning.acc);
  assert.match(readFileSync(`${out}.md`, 'utf8'), /\| prompt engineering, 2-shot \| /);
  assert.match(readFileSync(`${out}.svg`, 'utf8'), /^<svg/);
});

test('compare --max_steps: every trained run takes that many steps, whatever its training set size', (t) => {
  if (!fixture(t, 'models', 'stories260K')) return;
  const r = softprompt(['compare', '--model', TINY_MODEL, '--dataset', train, '--eval_dataset', test_, ...TASK, '--completion_template', ' {label}',
    '--num_fewshot', '0', '--train_sizes', '4', '--max_steps', '3', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const c: TaskComparison = JSON.parse(r.stdout);
  assert.deepEqual([...c.rows.map((row) => row.train_steps), ...c.learning_curve.map((p) => p.train_steps)], [0, 0, 3, 3, 3, 3, 3, 3]);
});

test('the learning curve\'s rows: each prefix as balanced as the classes allow, the smaller inside the larger', () => {
  const golds = [0, 0, 0, 0, 0, 0, 1, 1, 1, 0];
  const order = balancedOrder(golds, 42);
  assert.deepEqual([...order].sort((a, b) => a - b), golds.map((_, i) => i));
  assert.deepEqual(order.slice(0, 6).map((i) => golds[i]), [0, 1, 0, 1, 0, 1]);
  assert.deepEqual(balancedOrder(golds, 42), order);
  assert.notDeepEqual(balancedOrder(golds, 1), order);
});

test('compare refuses task flags without a task, text flags with one, and sizes beyond the training rows', (t) => {
  if (!fixture(t, 'models', 'stories260K')) return;
  const task = ['compare', '--model', TINY_MODEL, '--dataset', train, '--eval_dataset', test_, ...TASK, '--completion_template', ' {label}'];
  assertUserError(softprompt(['compare', '--model', TINY_MODEL, '--num_fewshot', '2']), /--num_fewshot: needs --completion_template/);
  assertUserError(softprompt([...task, '--prompt', 'Hi']), /--prompt: applies to held-out loss on texts/);
  assertUserError(softprompt([...task, '--train_sizes', '4,0']), /--train_sizes: is "0"; expected an integer >= 1/);
  assertUserError(softprompt([...task, '--train_sizes', '4,11']), /--train_sizes: 11 is more than the 10 training rows/);
  assertUserError(softprompt([...task, '--num_fewshot', '12']), /--num_fewshot: 12 is more than the 10 training rows/);
  assertUserError(softprompt([...task.filter((a) => a !== '--eval_dataset' && a !== test_)]), /--eval_dataset: a classification task is scored/);
  assertUserError(softprompt([...task, '--label_column', 'gold']), /--label_column: no column "gold"/);
});
