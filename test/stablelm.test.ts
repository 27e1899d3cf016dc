// StableLM variants beside the fixture: parallel residual (one LayerNorm), per-head q/k LayerNorm (StableLM-2-12B),
// GQA heads, no q/k/v biases, half the head rotated, a gelu gate: gradients against finite differences, KV cache.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../src/runtime/engine.js';
import { checkCache, checkPromptGradient, checkWeightGradient, randomTuning } from './random-model.js';

const engine = Engine.create({ threads: 1 });
after(() => engine.close());

test('StableLM with a parallel residual, qk_layernorm, GQA 4/2, rotary 0.5, gelu gate: gradients and cache', async () => {
  const tuning = randomTuning(
    {
      architectures: ['StableLmForCausalLM'], model_type: 'stablelm', hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 2,
      num_hidden_layers: 2, intermediate_size: 48, partial_rotary_factor: 0.5, qk_layernorm: true, use_parallel_residual: true, hidden_act: 'gelu',
    },
    engine,
  );
  const names = tuning.model.weightNames();
  assert.ok(names.includes('model.layers.1.self_attn.q_layernorm.norms.3.weight') && names.includes('model.layers.1.self_attn.k_layernorm.norms.1.weight'));
  assert.ok(!names.some((n) => n.includes('post_attention_layernorm') || n.endsWith('q_proj.bias')));
  await checkPromptGradient(tuning.model);
  await checkWeightGradient(tuning);
  await checkCache(tuning.model);
});
