// `softprompt forward` from outside: the bin writes logits, loss and grad that match PEFT's goldens.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Safetensors } from '../src/weights/safetensors.js';
import { fixture, MORE_FAMILIES } from './fixtures.js';
import { readGolden, relDiff } from './golden.js';

const dir = mkdtempSync(join(tmpdir(), 'softprompt-forward-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['bin/softprompt.js', ...args], { encoding: 'utf8' });
}

for (const name of ['bloom-tiny-6h', 'gpt2-tiny', ...MORE_FAMILIES]) {
  test(`softprompt forward --adapter --grad reproduces PEFT for ${name} (left padding)`, (t) => {
    const modelDir = fixture(t, 'models', name);
    if (!modelDir) return;
    const golden = readGolden(name);
    const batchPath = join(dir, `${name}.json`);
    writeFileSync(batchPath, JSON.stringify(golden.inputs.cases.left));
    const out = join(dir, `${name}.safetensors`);
    const adapter = fixture(t, 'golden', name, 'adapter_text')!;
    const r = cli('forward', '--model', modelDir, '--adapter', adapter, '--batch', batchPath, '--out', out, '--grad', '--json');
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout).logits, golden.tensors.entry('text.left.peft_logits').shape);
    const file = Safetensors.parse(readFileSync(out), out);
    assert.ok(relDiff(file.float32('logits'), golden.tensors.float32('text.left.peft_logits')) < 1e-4);
    assert.ok(Math.abs(file.float32('loss')[0] - (golden.results['text.left.loss'] as number)) < 1e-4);
    assert.ok(relDiff(file.float32('grad'), golden.tensors.float32('text.left.grad')) < 1e-4);
  });
}

test('softprompt forward without an adapter writes base logits', (t) => {
  const modelDir = fixture(t, 'models', 'llama-tiny');
  if (!modelDir) return;
  const golden = readGolden('llama-tiny');
  const batchPath = join(dir, 'base.json');
  writeFileSync(batchPath, JSON.stringify(golden.inputs.cases.right));
  const out = join(dir, 'base.safetensors');
  const r = cli('forward', '--model', modelDir, '--batch', batchPath, '--out', out);
  assert.equal(r.status, 0, r.stderr);
  const file = Safetensors.parse(readFileSync(out), out);
  assert.ok(relDiff(file.float32('logits'), golden.tensors.float32('base.right.logits')) < 1e-4);
  assert.ok(!file.has('grad'));
});

test('softprompt forward reports bad input in one line with exit code 2', (t) => {
  const modelDir = fixture(t, 'models', 'llama-tiny');
  if (!modelDir) return;
  const batchPath = join(dir, 'bad.json');
  writeFileSync(batchPath, JSON.stringify({ input_ids: [[1, 2], [3]] }));
  const r = cli('forward', '--model', modelDir, '--batch', batchPath, '--out', join(dir, 'x.safetensors'));
  assert.equal(r.status, 2);
  assert.match(r.stderr, /input_ids: rows must all have the same length/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');

  const adapter = fixture(t, 'golden', 'bloom-tiny-6h', 'adapter_text')!; // hidden 96, the model has 64
  writeFileSync(batchPath, JSON.stringify({ input_ids: [[1, 2]] }));
  const r2 = cli('forward', '--model', modelDir, '--adapter', adapter, '--batch', batchPath, '--out', join(dir, 'x.safetensors'));
  assert.equal(r2.status, 2);
  assert.match(r2.stderr, /adapter_config\.json: token_dim is 96 but the model's hidden size is 64/);
});
