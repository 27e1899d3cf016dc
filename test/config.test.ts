import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FormatError, UnsupportedError } from '../src/errors.js';
import { parseModelConfig, type ModelConfig } from '../src/models/config.js';
import { fixture } from './fixtures.js';

function fixtureConfig(t: TestContext, ...parts: string[]): ModelConfig | null {
  const path = fixture(t, ...parts, 'config.json');
  return path === null ? null : parseModelConfig(JSON.parse(readFileSync(path, 'utf8')), path);
}

/** Everything but `raw`, which just echoes the input. */
function summary(config: ModelConfig | null): Omit<ModelConfig, 'raw'> | null {
  if (!config) return null;
  const { raw: _raw, ...rest } = config;
  return rest;
}

test('BLOOM fixture: aliases resolved, tied, ALiBi has no position limit', (t) => {
  const config = fixtureConfig(t, 'models', 'bloom-tiny-6h');
  if (!config) return;
  assert.deepEqual(summary(config), {
    arch: 'bloom', modelType: 'bloom', hiddenSize: 96, numLayers: 2, numHeads: 6, numKvHeads: 6, headDim: 16,
    intermediateSize: 384, vocabSize: 1000, normEps: 1e-5, maxPositions: null, ropeTheta: 10000, ropeScaling: null,
    tieWordEmbeddings: true, bosTokenId: 999, eosTokenId: [999], padTokenId: 999, activation: 'gelu_new',
    attentionBias: true,
  });
});

test('GPT-2 fixture: n_inner null means 4 × n_embd', (t) => {
  const config = fixtureConfig(t, 'models', 'gpt2-tiny');
  if (!config) return;
  assert.deepEqual(summary(config), {
    arch: 'gpt2', modelType: 'gpt2', hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 4, headDim: 16,
    intermediateSize: 256, vocabSize: 1000, normEps: 1e-5, maxPositions: 256, ropeTheta: 10000, ropeScaling: null,
    tieWordEmbeddings: true, bosTokenId: 999, eosTokenId: [999], padTokenId: 999, activation: 'gelu_new',
    attentionBias: true,
  });
});

test('Llama fixtures: GQA, untied llama-tiny, tied stories260K without a pad token', (t) => {
  const tiny = fixtureConfig(t, 'models', 'llama-tiny');
  const stories = fixtureConfig(t, 'models', 'stories260K');
  if (!tiny || !stories) return;
  assert.deepEqual(summary(tiny), {
    arch: 'llama', modelType: 'llama', hiddenSize: 64, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16,
    intermediateSize: 128, vocabSize: 1000, normEps: 1e-6, maxPositions: 256, ropeTheta: 10000, ropeScaling: null,
    tieWordEmbeddings: false, bosTokenId: 999, eosTokenId: [999], padTokenId: 999, activation: 'silu',
    attentionBias: false,
  });
  assert.equal(stories.tieWordEmbeddings, true);
  assert.deepEqual([stories.numHeads, stories.numKvHeads, stories.headDim, stories.intermediateSize], [8, 4, 8, 172]);
  assert.deepEqual([stories.bosTokenId, stories.eosTokenId, stories.padTokenId], [1, [2], null]);
});

test('bloomz-560m config parses', (t) => {
  const config = fixtureConfig(t, 'configs', 'bloomz-560m');
  if (!config) return;
  assert.deepEqual([config.hiddenSize, config.numLayers, config.numHeads, config.vocabSize], [1024, 24, 16, 250880]);
});

const qwen2 = {
  architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', hidden_size: 896, intermediate_size: 4864,
  num_attention_heads: 14, num_hidden_layers: 24, num_key_value_heads: 2, vocab_size: 151936, rms_norm_eps: 1e-6,
  rope_theta: 1000000, max_position_embeddings: 32768, tie_word_embeddings: true, bos_token_id: 151643,
  eos_token_id: 151645, use_sliding_window: false,
};

