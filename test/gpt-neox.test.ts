// GPT-NeoX variants beside the fixture: a sequential residual, no attention biases, half the head rotated, tied
// embeddings, linear RoPE scaling, gelu_new: random weights, gradients against finite differences, KV cache.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { FormatError } from '../src/errors.js';
import { parseModelConfig } from '../src/models/config.js';
import { Engine } from '../src/runtime/engine.js';
import { checkCache, checkPromptGradient, checkWeightGradient, randomTuning } from './random-model.js';

const engine = Engine.create({ threads: 1 });
after(() => engine.close());

const BASE = { architectures: ['GPTNeoXForCausalLM'], model_type: 'gpt_neox', hidden_size: 48, num_attention_heads: 6, num_hidden_layers: 2, intermediate_size: 96 };

test('GPT-NeoX with a sequential residual, no biases, rotary_pct 0.5, tied, linear scaling: gradients and cache', async () => {
  const tuning = randomTuning(
    { ...BASE, use_parallel_residual: false, attention_bias: false, rotary_pct: 0.5, tie_word_embeddings: true, hidden_act: 'gelu_new', rope_scaling: { type: 'linear', factor: 2 } },
    engine,
  );
  assert.equal(tuning.model.config.rotaryDim, 4);
  assert.ok(!tuning.model.weightNames().some((n) => n.endsWith('query_key_value.bias') || n === 'embed_out.weight'));
  await checkPromptGradient(tuning.model);
  await checkWeightGradient(tuning);
  await checkCache(tuning.model);
});

test('GPT-NeoX with the full head rotated and the defaults otherwise: gradients and cache', async () => {
  const tuning = randomTuning({ ...BASE, rotary_pct: 1 }, engine, 5);
  await checkPromptGradient(tuning.model);
  await checkCache(tuning.model);
});

test('GPT-NeoX refuses a rotary fraction that leaves an odd number of dims, naming the field', () => {
  assert.throws(
    () => parseModelConfig({ ...BASE, vocab_size: 10, rotary_pct: 0.2 }, 'config.json'),
    (e: unknown) => e instanceof FormatError && /rotary_pct 0.2 of head_dim 8 gives 1 rotary dims/.test(e.message),
  );
});
