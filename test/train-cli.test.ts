// `softprompt train` as a user runs it: help, bad input (one clear line, exit 2), a full run with --json, and Ctrl-C
// leaving the last checkpoint intact for --resume.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAdapter } from '../src/peft/adapter-files.js';
import { parseCheckpoint } from '../src/train/checkpoint.js';
import { FIXTURES, fixture } from './fixtures.js';
import { relDiff } from './golden.js';
import { assertSvg, svgTexts } from './svg.js';

const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'softprompt.js');
const MODEL = join(FIXTURES, 'models', 'stories260K');
const TEXTS = join(FIXTURES, 'golden', 'stories260K', 'train_texts.json');

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, 'train', ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'softprompt-train-'));
}

function csv(text: string): string {
  const path = join(tempDir(), 'data.csv');
  writeFileSync(path, text);
  return path;
}

const base = (dataset: string, out = tempDir()) => ['--model', MODEL, '--dataset', dataset, '--output_dir', out, '--max_length', '64'];

test('--help lists the TrainingArguments and PromptTuningConfig flags with their defaults', () => {
  const { code, stdout } = cli(['--help']);
  assert.equal(code, 0);
  for (const line of [/--learning_rate <lr> .*\(default: 0\.00005; task mode 0\.03, P-tuning 0\.001\)/, /--num_virtual_tokens <n> .*\(default: 8; task mode 8\)/, /--virtual_tokens_position <where> .*task mode before_completion/, /--per_device_train_batch_size <n> .*\(default: 8\)/, /--lr_scheduler_type/, /--prompt_tuning_init <init>/, /--auto_find_batch_size/, /--resume \[checkpoint\]/]) {
    assert.match(stdout.replace(/\n\s+/g, ' '), line);
  }
});

describe('bad input ends with one line naming the problem and exit code 2', () => {
  const expectError = (args: string[], message: RegExp) => {
    const { code, stderr } = cli(args);
    assert.equal(code, 2, stderr);
    assert.match(stderr, message);
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
  };

  test('a missing column lists the available ones', (t) => {
    if (!fixture(t, 'models', 'stories260K')) return;
    expectError([...base(csv('act,prompt\nPoet,write\n')), '--column', 'text2'], /no column "text2" in .*data\.csv; available columns: act, prompt/);
    expectError([...base(csv('act,prompt\nPoet,write\n')), '--template', 'Act as {role}'], /template: no column "role".*available columns: act, prompt/);
  });

  test('a malformed CSV row names its line (or is skipped with --on_bad_row skip)', (t) => {
    if (!fixture(t, 'models', 'stories260K')) return;
    const path = csv('text\nOnce upon a time\n"a","b"\nThe end\n');
    expectError(base(path), /data\.csv:3: expected 1 fields \(text\), got 2/);
    const { code, stderr } = cli([...base(path), '--on_bad_row', 'skip', '--max_steps', '1', '--save_strategy', 'no']);
    assert.equal(code, 0, stderr);
    assert.match(stderr, /data\.csv:3: expected 1 fields \(text\), got 2 \(skipped\)/);
  });

  test('an empty dataset', (t) => {
    if (!fixture(t, 'models', 'stories260K')) return;
    expectError(base(csv('text\n')), /data\.csv: the dataset has no rows/);
  });

  test('num_virtual_tokens 0 or negative', (t) => {
    if (!fixture(t, 'models', 'stories260K')) return;
    for (const n of ['0', '-3']) expectError([...base(TEXTS), '--num_virtual_tokens', n], new RegExp(`--num_virtual_tokens: is "${n}"; expected an integer >= 1`));
  });

  test('TEXT init without text', (t) => {
    if (!fixture(t, 'models', 'stories260K')) return;
    expectError([...base(TEXTS), '--prompt_tuning_init', 'TEXT'], /prompt_tuning_init_text: is required/);
  });

  test('a learning rate that is NaN or not a number', () => {
    expectError([...base(TEXTS), '--learning_rate', 'nan'], /--learning_rate: is "nan"; expected a finite number/);
    expectError([...base(TEXTS), '--learning_rate', 'fast'], /--learning_rate: is "fast"; expected a finite number/);
  });

  test('a dataset that does not exist', (t) => {
    if (!fixture(t, 'models', 'stories260K')) return;
    expectError(base('no/such/file.csv'), /no\/such\/file\.csv: no such file/);
  });
});

