// Numeric flags as a user mistypes them: "1e3", "4x" and "2.9" are not integers and "" is not a number, on every
// command. Each ends with exit code 2 and one line naming the flag, before any model or dataset is opened.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Option } from 'commander';
import { program } from '../src/cli/main.js';
import { byteSize, float, integer } from '../src/cli/number-flags.js';
import { OptionError } from '../src/errors.js';

const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'softprompt.js');
// Paths that do not exist, so a flag that slipped through fails fast on the model instead of training.
const NOWHERE = join(tmpdir(), 'softprompt-no-such-dir');

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, HF_HUB_OFFLINE: '1' } });
  return { code: r.status, stderr: r.stderr };
}

/** Per command: the options it needs to get past commander, one integer flag and its float flags. */
const COMMANDS = {
  train: { needs: ['--model', NOWHERE, '--dataset', NOWHERE, '--output_dir', NOWHERE], integer: '--max_length', floats: ['--learning_rate', '--max_grad_norm'] },
  demo: { needs: ['--model', NOWHERE], integer: '--max_new_tokens', floats: ['--learning_rate', '--num_train_epochs'] },
  compare: { needs: ['--model', NOWHERE], integer: '--per_device_train_batch_size', floats: ['--prompt_tuning_learning_rate', '--fine_tuning_learning_rate'] },
  generate: { needs: ['--model', NOWHERE, '--prompt', 'The dog'], integer: '--max_length', floats: ['--temperature', '--top_p'] },
};

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function expectRejected(command: string, needs: string[], flag: string, value: string, expected: string) {
  const { code, stderr } = cli([command, ...needs, flag, value]);
  assert.equal(code, 2, stderr);
  assert.match(stderr, new RegExp(`^softprompt: ${flag}: is ${escape(JSON.stringify(value))}; expected ${expected}`));
  assert.equal(stderr.trim().split('\n').length, 1, stderr);
}

for (const [command, { needs, integer, floats }] of Object.entries(COMMANDS)) {
  describe(`softprompt ${command}`, () => {
    test(`${integer} rejects 1e3, 4x, 2.9, an empty string and 0`, () => {
      for (const value of ['1e3', '4x', '2.9', '', '0']) expectRejected(command, needs, integer, value, 'an integer >= ');
    });

    test(`${floats.join(' and ')} reject an empty string, garbage and infinity`, () => {
      for (const flag of floats) {
        for (const value of ['', '4x', 'inf']) expectRejected(command, needs, flag, value, 'a finite number');
      }
    });
  });
}

/** An option that takes a number: it has a numeric default, or its argument reads <n>, <x>, <lr>, <size> and the like. */
function isNumeric(option: Option): boolean {
  return typeof option.defaultValue === 'number' || /<(n|x|lr|size|fraction\|count)>/.test(option.flags);
}

test('every numeric flag of every command has a strict parser that names the flag', () => {
  const seen: string[] = [];
  for (const command of program().commands) {
    for (const option of command.options.filter(isNumeric)) {
      const flag = option.long!;
      seen.push(`${command.name()} ${flag}`);
      assert.ok(option.parseArg, `${command.name()} ${flag} has no parser`);
      for (const value of ['', ' ', '4x', 'NaN', '0x10', '1,5', '--1']) {
        assert.throws(() => option.parseArg!(value, undefined), (e) => e instanceof OptionError && e.message.startsWith(`${flag}: `), `${command.name()} ${flag} ${JSON.stringify(value)}`);
      }
    }
  }
  // forward reads its numbers from the batch file and takes none as flags.
  assert.ok(!seen.some((s) => s.startsWith('forward ')));
  for (const command of ['train', 'demo', 'compare', 'generate']) assert.ok(seen.some((s) => s.startsWith(`${command} `)), command);
});

test('the parsers accept what a user means by a number and name the flag on anything else', () => {
  const rejects = (parse: (v: string) => number, value: string, message: string) =>
    assert.throws(() => parse(value), (e) => e instanceof OptionError && e.message === message, JSON.stringify(value));
  const steps = integer('--max_steps', -1);
  assert.deepEqual(['8', ' 8 ', '+8', '-1', '-0', '9007199254740991'].map(steps), [8, 8, 8, -1, 0, 9007199254740991]);
  rejects(steps, '-2', '--max_steps: is "-2"; expected an integer >= -1');
  rejects(steps, '9007199254740992', '--max_steps: is "9007199254740992"; expected an integer >= -1 up to 9007199254740991');
  rejects(steps, '8.0', '--max_steps: is "8.0"; expected an integer >= -1');
  const lr = float('--learning_rate');
  assert.deepEqual(['5e-5', '0.3', '.5', '1.', '-2', '3E2', ' 1 '].map(lr), [5e-5, 0.3, 0.5, 1, -2, 300, 1]);
  for (const value of ['', 'inf', '-Infinity', 'nan', '1e999', '0x10', '0b1', '1_000', '1e', '.']) {
    rejects(lr, value, `--learning_rate: is ${JSON.stringify(value)}; expected a finite number`);
  }
  const memory = byteSize('--max_memory');
  assert.deepEqual(['3.5GB', '800 MiB', '1024', '1kb'].map(memory), [3.5e9, 800 * 2 ** 20, 1024, 1000]);
  for (const value of ['', '0', '0.5', '1.2.3GB', '4x', '-1GB']) {
    rejects(memory, value, `--max_memory: is ${JSON.stringify(value)}; expected a size like 3.5GB, 800MB or a number of bytes`);
  }
});
