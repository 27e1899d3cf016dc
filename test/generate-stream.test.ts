// Streaming: per-step tokens and text through the callback and the async iterator, never a broken multi-byte
// character, and the streamed pieces add up to the final text.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { generate, generateStream, type StreamChunk } from '../src/generate/generate.js';
import { RowText } from '../src/generate/text.js';
import { loadTokenizer } from '../src/tokenizer/pretrained.js';
import { Engine } from '../src/runtime/engine.js';
import { fixture } from './fixtures.js';
import { loadFixtureModel } from './golden.js';

const engine = Engine.create();
after(() => engine.close());

test('characters split across byte tokens are streamed only once complete', async (t) => {
  const dir = fixture(t, 'models', 'stories260K');
  if (!dir) return;
  const tokenizer = await loadTokenizer(dir);
  const ids = tokenizer.encode('Hi é → 😀!', { add_special_tokens: false });
  const row = new RowText(tokenizer, [1]);
  const pieces = ids.map((id) => row.push(id));
  assert.ok(pieces.filter((p) => p === '').length >= 4, 'the arrow and the emoji span several byte tokens');
  for (const p of pieces) assert.ok(!p.includes('\uFFFD'), JSON.stringify(pieces));
  assert.equal(pieces.join(''), 'Hi é → 😀!');
});

test("a row's last token flushes what is held back", async (t) => {
  const dir = fixture(t, 'models', 'gpt2-tiny');
  if (!dir) return;
  const tokenizer = await loadTokenizer(dir);
  const [first] = tokenizer.encode('→', { add_special_tokens: false });
  const row = new RowText(tokenizer, []);
  assert.equal(row.push(first), '');
  assert.equal(row.flush(), '\uFFFD');
});

test('the streamer sees every step, and its text adds up to the generated text', async (t) => {
  const dir = fixture(t, 'models', 'stories260K');
  if (!dir) return;
  const model = await loadFixtureModel('stories260K', engine);
  const tokenizer = await loadTokenizer(dir);
  const chunks: StreamChunk[] = [];
  const text = ['Once upon a time', 'The dog'];
  const out = await generate(model, tokenizer, { text, max_new_tokens: 24, streamer: (c) => chunks.push(c) });
  assert.equal(chunks.length, 24);
  for (let b = 0; b < text.length; b++) {
    assert.deepEqual(chunks.map((c) => c.tokens[b]), out.sequences[b].slice(-24));
    assert.equal(text[b] + chunks.map((c) => c.text![b]).join(''), out.text![b]);
  }
});

test('the async iterator yields the same steps and returns the result', async (t) => {
  if (!fixture(t, 'models', 'llama-tiny')) return;
  const model = await loadFixtureModel('llama-tiny', engine);
  const request = { input_ids: [[64, 110, 328]], max_new_tokens: 5, eos_token_id: null };
  const steps = generateStream(model, null, request);
  const tokens: number[] = [];
  let r = await steps.next();
  for (; !r.done; r = await steps.next()) tokens.push(r.value.tokens[0]);
  const done = r.value;
  assert.deepEqual(done.sequences, (await generate(model, null, request)).sequences);
  assert.deepEqual(tokens, done.sequences[0].slice(3));
});