test('Qwen2 always has q/k/v biases and reads its RoPE settings', () => {
  const config = parseModelConfig(qwen2, 'qwen/config.json');
  assert.equal(config.arch, 'qwen2');
  assert.equal(config.attentionBias, true);
  assert.deepEqual([config.numKvHeads, config.headDim, config.ropeTheta, config.tieWordEmbeddings], [2, 64, 1e6, true]);
  assert.equal(parseModelConfig({ ...qwen2, tie_word_embeddings: undefined }, 'c').tieWordEmbeddings, false);
});

const llamaShape = {
  hidden_size: 64, intermediate_size: 128, num_attention_heads: 4, num_hidden_layers: 1, vocab_size: 10,
};

test('Llama defaults: kv heads = heads, untied, theta 10000, explicit head_dim wins', () => {
  const base = { architectures: ['LlamaForCausalLM'], ...llamaShape };
  const config = parseModelConfig(base, 'c');
  assert.deepEqual(
    [config.numKvHeads, config.tieWordEmbeddings, config.ropeTheta, config.normEps],
    [4, false, 10000, 1e-6],
  );
  assert.deepEqual([config.bosTokenId, config.eosTokenId, config.maxPositions], [1, [2], 2048]);
  assert.equal(parseModelConfig({ ...base, head_dim: 32 }, 'c').headDim, 32);
});

test('eos_token_id may be a list; rope_scaling accepts type or rope_type', () => {
  const config = parseModelConfig(
    {
      model_type: 'llama',
      ...llamaShape,
      eos_token_id: [128001, 128008],
      rope_scaling: {
        rope_type: 'llama3',
        factor: 32,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 8192,
      },
    },
    'c',
  );
  assert.deepEqual(config.eosTokenId, [128001, 128008]);
  assert.deepEqual(config.ropeScaling, {
    type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192,
  });
  const linear = parseModelConfig({ ...config.raw, rope_scaling: { type: 'linear', factor: 2 } }, 'c');
  assert.deepEqual(linear.ropeScaling, { type: 'linear', factor: 2 });
  const yarn = { ...config.raw, rope_scaling: { type: 'yarn', factor: 2 } };
  assert.throws(() => parseModelConfig(yarn, 'c'), UnsupportedError);
});

test('an unsupported architecture is an UnsupportedError listing the supported ones', () => {
  assert.throws(
    () => parseModelConfig({ architectures: ['MambaForCausalLM'], model_type: 'mamba' }, 'm/config.json'),
    (e: unknown) =>
      e instanceof UnsupportedError &&
      /m\/config\.json/.test(e.message) &&
      /MambaForCausalLM/.test(e.message) &&
      ['BloomForCausalLM', 'GPT2LMHeadModel', 'LlamaForCausalLM', 'Qwen2ForCausalLM'].every((name) =>
        e.message.includes(name),
      ),
  );
});

test('model_type is the fallback when architectures[0] is not a causal LM class', () => {
  const json = { architectures: ['GPT2Model'], model_type: 'gpt2', n_embd: 8, n_head: 2, n_layer: 1, vocab_size: 5 };
  const config = parseModelConfig(json, 'c');
  assert.equal(config.arch, 'gpt2');
});

test('missing or mistyped fields are FormatErrors naming the field and file', () => {
  const gpt2 = { model_type: 'gpt2', n_embd: 8, n_head: 2, n_layer: 1, vocab_size: 5 };
  const rejects = (json: unknown, field: RegExp) =>
    assert.throws(
      () => parseModelConfig(json, 'x/config.json'),
      (e: unknown) => e instanceof FormatError && /x\/config\.json/.test(e.message) && field.test(e.message),
    );
  rejects({ ...gpt2, vocab_size: undefined }, /vocab_size/);
  rejects({ ...gpt2, n_head: '2' }, /n_head/);
  rejects({ ...gpt2, n_embd: 9 }, /not divisible/);
  rejects({ ...gpt2, layer_norm_epsilon: 'small' }, /layer_norm_epsilon/);
  rejects({ ...gpt2, eos_token_id: [1, 'x'] }, /eos_token_id/);
  rejects({ ...qwen2, num_key_value_heads: 4 }, /num_key_value_heads/);
  rejects([], /JSON object/);
});

test('config switches softprompt does not implement are refused', () => {
  assert.throws(() => parseModelConfig({ ...qwen2, use_sliding_window: true }, 'c'), /use_sliding_window/);
});
