// The CLI with every prompt-learning method: `forward --adapter` and `generate --json --adapter` on the adapters PEFT
// saved (logits and greedy ids as PEFT's; a batch JSON's task_ids for multitask), and `train --peft_type` for each
// method, multitask reading a task_id column.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAdapter } from '../src/peft/adapter-files.js';
import { Safetensors } from '../src/weights/safetensors.js';
import { FIXTURES, fixture } from './fixtures.js';
import { relDiff } from './golden.js';

const dir = mkdtempSync(join(tmpdir(), 'softprompt-cli-methods-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['bin/softprompt.js', ...args], { encoding: 'utf8' });
}

const METHODS = ['ptuning_mlp', 'ptuning_lstm', 'prefix_noproj', 'prefix_proj', 'multitask'];

for (const name of ['bloom-tiny-4h', 'llama-tiny']) {
  test(`${name}: forward --adapter and generate --json --adapter give PEFT's logits and ids for every method`, (t) => {
    const modelDir = fixture(t, 'models', name);
    if (!modelDir || !fixture(t, 'golden-methods', name)) return;
    const inputs = JSON.parse(readFileSync(join(FIXTURES, 'golden-methods', name, 'inputs.json'), 'utf8'));
    for (const method of METHODS) {
      const g = join(FIXTURES, 'golden-methods', name, method);
      const results = JSON.parse(readFileSync(join(g, 'results.json'), 'utf8'));
      const tensors = Safetensors.parse(readFileSync(join(g, 'tensors.safetensors')), g);
      const batchPath = join(dir, `${name}-${method}.json`);
      writeFileSync(batchPath, JSON.stringify({ ...inputs.cases.left, task_ids: results.task_ids?.left }));
      const out = join(dir, `${name}-${method}.safetensors`);
      const r = cli('forward', '--model', modelDir, '--adapter', join(g, 'adapter'), '--batch', batchPath, '--out', out, '--grad', '--json');
      assert.equal(r.status, 0, r.stderr);
      const file = Safetensors.parse(readFileSync(out), out);
      assert.ok(relDiff(file.float32('logits'), tensors.float32('left.peft_logits')) < 5e-6, `${method}: logits`);
      assert.ok(Math.abs(file.float32('loss')[0] - results['left.loss']) < 1e-5, `${method}: loss`);
      assert.ok(method === 'multitask' ? file.has('grad.prefix_task_rows') : file.has('grad'), `${method}: grad`);

      const left = { input_ids: inputs.cases.left.input_ids, attention_mask: inputs.cases.left.attention_mask };
      writeFileSync(batchPath, JSON.stringify(left));
      const taskFlag = method === 'multitask' ? ['--task_ids', results.task_ids.left.join(',')] : [];
      const gen = cli(
        'generate', '--model', modelDir, '--adapter', join(g, 'adapter'), '--batch', batchPath, '--json', ...taskFlag,
        '--max_new_tokens', '8', '--repetition_penalty', '1.5',
      );
      assert.equal(gen.status, 0, gen.stderr);
      assert.deepEqual(JSON.parse(gen.stdout).sequences, results['left.generate_ids'], `${method}: generate`);
    }
  });
}

test('train --peft_type trains each method and saves its adapter; multitask reads a task_id column', async (t) => {
  const modelDir = fixture(t, 'models', 'stories260K');
  if (!modelDir) return;
  const data = join(dir, 'tasks.csv');
  writeFileSync(data, 'text,task_id\nOnce upon a time there was a cat.,0\nThe dog ran to the park.,1\nLily liked her red ball.,0\nTom was happy.,1\n');
  const runs: Array<[string, string[]]> = [
    ['P_TUNING', ['--encoder_reparameterization_type', 'LSTM', '--encoder_hidden_size', '8']],
    ['PREFIX_TUNING', ['--prefix_projection', '--encoder_hidden_size', '8']],
    ['MULTITASK_PROMPT_TUNING', ['--num_tasks', '2']],
  ];
  for (const [type, flags] of runs) {
    const out = join(dir, type);
    const r = cli(
      'train', '--model', modelDir, '--dataset', data, '--output_dir', out, '--peft_type', type, ...flags,
      '--num_virtual_tokens', '4', '--max_steps', '2', '--per_device_train_batch_size', '2', '--learning_rate', '0.01', '--json',
    );
    assert.equal(r.status, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.global_step, 2);
    const adapter = await loadAdapter(out);
    assert.equal(adapter.peftType, type);
    assert.deepEqual([...adapter.tensors.keys()].sort(), type === 'MULTITASK_PROMPT_TUNING' ? ['prefix_task_cols', 'prefix_task_rows', 'prompt_embeddings'] : ['prompt_embeddings']);
    assert.ok(readFileSync(join(out, 'checkpoint-2', 'trainer_state.json')).length > 0);
  }
  const bad = cli('train', '--model', modelDir, '--dataset', data, '--output_dir', join(dir, 'bad'), '--peft_type', 'MULTITASK_PROMPT_TUNING', '--task_id_column', 'nope', '--max_steps', '1');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /column "nope"/);
});

test('train takes the task format with any method: a multitask prompt-completion run, its task ids kept through the split', async (t) => {
  const modelDir = fixture(t, 'models', 'stories260K');
  if (!modelDir) return;
  const data = join(dir, 'task-format.jsonl');
  const rows = ['a cat', 'a dog', 'a red ball', 'a big tree', 'a small bird', 'a green frog'].map((thing, i) => ({ thing, answer: i % 2 ? 'yes' : 'no', task: i % 3 }));
  writeFileSync(data, rows.map((r) => JSON.stringify(r)).join('\n'));
  const runs: Array<[string, string[]]> = [
    ['MULTITASK_PROMPT_TUNING', ['--num_tasks', '3', '--task_id_column', 'task', '--validation_split', '2']],
    ['PREFIX_TUNING', []],
    ['P_TUNING', ['--encoder_hidden_size', '8']],
  ];
  for (const [type, flags] of runs) {
    const out = join(dir, `task-format-${type}`);
    const r = cli(
      'train', '--model', modelDir, '--dataset', data, '--template', 'Lily saw {thing}. Was she happy?', '--completion_template', ' {answer}',
      '--output_dir', out, '--peft_type', type, ...flags, '--num_virtual_tokens', '2', '--max_steps', '2', '--per_device_train_batch_size', '2', '--json',
    );
    assert.equal(r.status, 0, `${type}: ${r.stderr}`);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.global_step, 2);
    assert.equal(summary.num_examples + summary.num_validation_examples, rows.length);
    const adapter = await loadAdapter(out);
    assert.equal(adapter.peftType, type);
    // Task mode places prompt-like methods' virtual tokens before the completion; a prefix stays in front.
    assert.equal(adapter.config.virtual_tokens_position, type === 'PREFIX_TUNING' ? undefined : 'before_completion', type);
  }
  // A task id beyond num_tasks is refused when its batch runs: the column was read.
  const bad = cli(
    'train', '--model', modelDir, '--dataset', data, '--template', '{thing}', '--completion_template', ' {answer}', '--output_dir', join(dir, 'bad-tasks'),
    '--peft_type', 'MULTITASK_PROMPT_TUNING', '--num_tasks', '2', '--task_id_column', 'task', '--max_steps', '3',
  );
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /task_ids/);
});
