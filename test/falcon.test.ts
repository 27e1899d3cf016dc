// Falcon variants beside the fixture (new architecture, GQA, rotary): Falcon-7B's old multi-query layout, Falcon-RW's
// ALiBi with per-head qkv and a sequential block, ALiBi with multi-query, and Falcon2's new architecture with one
// LayerNorm: random weights, gradients against finite differences, KV cache, ALiBi's padding invariance.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { FormatError, UnsupportedError } from '../src/errors.js';
import { architectureOf } from '../src/models/architectures.js';
import { parseModelConfig } from '../src/models/config.js';
import { Engine } from '../src/runtime/engine.js';
import { BATCH, checkCache, checkPromptGradient, checkWeightGradient, randomTuning } from './random-model.js';

const engine = Engine.create({ threads: 1 });
after(() => engine.close());

const BASE = { architectures: ['FalconForCausalLM'], model_type: 'falcon', hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 2 };

const VARIANTS: Array<[string, Record<string, unknown>, string[]]> = [
  ['old architecture, multi-query, parallel (Falcon-7B)', { new_decoder_architecture: false, multi_query: true }, ['transformer.h.0.input_layernorm.weight']],
  [
    'old architecture, ALiBi, per-head qkv, sequential, biases (Falcon-RW)',
    { new_decoder_architecture: false, multi_query: false, parallel_attn: false, alibi: true, bias: true },
    ['transformer.h.0.post_attention_layernorm.weight', 'transformer.h.0.self_attention.query_key_value.bias'],
  ],
  ['old architecture, ALiBi with multi-query', { new_decoder_architecture: false, multi_query: true, alibi: true }, []],
  [
    'new architecture, one kv head, num_ln_in_parallel_attn 1, untied, ffn_hidden_size (Falcon2)',
    { new_decoder_architecture: true, num_kv_heads: 1, num_ln_in_parallel_attn: 1, tie_word_embeddings: false, ffn_hidden_size: 48 },
    ['transformer.h.0.input_layernorm.weight', 'lm_head.weight'],
  ],
];

for (const [label, config, weights] of VARIANTS) {
  test(`Falcon ${label}: gradients and cache`, async () => {
    const tuning = randomTuning({ ...BASE, ...config }, engine);
    const names = tuning.model.weightNames();
    for (const name of weights) assert.ok(names.includes(name), name);
    await checkPromptGradient(tuning.model);
    await checkWeightGradient(tuning);
    await checkCache(tuning.model);
  });
}

test('Falcon with alibi uses ALiBi positions (from the mask): a left-padded row gives the logits it gives alone', async () => {
  const { model } = randomTuning({ ...BASE, alibi: true, multi_query: false, new_decoder_architecture: false }, engine, 3);
  assert.equal(architectureOf(model.config).positions, 'alibi');
  const padded = await model.forward({ input_ids: BATCH.input_ids, attention_mask: BATCH.attention_mask });
  const alone = await model.forward({ input_ids: [BATCH.input_ids[1].slice(2)] });
  const V = padded.logits!.dims[2];
  const row = (padded.logits!.data as Float32Array).subarray((6 + 2) * V, 12 * V);
  const diff = Math.max(...row.map((v, i) => Math.abs(v - (alone.logits!.data as Float32Array)[i])));
  assert.ok(diff < 1e-5, `padded vs alone: ${diff}`);
});

test('Falcon configs it cannot run are refused, naming the field', () => {
  const parse = (extra: Record<string, unknown>) => () => parseModelConfig({ ...BASE, vocab_size: 10, ...extra }, 'config.json');
  assert.throws(parse({ new_decoder_architecture: true, num_ln_in_parallel_attn: 3 }), (e: unknown) => e instanceof UnsupportedError && /num_ln_in_parallel_attn is 3/.test(e.message));
  assert.throws(parse({ multi_query: false, num_kv_heads: 2 }), (e: unknown) => e instanceof FormatError && /num_kv_heads 2 needs new_decoder_architecture/.test(e.message));
  assert.throws(parse({ activation: 'gelu_10' }), /activation is "gelu_10"/);
});

test('Falcon defaults: tied head, multi-query old architecture, RoPE', () => {
  const cfg = parseModelConfig({ ...BASE, vocab_size: 10 }, 'config.json');
  assert.deepEqual([cfg.tieWordEmbeddings, cfg.numKvHeads, cfg.intermediateSize, cfg.activation, architectureOf(cfg).positions], [true, 1, 128, 'gelu', 'rope']);
});
