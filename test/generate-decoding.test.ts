// transformers' decoding semantics: the logits processors and warpers, eos and finished-row padding, max_length,
// stop strings, seeded sampling and num_return_sequences.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { positionIds } from '../src/generate/decoder.js';
import { generate } from '../src/generate/generate.js';
import { prepareBatch } from '../src/generate/inputs.js';
import { noRepeatNgram, repetitionPenalty, sample, topK, topP } from '../src/generate/logits.js';
import { Generator } from '../src/random.js';
import { loadAdapter } from '../src/peft/adapter-files.js';
import { loadTokenizer } from '../src/tokenizer/pretrained.js';
import { Engine } from '../src/runtime/engine.js';
import { FIXTURES, fixture } from './fixtures.js';
import { loadFixtureModel } from './golden.js';

const engine = Engine.create();
after(() => engine.close());

describe('logits processors', () => {
  test('repetition penalty divides positive scores, multiplies negative ones, once per distinct id', () => {
    const s = Float32Array.of(2, -2, 3, 1);
    repetitionPenalty(s, [0, 1, 0, 0], 2);
    assert.deepEqual([...s], [1, -4, 3, 1]);
  });

  test('no-repeat n-gram bans every token that would complete an n-gram already seen', () => {
    const s = new Float32Array(6);
    noRepeatNgram(s, [1, 2, 3, 1, 2, 4, 1, 2], 3); // "1 2" was followed by 3 and by 4
    assert.deepEqual([...s], [0, 0, 0, -Infinity, -Infinity, 0]);
  });

  test('top-k keeps the k highest scores and their ties', () => {
    const s = Float32Array.of(1, 5, 3, 3, 0);
    topK(s, 2);
    assert.deepEqual([...s], [-Infinity, 5, 3, 3, -Infinity]);
  });

  test('top-p keeps the most likely tokens until their probability exceeds p, and always the top one', () => {
    const probs = [0.5, 0.3, 0.15, 0.05];
    const s = Float32Array.from(probs, Math.log);
    topP(s, 0.7);
    assert.deepEqual([...s].map((v) => v !== -Infinity), [true, true, false, false]);
    const single = Float32Array.from(probs, Math.log);
    topP(single, 0.01);
    assert.deepEqual([...single].map((v) => v !== -Infinity), [true, false, false, false]);
  });

  test('sampling follows the softmax and a seed reproduces the draws', () => {
    const s = Float32Array.of(Math.log(0.25), Math.log(0.75), -Infinity);
    const random = Generator.seeded(7);
    const counts = [0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[sample(s, random)]++;
    assert.equal(counts[2], 0);
    assert.ok(Math.abs(counts[1] / 4000 - 0.75) < 0.03, `${counts}`);
    const a = Generator.seeded(42);
    const b = Generator.seeded(42);
    assert.deepEqual(Array.from({ length: 5 }, () => a.uniform()), Array.from({ length: 5 }, () => b.uniform()));
    assert.notDeepEqual(Generator.seeded(1).uniform(), Generator.seeded(2).uniform());
  });
});

describe('stopping and lengths', () => {
  test('a row that emits eos is padded with pad_token_id while the others go on', async (t) => {
    if (!fixture(t, 'models', 'llama-tiny')) return;
    const model = await loadFixtureModel('llama-tiny', engine);
    const input_ids = [[64, 110, 328], [73, 102, 377]];
    const free = await generate(model, null, { input_ids, max_new_tokens: 6, eos_token_id: null });
    const eos = free.sequences[0][4]; // row 0's second new token
    assert.ok(!free.sequences[1].slice(3).includes(eos), 'pick an eos that row 1 never emits');
    const out = await generate(model, null, { input_ids, max_new_tokens: 6, eos_token_id: [eos], pad_token_id: 7 });
    assert.deepEqual(out.sequences[0], [...free.sequences[0].slice(0, 5), 7, 7, 7, 7]);
    assert.deepEqual(out.sequences[1], free.sequences[1]);
  });

  test('generation stops early once every row has finished', async (t) => {
    if (!fixture(t, 'models', 'llama-tiny')) return;
    const model = await loadFixtureModel('llama-tiny', engine);
    const free = await generate(model, null, { input_ids: [[64, 110, 328]], max_new_tokens: 6, eos_token_id: null });
    const out = await generate(model, null, { input_ids: [[64, 110, 328]], max_new_tokens: 6, eos_token_id: free.sequences[0][4] });
    assert.deepEqual(out.sequences[0], free.sequences[0].slice(0, 5));
  });

  test('max_length bounds the padded input plus new tokens; virtual tokens do not count', async (t) => {
    if (!fixture(t, 'models', 'gpt2-tiny')) return;
    const model = await loadFixtureModel('gpt2-tiny', engine);
    const input_ids = [[64, 110, 328, 288], [73, 102]];
    const prompt = new Float32Array(4 * 64).fill(0.1);
    const out = await generate(model, null, { input_ids, prompt, max_length: 7, eos_token_id: null, pad_token_id: 999 });
    assert.deepEqual(out.sequences.map((s) => s.length), [7, 7]);
    assert.deepEqual(out.sequences[1].slice(0, 4), [999, 999, 73, 102]);
  });

  test('max_new_tokens 0 returns the input unchanged', async (t) => {
    if (!fixture(t, 'models', 'llama-tiny')) return;
    const model = await loadFixtureModel('llama-tiny', engine);
    const out = await generate(model, null, { input_ids: [[5, 6]], max_new_tokens: 0 });
    assert.deepEqual(out.sequences, [[5, 6]]);
  });

  test('a stop string ends the row at the token that completes it', async (t) => {
    const dir = fixture(t, 'models', 'stories260K');
    if (!dir) return;
    const model = await loadFixtureModel('stories260K', engine);
    const tokenizer = await loadTokenizer(dir);
    const out = await generate(model, tokenizer, { input_ids: [1], max_new_tokens: 40, stop_strings: ['Lily'] });
    assert.equal(out.text![0], 'Once upon a time, there was a little girl named Lily');
  });
});

describe('inputs', () => {
  test('without attention_mask pads are masked only when the pad id is not an eos id, as in transformers', async (t) => {
    if (!fixture(t, 'models', 'llama-tiny')) return;
    const cfg = (await loadFixtureModel('llama-tiny', engine)).config;
    const ids = [[9, 9, 5], [4, 5, 6]];
    assert.deepEqual(prepareBatch({ input_ids: ids }, cfg, null, 9, [2]).mask, [[0, 0, 1], [1, 1, 1]]);
    assert.deepEqual(prepareBatch({ input_ids: ids }, cfg, null, 9, [9]).mask, [[1, 1, 1], [1, 1, 1]]);
  });

  test('text rows are tokenized and left-padded with the tokenizer pad token', async (t) => {
    const dir = fixture(t, 'models', 'stories260K');
    if (!dir) return;
    const cfg = (await loadFixtureModel('stories260K', engine)).config;
    const batch = prepareBatch({ text: ['The dog', 'One day, Tom'] }, cfg, await loadTokenizer(dir), 2, [2]);
    assert.deepEqual(batch.ids, [[0, 0, 1, 291, 400, 428], [1, 385, 328, 432, 274, 287]]);
    assert.deepEqual(batch.mask[0], [0, 0, 1, 1, 1, 1]);
  });
});

describe('sampling', () => {
  test('the same seed samples the same tokens; another seed samples others', async (t) => {
    const dir = fixture(t, 'models', 'stories260K');
    if (!dir) return;
    const model = await loadFixtureModel('stories260K', engine);
    const options = { input_ids: [1, 291, 400], do_sample: true, temperature: 1.5, top_k: 0, max_new_tokens: 20 };
    const a = await generate(model, null, { ...options, seed: 11 });
    const b = await generate(model, null, { ...options, seed: 11 });
    const c = await generate(model, null, { ...options, seed: 12 });
    assert.deepEqual(a.sequences, b.sequences);
    assert.notDeepEqual(a.sequences, c.sequences);
  });

  test('top_k 1 sampling is greedy decoding', async (t) => {
    if (!fixture(t, 'models', 'stories260K')) return;
    const model = await loadFixtureModel('stories260K', engine);
    const greedy = await generate(model, null, { input_ids: [1, 291, 400], max_new_tokens: 12 });
    const topOne = await generate(model, null, { input_ids: [1, 291, 400], max_new_tokens: 12, do_sample: true, top_k: 1, seed: 5 });
    assert.deepEqual(topOne.sequences, greedy.sequences);
  });

  test('num_return_sequences returns that many samples per input row, next to each other', async (t) => {
    if (!fixture(t, 'models', 'stories260K')) return;
    const model = await loadFixtureModel('stories260K', engine);
    const input_ids = [[1, 291, 400], [1, 385, 328]];
    const out = await generate(model, null, { input_ids, do_sample: true, num_return_sequences: 3, max_new_tokens: 8, seed: 3 });
    assert.equal(out.sequences.length, 6);
    out.sequences.forEach((s, i) => assert.deepEqual(s.slice(0, 3), input_ids[Math.floor(i / 3)]));
  });
});

test('a loaded adapter and its raw prompt embeddings generate the same', async (t) => {
  if (!fixture(t, 'golden', 'bloom-tiny-4h')) return;
  const model = await loadFixtureModel('bloom-tiny-4h', engine);
  const adapter = await loadAdapter(join(FIXTURES, 'golden', 'bloom-tiny-4h', 'adapter_text'));
  const a = await generate(model, null, { input_ids: [[5, 6, 7]], prompt: adapter, max_new_tokens: 5 });
  const b = await generate(model, null, { input_ids: [[5, 6, 7]], prompt: adapter.prompt, max_new_tokens: 5 });
  assert.deepEqual(a.sequences, b.sequences);
});

test('positions follow transformers without a prompt and PEFT (slot indices) with a shared one', () => {
  const mask = [[1, 1, 0, 0, 1, 1, 1]]; // two prompt slots, two pads, three tokens
  // LlamaForCausalLM.prepare_inputs_for_generation: cumsum(mask) - 1, masked slots set to 1.
  assert.deepEqual(positionIds(mask, 0, 'mask'), [[0, 1, 1, 1, 2, 3, 4]]);
  // PEFT sets position_ids to None, so the model counts cache slots, pads included.
  assert.deepEqual(positionIds(mask, 0, 'slots'), [[0, 1, 2, 3, 4, 5, 6]]);
  assert.deepEqual(positionIds([[...mask[0], 1]], 7, 'mask'), [[5]]);
});