describe('training runs', () => {
  const args = (out: string, steps: number) => [
    ...base(TEXTS, out), '--num_virtual_tokens', '8', '--prompt_tuning_init', 'TEXT', '--prompt_tuning_init_text', 'Once upon a time',
    '--learning_rate', '0.03', '--per_device_train_batch_size', '4', '--max_steps', String(steps), '--save_steps', '5', '--json',
  ];

  test('--json prints the summary; the adapter (PEFT format), loss curve and checkpoints land in output_dir', (t) => {
    if (!fixture(t, 'models', 'stories260K')) return;
    const out = tempDir();
    const { code, stdout, stderr } = cli([...args(out, 10), '--validation_split', '0.1', '--logging_steps', '5']);
    assert.equal(code, 0, stderr);
    const summary = JSON.parse(stdout);
    assert.equal(summary.global_step, 10);
    assert.equal(summary.num_examples, 72);
    assert.equal(summary.num_validation_examples, 8);
    assert.ok(summary.train_loss > 0 && summary.eval_loss > 0 && summary.eval_perplexity > 1);
    assert.equal(summary.trainable_params, 8 * 64);
    assert.deepEqual(readdirSync(out).sort(), ['adapter_config.json', 'adapter_model.safetensors', 'checkpoint-10', 'checkpoint-5', 'loss_curve.svg']);
    assert.equal(summary.loss_curve, join(out, 'loss_curve.svg'));
    const svg = readFileSync(summary.loss_curve, 'utf8');
    assertSvg(svg);
    for (const word of ['training loss', 'eval loss', 'step', 'loss']) assert.ok(svgTexts(svg).includes(word), word);
    // Logged at steps 5 and 10, evaluated once at the end: each point is marked.
    assert.equal(svg.match(/aria-roledescription="point"/g)?.length, 3);
    return loadAdapter(out).then((adapter) => assert.equal(adapter.config.prompt_tuning_init, 'TEXT'));
  });

  test('Ctrl-C saves the last step as a checkpoint and exits 130; --resume continues to the same adapter', async (t) => {
    if (!fixture(t, 'models', 'stories260K')) return;
    const steps = 150;
    const interrupted = tempDir();
    const child = spawn(process.execPath, [BIN, 'train', ...args(interrupted, steps)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      if (!stderr.includes('saved checkpoint-') && (stderr + chunk).includes('saved checkpoint-')) child.kill('SIGINT');
      stderr += chunk;
    });
    const code = await new Promise<number | null>((done) => child.on('close', done));
    assert.equal(code, 130, stderr);
    assert.match(stderr, /interrupted/);
    const names = readdirSync(interrupted);
    assert.ok(names.every((n) => /^checkpoint-\d+$/.test(n)), `leftovers: ${names}`);
    const last = Math.max(...names.map((n) => Number(n.slice('checkpoint-'.length))));
    assert.ok(last < steps, `the run finished (${last}) before the interrupt`);
    const dir = join(interrupted, `checkpoint-${last}`);
    const files = Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f))]));
    assert.equal(parseCheckpoint(files, dir).state.global_step, last);

    const resumed = cli([...args(interrupted, steps), '--resume']);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(JSON.parse(resumed.stdout).global_step, steps);

    const straight = tempDir();
    assert.equal(cli(args(straight, steps)).code, 0);
    const [a, b] = await Promise.all([loadAdapter(interrupted), loadAdapter(straight)]);
    assert.ok(relDiff(a.prompt, b.prompt) < 1e-5, `resumed vs uninterrupted: ${relDiff(a.prompt, b.prompt)}`);
  });
});

test('with a small --max_memory, auto_find_batch_size starts at a smaller batch and the run completes', (t) => {
  if (!fixture(t, 'models', 'stories260K')) return;
  const out = tempDir();
  // stories260K (1 MB of weights) at batch 8 of these texts needs ~20 MB by the estimate; 8 MB fits batch 2.
  const args = [...base(TEXTS, out), '--auto_find_batch_size', '--max_memory', '8MB', '--max_steps', '2', '--save_strategy', 'no', '--json'];
  const { code, stdout, stderr } = cli(args);
  assert.equal(code, 0, stderr);
  assert.match(stderr, /batch size 8 does not fit \(a step at batch size 8 needs about 0\.0\d GB; max_memory is 0\.01 GB\); using [1-4]/);
  const summary = JSON.parse(stdout);
  assert.ok(summary.train_batch_size < 8 && summary.train_batch_size >= 1, `batch ${summary.train_batch_size}`);
  assert.equal(summary.global_step, 2);
  assert.equal(cli([...base(TEXTS), '--max_memory', 'lots']).code, 2);
});
