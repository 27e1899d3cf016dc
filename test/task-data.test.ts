// Task-format (prompt-completion) training data: TRL's tokenization and completion_only_loss labels, the loss it gives
// on models/default, and `softprompt train --template ... --completion_template ...`.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataCollatorForLanguageModeling } from '../src/data/collator.js';
import { promptCompletions, tokenizePromptCompletion } from '../src/data/completion.js';
import { OptionError } from '../src/errors.js';
import { modelFromPretrained } from '../src/models/pretrained.js';
import { tokenizerFromPretrained } from '../src/tokenizer/pretrained.js';
import { TASK_MIN_STEPS, taskEpochs } from '../src/train/task-defaults.js';

const dir = mkdtempSync(join(tmpdir(), 'softprompt-task-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A character tokenizer with BOS 1: "ab" -> [1, 97, 98]. */
const chars = { encode: (text: string) => [1, ...[...text].map((c) => c.codePointAt(0)!)] };

test('a prompt-completion pair is labelled on its completion only (-100 on the prompt and on padding)', () => {
  const rows = [{ text: 'hi', label: 'spam' }, { text: 'hello', label: 'ham' }];
  const pairs = promptCompletions(rows, { template: 'E: {text}\nA:', completion_template: ' {label}' }, 'x.jsonl');
  assert.deepEqual(pairs, [{ prompt: 'E: hi\nA:', completion: ' spam' }, { prompt: 'E: hello\nA:', completion: ' ham' }]);
  const examples = pairs.map((p) => tokenizePromptCompletion(p, chars));
  assert.deepEqual(examples[0].completion_mask, [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
  const batch = dataCollatorForLanguageModeling({ pad_token_id: 0 })(examples);
  const code = (s: string) => [...s].map((c) => c.codePointAt(0)!);
  assert.deepEqual(batch.labels, [
    [...new Array(9).fill(-100), ...code(' spam'), -100, -100],
    [...new Array(12).fill(-100), ...code(' ham')],
  ]);
  assert.deepEqual(batch.attention_mask![0], [...new Array(14).fill(1), 0, 0]);
  const left = dataCollatorForLanguageModeling({ pad_token_id: 0, padding_side: 'left' })(examples);
  assert.deepEqual(left.labels![0], [-100, -100, ...new Array(9).fill(-100), ...code(' spam')]);
});

test('a long pair loses the start of its prompt, never its completion', () => {
  const example = tokenizePromptCompletion({ prompt: 'abcdef', completion: 'XY' }, chars, 4);
  assert.deepEqual(example, { input_ids: [...'efXY'].map((c) => c.codePointAt(0)!), completion_mask: [0, 0, 1, 1] });
});

test('columns work as parts; a template and a prompt column together are refused', () => {
  const rows = [{ q: 'a', a: 'b' }];
  assert.deepEqual(promptCompletions(rows, { prompt_column: 'q', completion_column: 'a' }, 'x'), [{ prompt: 'a', completion: 'b' }]);
  assert.throws(() => promptCompletions(rows, { template: '{q}', prompt_column: 'q', completion_column: 'a' }, 'x'), OptionError);
});

test('on models/default the loss of a completion-only batch is the mean -log p of the completion tokens', async () => {
  const tokenizer = await tokenizerFromPretrained('models/default');
  const model = await modelFromPretrained('models/default');
  try {
    const pair = { prompt: 'Message: free tickets now\nAnswer:', completion: ' spam' };
    const example = tokenizePromptCompletion(pair, tokenizer);
    const batch = dataCollatorForLanguageModeling({ pad_token_id: 0 })([example]);
    const out = await model.forward(batch);
    const V = model.config.vocabSize;
    const logits = out.logits!.data as Float32Array;
    const ids = example.input_ids;
    let sum = 0;
    let n = 0;
    for (let t = 1; t < ids.length; t++) {
      if (example.completion_mask[t] === 0) continue;
      const row = logits.subarray((t - 1) * V, t * V);
      const max = Math.max(...row);
      const lse = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
      sum += lse - row[ids[t]];
      n++;
    }
    assert.ok(n >= 1 && n === example.completion_mask.filter((m) => m === 1).length);
    assert.ok(Math.abs(out.loss! - sum / n) < 1e-4, `${out.loss} vs ${sum / n}`);
  } finally {
    await model.engine.close();
  }
});

test('softprompt train --template --completion_template trains an adapter (\\n in a template is a newline)', () => {
  const data = join(dir, 'task.jsonl');
  writeFileSync(data, ['{"text":"free prize call now","label":"spam"}', '{"text":"see you at lunch","label":"ham"}'].join('\n'));
  const out = join(dir, 'adapter');
  const r = spawnSync(process.execPath, [
    'bin/softprompt.js', 'train', '--model', 'models/default', '--dataset', data, '--template', 'Message: {text}\\nAnswer:',
    '--completion_template', ' {label}', '--output_dir', out, '--max_steps', '2', '--save_strategy', 'no', '--json',
  ], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).num_examples, 2);
  assert.ok(JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')).num_virtual_tokens === 8);
  // Without --num_train_epochs or --max_steps, two rows train for TASK_MIN_STEPS steps, not 10.
  const recipe = spawnSync(process.execPath, [
    'bin/softprompt.js', 'train', '--model', 'models/default', '--dataset', data, '--template', 'Message: {text}\\nAnswer:',
    '--completion_template', ' {label}', '--output_dir', join(dir, 'recipe'), '--save_strategy', 'no', '--json',
  ], { encoding: 'utf8' });
  assert.equal(recipe.status, 0, recipe.stderr);
  const summary = JSON.parse(recipe.stdout);
  assert.equal(summary.global_step, TASK_MIN_STEPS);
  // Task mode logs every 10 steps, so the run has a loss curve (HF's 500 would log nothing in 300 steps).
  assert.equal(summary.loss_curve, join(dir, 'recipe', 'loss_curve.svg'));
  assert.match(readFileSync(summary.loss_curve, 'utf8'), /training loss/);
  const bad = spawnSync(process.execPath, [
    'bin/softprompt.js', 'train', '--model', 'models/default', '--dataset', data, '--prompt_column', 'text', '--output_dir', out,
  ], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--prompt_column/);
});

test('library: tokenize_prompt_completion + DataCollatorForLanguageModeling label the completion only', async () => {
  const { AutoTokenizer, DataCollatorForLanguageModeling, tokenize_prompt_completion } = await import('../src/index.js');
  const tokenizer = await AutoTokenizer.from_pretrained('models/default');
  const features = tokenize_prompt_completion(tokenizer, { prompt: 'Message: hi\nAnswer:', completion: ' ham' });
  const prompt = tokenizer.encode('Message: hi\nAnswer:').length;
  const batch = new DataCollatorForLanguageModeling({ tokenizer, mlm: false })([features]);
  assert.deepEqual(batch.labels[0], features.input_ids.map((id, t) => (t < prompt ? -100 : id)));
});

test("task mode's epochs: 10, or enough for TASK_MIN_STEPS optimizer steps on small data", () => {
  assert.equal(TASK_MIN_STEPS, 300);
  assert.equal(taskEpochs(256, 8), 10); // 32 steps an epoch: 320 steps
  assert.equal(taskEpochs(16, 8), 150); // 2 steps an epoch
  assert.equal(taskEpochs(16, 8, 2), 300); // 2 micro-batches, 1 optimizer step an epoch
  assert.equal(taskEpochs(3, 8), 300);
  assert.equal(taskEpochs(5000, 8), 10);
});
