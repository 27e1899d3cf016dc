// `softprompt generate` from outside: greedy output equal to transformers', streaming, JSON, and bad flags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { loadTokenizer } from '../src/tokenizer/pretrained.js';
import { fixture, MORE_FAMILIES } from './fixtures.js';
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

for (const name of [...MORE_FAMILIES]) {
  test(`softprompt generate --adapter reproduces PEFT's greedy ids for ${name} (one row, and a left-padded batch)`, async (t) => {
    const model = fixture(t, 'models', name);
    const adapter = fixture(t, 'golden', name, 'adapter_text');
    if (!model || !adapter) return;
    const golden = readGolden(name);
    const tokenizer = await loadTokenizer(model);
    const { max_new_tokens, repetition_penalty } = (golden.inputs as { generation?: Record<string, number> }).generation!;
    const rows = (golden.inputs as { token_ids_unpadded?: number[][] }).token_ids_unpadded!;
    const texts = rows.map((ids) => tokenizer.decode(ids));
    texts.forEach((text, i) => assert.deepEqual(tokenizer.encode(text), rows[i], 'the texts tokenize back to the golden ids'));
    const args = ['--model', model, '--adapter', adapter, '--max_new_tokens', String(max_new_tokens), '--repetition_penalty', String(repetition_penalty), '--json'];
    const single = cli(...args, '--prompt', texts[0]);
    assert.equal(single.status, 0, single.stderr);
    assert.deepEqual(JSON.parse(single.stdout).sequences, golden.results['text.single.generate_ids']);
    const batch = cli(...args, ...texts.flatMap((text) => ['--prompt', text]));
    assert.equal(batch.status, 0, batch.stderr);
    assert.deepEqual(JSON.parse(batch.stdout).sequences, golden.results['text.left.generate_ids']);
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
