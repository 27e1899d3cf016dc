// Phi variants beside the fixture: GQA heads, per-head q/k LayerNorm, a rotary fraction that leaves an uneven split
// (0.4 of 10 dims), tied embeddings (the lm_head bias stays), exact gelu: gradients, the chunked loss, KV cache.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../src/runtime/engine.js';
import { relDiff } from './golden.js';
import { BATCH, checkCache, checkPromptGradient, checkWeightGradient, randomTuning } from './random-model.js';

const engine = Engine.create({ threads: 1 });
after(() => engine.close());

test('Phi with GQA 4/2, qk_layernorm, partial_rotary_factor 0.4 of head_dim 10, tied, gelu: gradients and cache', async () => {
  const tuning = randomTuning(
    {
      architectures: ['PhiForCausalLM'], model_type: 'phi', hidden_size: 40, num_attention_heads: 4, num_key_value_heads: 2,
      num_hidden_layers: 2, intermediate_size: 64, partial_rotary_factor: 0.4, qk_layernorm: true, tie_word_embeddings: true, hidden_act: 'gelu',
    },
    engine,
  );
  assert.equal(tuning.model.config.rotaryDim, 4);
  assert.ok(tuning.model.weightNames().includes('lm_head.bias'));
  await checkPromptGradient(tuning.model);
  await checkWeightGradient(tuning);
  await checkCache(tuning.model);

  // The loss over vocabulary chunks splits the head bias with the rows.
  const prompt = new Float32Array(2 * 40).fill(0.5);
  const whole = await tuning.model.forward(BATCH, { prompt, grad: true, logits: false });
  tuning.model.vocabChunk = 25;
  const chunked = await tuning.model.forward(BATCH, { prompt, grad: true, logits: false });
  assert.ok(Math.abs(whole.loss! - chunked.loss!) < 1e-5);
  const d = relDiff(chunked.grad as Float32Array, whole.grad as Float32Array);
  assert.ok(d < 1e-5, `chunked gradient rel diff ${d}`);
});
