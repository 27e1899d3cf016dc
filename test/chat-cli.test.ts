// `softprompt train` on TRL's conversational data (recognised without a flag, task mode, virtual tokens before the one
// completion or, for multi-turn chats, in front) and `softprompt eval --apply_chat_template` (lm-eval's chat contexts,
// choices with no target delimiter, no second BOS), on a copy of stories260K given a chat template.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodePair, loglikelihoods } from '../src/eval/loglikelihood.js';
import { modelFromPretrained } from '../src/models/pretrained.js';
import { tokenizerFromPretrained } from '../src/tokenizer/pretrained.js';
import { assertUserError, softprompt, tempDir, TINY_MODEL } from './cli-helpers.js';
import { CHATML, modelWith } from './chat-helpers.js';

const tmp = tempDir('softprompt-chat-cli-');
after(() => rmSync(tmp, { recursive: true, force: true }));
const model = modelWith(join(tmp, 'model'), TINY_MODEL, { chat_template: CHATML });

function jsonl(name: string, rows: unknown[]): string {
  const path = join(tmp, name);
  writeFileSync(path, rows.map((r) => JSON.stringify(r)).join('\n'));
  return path;
}

const turn = (role: string, content: string) => ({ role, content });
const adapterConfig = (dir: string) => JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));

