// `softprompt generate` from outside: greedy output equal to transformers', streaming, JSON, and bad flags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTokenizer } from '../src/tokenizer/pretrained.js';
import { fixture } from './fixtures.js';
import { FAM_A_MODELS } from './fixture-families-fam-a.js';
import { readGolden } from './golden.js';

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['bin/softprompt.js', 'generate', ...args], { encoding: 'utf8' });
}

test('softprompt generate --adapter reproduces the trainer run, streamed or not', (t) => {
  const model = fixture(t, 'models', 'stories260K');
  const adapter = fixture(t, 'golden', 'stories260K', 'trainer', 'adapter');
  const runPath = fixture(t, 'golden', 'stories260K', 'trainer', 'trainer_run.json');
  if (!model || !adapter || !runPath) return;
  const want = JSON.parse(readFileSync(runPath, 'utf8')).generations_with_adapter[1];
  const args = ['--model', model, '--adapter', adapter, '--prompt', want.prompt, '--max_new_tokens', '32'];
  const json = cli(...args, '--json');
  assert.equal(json.status, 0, json.stderr);
  assert.deepEqual(JSON.parse(json.stdout), { sequences: [want.output_ids], text: [want.text] });
  const streamed = cli(...args, '--stream');
  assert.equal(streamed.status, 0, streamed.stderr);
  assert.equal(streamed.stdout, `${want.text}\n`);
});

for (const name of FAM_A_MODELS) {
  test(`softprompt generate --adapter gives PEFT's greedy ids for ${name} (the single-row case)`, async (t) => {
    const model = fixture(t, 'models', name);
    const adapters = fixture(t, 'golden', name);
    if (!model || !adapters) return;
    const golden = readGolden(name);
    const ids = golden.inputs.cases.single.input_ids[0];
    const text = (await loadTokenizer(model)).decode(ids);
    const settings = (golden.inputs as { generation?: { max_new_tokens: number; repetition_penalty: number } }).generation!;
    for (const init of ['random', 'text']) {
      const r = cli(
        '--model', model, '--adapter', join(adapters, `adapter_${init}`), '--prompt', text,
        '--max_new_tokens', String(settings.max_new_tokens), '--repetition_penalty', String(settings.repetition_penalty), '--json',
      );
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout).sequences, golden.results[`${init}.single.generate_ids`], init);
    }
  });
}

test('softprompt generate --help lists the defaults', () => {
  const r = cli('--help');
  assert.equal(r.status, 0);
  for (const line of [/--max_length <n>.*\n?.*\(default: 20\)/, /--top_k <n>[\s\S]*\(default: 50\)/, /--repetition_penalty <x>[\s\S]*\(default: 1\)/]) {
    assert.match(r.stdout, line);
  }
});

test('softprompt generate reports a bad option in one line with exit code 2', (t) => {
  const model = fixture(t, 'models', 'stories260K');
  if (!model) return;
  const r = cli('--model', model, '--prompt', 'The dog', '--do_sample', '--temperature', '0');
  assert.equal(r.status, 2);
  assert.equal(r.stderr, 'softprompt: temperature: 0 must be > 0 when sampling\n');
});
