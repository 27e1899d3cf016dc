// The BPE trainer: deterministic merges, a tokenizer.json that @huggingface/tokenizers loads and that round-trips any
// text (bytes never go unknown), BOS added by the post-processor.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OptionError } from '../src/errors.js';
import { TextTokenizer } from '../src/tokenizer/tokenizer.js';
import { bpeTokenizerJson, trainBpe, wordCounts } from '../src/tokenizer/train-bpe.js';

const corpus = ['the whale and the sea', 'the whale, the whale!', 'There she blows; the sea and the ship.'];

function trained(vocabSize: number) {
  const bpe = trainBpe(wordCounts(corpus), { vocabSize, specialTokens: ['<|endoftext|>'] });
  const json = bpeTokenizerJson(bpe, ['<|endoftext|>'], '<|endoftext|>');
  return { bpe, tokenizer: TextTokenizer.fromJSON(json, { bos_token: '<|endoftext|>', eos_token: '<|endoftext|>' }, 'test') };
}

test('merges the most frequent pair first, ties to the smaller string, the same way every time', () => {
  const { bpe } = trained(280);
  assert.deepEqual(bpe.merges.slice(0, 3), [['h', 'e'], ['t', 'he'], ['Ġ', 's']]);
  assert.deepEqual(trained(280).bpe.merges, bpe.merges);
  assert.equal(bpe.vocab.get('<|endoftext|>'), 0);
  assert.equal(bpe.vocab.size, 257 + bpe.merges.length);
});

test('the written tokenizer.json encodes with the merges, adds BOS and decodes any text back', () => {
  const { bpe, tokenizer } = trained(300);
  const ids = tokenizer.encode('the whale');
  assert.equal(ids[0], 0);
  assert.deepEqual(ids.slice(1), [bpe.vocab.get('the'), bpe.vocab.get('Ġwhale')]);
  for (const text of ['the whale', 'Ünïcödé — “quotes” 😀 and\nnew lines', '  spaces  ']) {
    assert.equal(tokenizer.decode(tokenizer.encode(text), { skip_special_tokens: true }), text);
  }
});

test('stops early when no pair repeats, and refuses a vocabulary smaller than the bytes', () => {
  assert.ok(trained(100000).bpe.vocab.size < 400);
  assert.throws(() => trainBpe(wordCounts(corpus), { vocabSize: 200, specialTokens: [] }), OptionError);
});