describe('softprompt train on conversations', { timeout: 300_000 }, () => {
  const single = jsonl('single.jsonl', [
    { messages: [turn('user', 'Who was in the park?'), turn('assistant', 'Lily and her mom.')] },
    { messages: [turn('system', 'Answer briefly.'), turn('user', 'What did Tim find?'), turn('assistant', 'A red ball.')] },
  ]);
  const multi = jsonl('multi.jsonl', [
    { messages: [turn('user', 'Hi'), turn('assistant', 'Hello.'), turn('user', 'A story?'), turn('assistant', 'Once upon a time.')] },
  ]);

  test('a messages column trains with task-mode defaults, the virtual tokens before the completion', () => {
    const out = join(tmp, 'single');
    const r = softprompt(['train', '--model', model, '--dataset', single, '--output_dir', out, '--max_steps', '2', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout);
    assert.equal(summary.global_step, 2);
    assert.equal(summary.num_examples, 2);
    assert.ok(Number.isFinite(summary.train_loss));
    const config = adapterConfig(out);
    assert.equal(config.virtual_tokens_position, 'before_completion');
    assert.equal(config.prompt_tuning_init, 'SAMPLE_VOCAB');
  });

  test('conversational prompt-completion columns train too', () => {
    const data = jsonl('pairs.jsonl', [{ prompt: [turn('user', 'Who was sad?')], completion: [turn('assistant', 'The cat.')] }]);
    const r = softprompt(['train', '--model', model, '--dataset', data, '--output_dir', join(tmp, 'pairs'), '--max_steps', '1', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).num_examples, 1);
  });

  test('a multi-turn chat puts the virtual tokens in front, and refuses before_completion when asked', () => {
    const out = join(tmp, 'multi');
    const r = softprompt(['train', '--model', model, '--dataset', multi, '--output_dir', out, '--max_steps', '1', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /multi\.jsonl row 1 has more than one assistant turn/);
    assert.equal(adapterConfig(out).virtual_tokens_position, undefined, 'in front: PEFT\'s own placement, so no field');
    const asked = softprompt(['train', '--model', model, '--dataset', multi, '--output_dir', join(tmp, 'asked'), '--virtual_tokens_position', 'before_completion']);
    assertUserError(asked, /--virtual_tokens_position: before_completion: .*multi\.jsonl row 1 has more than one assistant turn.*use --virtual_tokens_position start/);
  });

  test('bad rows and a model without a chat template are user errors naming the row, field or file', () => {
    const bad = jsonl('bad.jsonl', [{ messages: [turn('user', 'a'), turn('assistant', 'b')] }, { messages: [turn('user', 'a'), { role: 'assistant', content: ['b'] }] }]);
    assertUserError(softprompt(['train', '--model', model, '--dataset', bad, '--output_dir', join(tmp, 'bad')]), /bad\.jsonl row 2: messages\[1\]\.content is \["b"\]; expected a string/);
    assertUserError(softprompt(['train', '--model', TINY_MODEL, '--dataset', single, '--output_dir', join(tmp, 'plain')]), /stories260K\/tokenizer_config\.json: .*needs a chat template/);
  });
});

describe('softprompt eval --apply_chat_template', { timeout: 300_000 }, () => {
  const data = jsonl('task.jsonl', [{ text: 'Tim ran.', label: 'yes' }, { text: 'The sky fell.', label: 'no' }]);
  const user = (content: string) => `<|im_start|>user\n${content}<|im_end|>\n`;
  const assistant = (content: string) => `<|im_start|>assistant\n${content}<|im_end|>\n`;
  const open = '<|im_start|>assistant\n';
  const system = '<|im_start|>system\nTrue or not?<|im_end|>\n';

  function samples(name: string, extra: string[]): Array<{ context: string; resps: Array<[number, boolean]> }> {
    const out = join(tmp, `${name}.json`);
    const r = softprompt([
      'eval', '--model', model, '--dataset', data, '--template', 'Story: {text}\\nTrue?', '--choices', 'yes,no', '--label_column', 'label',
      '--description', 'True or not?', '--num_fewshot', '1', '--output_path', out, '--log_samples', '--json', '--apply_chat_template', ...extra,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const results = JSON.parse(readFileSync(out, 'utf8'));
    assert.equal(results.chat_template, CHATML);
    return readFileSync(join(tmp, `${name}_samples_task.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  }

  let multiturn: ReturnType<typeof samples>;
  before(() => {
    multiturn = samples('multiturn', []);
  });

  test('each context is the description as a system turn, the example as user and assistant turns, the doc as a user turn, opened for the assistant', () => {
    // With one other doc to draw from, each doc's example is the other one.
    assert.deepEqual(multiturn.map((s) => s.context), [
      `<s>${system}${user('Story: The sky fell.\nTrue?')}${assistant('no')}${user('Story: Tim ran.\nTrue?')}${open}`,
      `<s>${system}${user('Story: Tim ran.\nTrue?')}${assistant('yes')}${user('Story: The sky fell.\nTrue?')}${open}`,
    ]);
  });

  test('--fewshot_as_multiturn false: everything after the description is one user turn of plain text', () => {
    const single = samples('single', ['--fewshot_as_multiturn', 'false']);
    assert.equal(single[0].context, `<s>${system}${user('Story: The sky fell.\nTrue? no\n\nStory: Tim ran.\nTrue?')}${open}`);
  });

  test('each choice is scored right after the context (no target delimiter), which keeps its one BOS', async () => {
    const tokenizer = await tokenizerFromPretrained(model);
    const lm = await modelFromPretrained(model);
    try {
      const encoder = { encode: (text: string) => tokenizer.encode(text, { add_special_tokens: false }), eos_token_id: tokenizer.eos_token_id };
      assert.equal(encodePair(encoder, multiturn[0].context, 'yes').context.filter((id) => id === tokenizer.bos_token_id).length, 1);
      const requests = multiturn.flatMap((s) => ['yes', 'no'].map((choice) => ({ context: s.context, continuation: choice, variant: 0 })));
      const want = await loglikelihoods(lm, encoder, requests, [{ name: 'base', prompt: null }]);
      const got = multiturn.flatMap((s) => s.resps.map((r) => r[0]));
      got.forEach((x, i) => assert.ok(Math.abs(x - want[i].logprob) < 1e-5, `${x} vs ${want[i].logprob}`));
    } finally {
      await lm.engine.close();
    }
  });

  test('--fewshot_as_multiturn needs --apply_chat_template', () => {
    const r = softprompt(['eval', '--model', model, '--dataset', data, '--template', '{text}', '--choices', 'yes,no', '--label_column', 'label', '--fewshot_as_multiturn']);
    assertUserError(r, /--fewshot_as_multiturn: needs --apply_chat_template/);
  });
});
