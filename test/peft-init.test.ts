// Prompt initialisation against PEFT: TEXT init equals the goldens exactly; RANDOM and SAMPLE_VOCAB follow PEFT's
// distributions (their bits cannot match torch's) and repeat for a seed.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OptionError } from '../src/errors.js';
import { loadTokenizer } from '../src/tokenizer/pretrained.js';
import { parseModelConfig } from '../src/models/config.js';
import { promptTuningConfig, type PromptTuningInit } from '../src/peft/config.js';
import { embeddingRows, initPrompt, inputEmbeddingName } from '../src/peft/init.js';
import { Engine } from '../src/runtime/engine.js';
import { Safetensors } from '../src/weights/safetensors.js';
import { fixture, FIXTURE_MODELS, FIXTURES, MORE_FAMILIES } from './fixtures.js';
import { loadFixtureModel, readGolden } from './golden.js';

const engine = Engine.create();
after(() => engine.close());

async function textInit(model: string, n: number, text: string): Promise<Float32Array> {
  const base = await loadFixtureModel(model, engine);
  const tokenizer = await loadTokenizer(join(FIXTURES, 'models', model));
  const config = promptTuningConfig({ num_virtual_tokens: n, prompt_tuning_init: 'TEXT', prompt_tuning_init_text: text }, base.config, model);
  return initPrompt(config, embeddingRows(base), base.config.vocabSize, (s) => tokenizer.encode(s), 0);
}

test('TEXT init equals PEFT\'s prompt_init exactly for every fixture model (BOS included where added)', async (t) => {
  for (const model of [...FIXTURE_MODELS, ...MORE_FAMILIES]) {
    if (!fixture(t, 'golden', model)) return;
    const golden = readGolden(model);
    const got = await textInit(model, golden.inputs.num_virtual_tokens, golden.inputs.init_text);
    assert.deepEqual(got, Float32Array.from(golden.tensors.float32('text.prompt_init')), model);
  }
});

test('TEXT init repeats the text ids when the text is shorter than the prompt (trainer runs, 8 tokens)', async (t) => {
  for (const model of ['bloom-tiny-4h', 'stories260K']) {
    const path = fixture(t, 'golden', model, 'trainer', 'prompts.safetensors');
    if (!path) return;
    const { init_text } = readGolden(model).inputs;
    const want = Safetensors.parse(readFileSync(path), path).float32('prompt_init');
    assert.deepEqual(await textInit(model, 8, init_text), Float32Array.from(want), model);
  }
});

function syntheticInit(init: PromptTuningInit, n: number, seed: number, H = 16, vocab = 50) {
  const model = parseModelConfig(
    { architectures: ['LlamaForCausalLM'], hidden_size: H, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 8, vocab_size: vocab },
    'config.json',
  );
  const table = Float32Array.from({ length: vocab * H }, (_, i) => i);
  const rows = (ids: number[]) => {
    const out = new Float32Array(ids.length * H);
    ids.forEach((id, i) => out.set(table.subarray(id * H, (id + 1) * H), i * H));
    return out;
  };
  return initPrompt(promptTuningConfig({ num_virtual_tokens: n, prompt_tuning_init: init }, model), rows, vocab, null, seed);
}

test('RANDOM init is N(0, 1) and repeats for a seed', () => {
  const a = syntheticInit('RANDOM', 10_000, 7);
  const mean = a.reduce((s, x) => s + x, 0) / a.length;
  const std = Math.sqrt(a.reduce((s, x) => s + (x - mean) ** 2, 0) / a.length);
  assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
  assert.ok(Math.abs(std - 1) < 0.01, `std ${std}`);
  const within1 = a.filter((x) => Math.abs(x) < 1).length / a.length;
  assert.ok(Math.abs(within1 - 0.6827) < 0.01, `P(|x| < 1) = ${within1}`);
  assert.deepEqual(syntheticInit('RANDOM', 10_000, 7), a);
  assert.notDeepEqual(syntheticInit('RANDOM', 10_000, 8), a);
});

test('SAMPLE_VOCAB init takes whole rows of the embedding table, ids spread over the vocabulary', () => {
  const H = 16;
  const vocab = 50;
  const prompt = syntheticInit('SAMPLE_VOCAB', 2000, 3, H, vocab);
  const ids = new Set<number>();
  for (let r = 0; r < 2000; r++) {
    const row = prompt.subarray(r * H, (r + 1) * H);
    const id = row[0] / H;
    assert.ok(Number.isInteger(id) && id >= 0 && id < vocab, `row ${r} starts at ${row[0]}`);
    row.forEach((x, j) => assert.equal(x, id * H + j));
    ids.add(id);
  }
  assert.equal(ids.size, vocab, 'every id drawn at least once in 2000 draws');
  assert.deepEqual(syntheticInit('SAMPLE_VOCAB', 2000, 3, H, vocab), prompt);
});

test('SAMPLE_VOCAB rows come from the model\'s own input embeddings', async (t) => {
  if (!fixture(t, 'models', 'gpt2-tiny')) return;
  const model = await loadFixtureModel('gpt2-tiny', engine);
  const config = promptTuningConfig({ num_virtual_tokens: 6, prompt_tuning_init: 'SAMPLE_VOCAB' }, model.config);
  const prompt = initPrompt(config, embeddingRows(model), model.config.vocabSize, null, 1);
  const table = model.weights.float32('transformer.wte.weight');
  const H = model.config.hiddenSize;
  for (let r = 0; r < 6; r++) {
    const row = prompt.subarray(r * H, (r + 1) * H);
    const found = Array.from({ length: model.config.vocabSize }, (_, id) => id)
      .some((id) => table.subarray(id * H, (id + 1) * H).every((x, j) => x === row[j]));
    assert.ok(found, `row ${r} is not an embedding row`);
  }
});

test('the input embedding table name per architecture', () => {
  const cfg = (architectures: string[], extra: object) =>
    parseModelConfig({ architectures, vocab_size: 10, intermediate_size: 8, ...extra }, 'config.json');
  assert.equal(inputEmbeddingName(cfg(['BloomForCausalLM'], { n_embed: 8, n_layer: 1, n_head: 2 })), 'transformer.word_embeddings.weight');
  assert.equal(inputEmbeddingName(cfg(['GPT2LMHeadModel'], { n_embd: 8, n_layer: 1, n_head: 2 })), 'transformer.wte.weight');
  const llama = { hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2 };
  assert.equal(inputEmbeddingName(cfg(['LlamaForCausalLM'], llama)), 'model.embed_tokens.weight');
  assert.equal(inputEmbeddingName(cfg(['Qwen2ForCausalLM'], llama)), 'model.embed_tokens.weight');
});

test('TEXT init without a tokenizer is an OptionError', () => {
  const model = parseModelConfig(
    { architectures: ['GPT2LMHeadModel'], n_embd: 8, n_layer: 1, n_head: 2, vocab_size: 10 },
    'config.json',
  );
  const config = promptTuningConfig({ num_virtual_tokens: 2, prompt_tuning_init: 'TEXT', prompt_tuning_init_text: 'x' }, model, 'm');
  assert.throws(() => initPrompt(config, () => new Float32Array(16), 10, null, 0), OptionError);
});
