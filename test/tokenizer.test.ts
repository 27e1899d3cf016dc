import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError } from '../src/errors.js';
import { loadTokenizer } from '../src/tokenizer/pretrained.js';
import { TextTokenizer } from '../src/tokenizer/tokenizer.js';
import { FIXTURE_MODELS, fixture } from './fixtures.js';

const readJsonFile = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
const specialIds = (t: TextTokenizer) => [t.bos_token_id, t.eos_token_id, t.pad_token_id, t.vocabSize];

// The golden batches were cut to `lengths[i]` tokens (truncation), so compare that prefix.
test('every fixture tokenizer encodes the golden texts exactly as transformers did', async (t) => {
  for (const model of FIXTURE_MODELS) {
    const dir = fixture(t, 'models', model);
    const golden = fixture(t, 'golden', model);
    if (!dir || !golden) return;
    const tokenizer = await loadTokenizer(dir);
    const inputs = readJsonFile(join(golden, 'inputs.json'));
    const encoded = inputs.texts.map((text: string, i: number) => tokenizer.encode(text).slice(0, inputs.lengths[i]));
    assert.deepEqual(encoded, inputs.token_ids_unpadded, model);
    assert.equal(tokenizer.pad_token_id, inputs.pad_token_id, model);
  }
});

test('TEXT init ids are the init text encoded with default special tokens, repeated/truncated to n', async (t) => {
  for (const model of FIXTURE_MODELS) {
    const dir = fixture(t, 'models', model);
    const golden = fixture(t, 'golden', model);
    if (!dir || !golden) return;
    const tokenizer = await loadTokenizer(dir);
    const inputs = readJsonFile(join(golden, 'inputs.json'));
    const results = readJsonFile(join(golden, 'results.json'));
    const ids = tokenizer.encode(inputs.init_text);
    const n = inputs.num_virtual_tokens;
    const repeated = Array.from({ length: n }, (_, i) => ids[i % ids.length]);
    assert.deepEqual(repeated, results['text.init_token_ids'], model);
    if ('text.init_text_token_ids_full' in results) {
      assert.deepEqual(ids, results['text.init_text_token_ids_full'], model);
    }
  }
});

test('decoding round-trips the golden texts', async (t) => {
  for (const model of FIXTURE_MODELS) {
    const dir = fixture(t, 'models', model);
    const golden = fixture(t, 'golden', model);
    if (!dir || !golden) return;
    const tokenizer = await loadTokenizer(dir);
    for (const text of readJsonFile(join(golden, 'inputs.json')).texts as string[]) {
      assert.equal(tokenizer.decode(tokenizer.encode(text), { skip_special_tokens: true }), text, model);
    }
  }
});

test('stories260K adds BOS once and reproduces llama2.c token ids and text', async (t) => {
  const dir = fixture(t, 'models', 'stories260K');
  if (!dir) return;
  const tokenizer = await loadTokenizer(dir);
  const expected = readJsonFile(join(dir, 'llama2c', 'expected_outputs.json'));
  assert.deepEqual(specialIds(tokenizer), [1, 2, 0, 512]);
  assert.deepEqual(tokenizer.encode(expected.encode_example.text), expected.encode_example.ids);
  assert.deepEqual(tokenizer.encode(''), [1]);
  assert.deepEqual(tokenizer.encode('Once', { add_special_tokens: false }), [403]);
  // llama2.c leaves byte tokens like <0x0A> undecoded; the byte-fallback decoder turns them into the bytes.
  const text = tokenizer.decode(expected.greedy_from_bos_64_tokens, { skip_special_tokens: true });
  assert.equal(text, expected.greedy_text_raw.replaceAll('<0x0A>', '\n'));
  assert.equal(tokenizer.decode([1, 403]), '<s> Once');
});

test('the real GPT-2 tokenizer matches OpenAI ids and adds no BOS', async (t) => {
  const dir = fixture(t, 'tokenizers', 'gpt2');
  if (!dir) return;
  const tokenizer = await loadTokenizer(dir);
  assert.deepEqual(tokenizer.encode('Hello, world!'), [15496, 11, 995, 0]);
  assert.deepEqual(specialIds(tokenizer), [50256, 50256, null, 50257]);
  assert.equal(tokenizer.decode([15496, 11, 995, 0, 50256], { skip_special_tokens: true }), 'Hello, world!');
});

test('decode of no ids is empty and unknown ids are skipped', async (t) => {
  const dir = fixture(t, 'models', 'gpt2-tiny');
  if (!dir) return;
  const tokenizer = await loadTokenizer(dir);
  assert.equal(tokenizer.decode([]), '');
  assert.equal(tokenizer.decode([999], { skip_special_tokens: true }), '');
  assert.equal(tokenizer.decode([5000, -1]), '');
  assert.equal(tokenizer.decode([72, 5000, 105]), tokenizer.decode([72, 105]));
});

test('Llama-family add_bos_token / add_eos_token override the tokenizer.json template without doubling BOS', (t) => {
  const dir = fixture(t, 'models', 'stories260K');
  if (!dir) return;
  const json = readJsonFile(join(dir, 'tokenizer.json'));
  const config = readJsonFile(join(dir, 'tokenizer_config.json'));
  const withConfig = (extra: object) => TextTokenizer.fromJSON(json, { ...config, ...extra }, dir);
  assert.deepEqual(withConfig({}).encode('Once'), [1, 403]);
  assert.deepEqual(withConfig({ add_bos_token: false }).encode('Once'), [403]);
  assert.deepEqual(withConfig({ add_eos_token: true }).encode('Once'), [1, 403, 2]);
  // Without a tokenizer_config, tokenizer.json's post-processor decides (it adds BOS) and no special ids are known.
  const bare = TextTokenizer.fromJSON(json, null, dir);
  assert.deepEqual(bare.encode('Once'), [1, 403]);
  assert.deepEqual([bare.bos_token_id, bare.eos_token_id, bare.pad_token_id], [null, null, null]);
});

test('a special token missing from the vocabulary or a broken tokenizer.json is a FormatError', (t) => {
  const dir = fixture(t, 'models', 'gpt2-tiny');
  if (!dir) return;
  const json = readJsonFile(join(dir, 'tokenizer.json'));
  assert.throws(
    () => TextTokenizer.fromJSON(json, { bos_token: '<s>' }, 'tok'),
    (e: unknown) => e instanceof FormatError && /bos_token "<s>"/.test(e.message),
  );
  assert.throws(() => TextTokenizer.fromJSON({ ...json, model: { type: 'Nope' } }, null, 'tok'), FormatError);
});
