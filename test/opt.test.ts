// OPT variants beside the fixture: OPT-350m's post-LN blocks with word_embed_proj_dim < hidden_size (project_in /
// project_out, the prompt at the projected width), and a pre-LN model without biases, norm affines or final norm.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { promptTuningConfig } from '../src/peft/config.js';
import { Engine } from '../src/runtime/engine.js';
import { BATCH, checkCache, checkPromptGradient, checkWeightGradient, randomTuning } from './random-model.js';

const engine = Engine.create({ threads: 1 });
after(() => engine.close());

const BASE = { architectures: ['OPTForCausalLM'], model_type: 'opt', hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 2, ffn_dim: 64, max_position_embeddings: 64 };

test('OPT-350m-shaped: post-LN, word_embed_proj_dim 16 with project_in/out, the prompt 16 wide: gradients and cache', async () => {
  const tuning = randomTuning({ ...BASE, do_layer_norm_before: false, word_embed_proj_dim: 16 }, engine);
  const model = tuning.model;
  assert.equal(promptTuningConfig({ num_virtual_tokens: 4 }, model.config).token_dim, 16);
  const names = model.weightNames();
  for (const name of ['model.decoder.project_in.weight', 'model.decoder.project_out.weight']) assert.ok(names.includes(name), name);
  assert.ok(!names.includes('model.decoder.final_layer_norm.weight'), 'post-LN OPT has no final norm');
  await checkPromptGradient(model);
  await checkWeightGradient(tuning);
  await checkCache(model);
});

test('OPT pre-LN without biases, norm affines or final norm, untied, gelu: gradients and cache', async () => {
  const tuning = randomTuning(
    { ...BASE, enable_bias: false, layer_norm_elementwise_affine: false, _remove_final_layer_norm: true, tie_word_embeddings: false, activation_function: 'gelu' },
    engine,
    7,
  );
  assert.ok(!tuning.model.weightNames().some((n) => n.endsWith('.bias') || n.includes('norm')));
  await checkPromptGradient(tuning.model);
  await checkWeightGradient(tuning);
  await checkCache(tuning.model);
});

test('OPT takes positions from the mask: a left-padded row gives the logits it gives alone', async () => {
  const { model } = randomTuning({ ...BASE, word_embed_proj_dim: 16 }, engine, 9);
  const padded = await model.forward({ input_ids: BATCH.input_ids, attention_mask: BATCH.attention_mask });
  const alone = await model.forward({ input_ids: [BATCH.input_ids[1].slice(2)] });
  const V = padded.logits!.dims[2];
  const row = (padded.logits!.data as Float32Array).subarray((6 + 2) * V, 12 * V);
  const diff = Math.max(...row.map((v, i) => Math.abs(v - (alone.logits!.data as Float32Array)[i])));
  assert.ok(diff < 1e-5, `padded vs alone: ${diff}`);
});
