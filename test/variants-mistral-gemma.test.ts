// Second variants of the Mistral and Gemma families (other head counts, GQA ratios, head_dim, tying, windows,
// soft-caps, layer patterns, RoPE bases), on random weights written as a checkpoint directory: the forward runs, the
// prompt gradient and every weight gradient match central differences, KV-cache decoding equals recomputing the
// sequence, and `softprompt forward --grad` runs on the directory. Also the config defaults and refusals these
// families declare.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UnsupportedError } from '../src/errors.js';
import { generate } from '../src/generate/generate.js';
import { argmax } from '../src/generate/logits.js';
import { parseModelConfig } from '../src/models/config.js';
import { architectureWeights } from '../src/models/graphs.js';
import type { PretrainedModel } from '../src/models/model.js';
import { modelFromPretrained } from '../src/models/pretrained.js';
import { normals } from '../src/peft/init.js';
import { Engine } from '../src/runtime/engine.js';
import { FullFineTuning } from '../src/train/finetune.js';
import { Safetensors, serializeSafetensors } from '../src/weights/safetensors.js';
import { elementCount } from '../src/shape.js';

const engine = Engine.create({ threads: 1 });
const dir = mkdtempSync(join(tmpdir(), 'softprompt-fam-b-'));
after(async () => {
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

const common = { vocab_size: 50, max_position_embeddings: 64, rms_norm_eps: 1e-6, bos_token_id: 1, eos_token_id: 2, pad_token_id: 0 };

const VARIANTS: Record<string, Record<string, unknown>> = {
  // 6 heads over 3 kv heads, head_dim 8 with hidden 32 (not 6 x 8), window 3, tied head, 3 layers.
  mistral: {
    architectures: ['MistralForCausalLM'], model_type: 'mistral', hidden_size: 32, intermediate_size: 40, num_hidden_layers: 3,
    num_attention_heads: 6, num_key_value_heads: 3, head_dim: 8, sliding_window: 3, tie_word_embeddings: true, rope_theta: 500,
  },
  // Full multi-head attention (2/2), head_dim 12, q/k/v/o biases, untied head.
  gemma: {
    architectures: ['GemmaForCausalLM'], model_type: 'gemma', hidden_size: 24, intermediate_size: 36, num_hidden_layers: 2,
    num_attention_heads: 2, num_key_value_heads: 2, head_dim: 12, attention_bias: true, tie_word_embeddings: false,
    hidden_activation: 'gelu_pytorch_tanh',
  },
  // GQA 6/2, head_dim 8, query_pre_attn_scalar 10, small caps, an irregular layer pattern, window 2, untied.
  gemma2: {
    architectures: ['Gemma2ForCausalLM'], model_type: 'gemma2', hidden_size: 32, intermediate_size: 48, num_hidden_layers: 3,
    num_attention_heads: 6, num_key_value_heads: 2, head_dim: 8, query_pre_attn_scalar: 10, attn_logit_softcapping: 1.0,
    final_logit_softcapping: 3.0, layer_types: ['full_attention', 'sliding_attention', 'sliding_attention'], sliding_window: 2,
    tie_word_embeddings: false,
  },
  // MQA 4/1, no layer_types (sliding_window_pattern 2: sliding, full, sliding), linear RoPE scaling on full layers,
  // a local base of 100, an attention cap but no final cap, untied.
  gemma3: {
    architectures: ['Gemma3ForCausalLM'], model_type: 'gemma3_text', hidden_size: 16, intermediate_size: 24, num_hidden_layers: 3,
    num_attention_heads: 4, num_key_value_heads: 1, head_dim: 8, query_pre_attn_scalar: 8, sliding_window_pattern: 2,
    sliding_window: 3, rope_theta: 10000, rope_local_base_freq: 100, rope_scaling: { rope_type: 'linear', factor: 2 },
    attn_logit_softcapping: 2.0, final_logit_softcapping: null, tie_word_embeddings: false,
  },
};

/** A checkpoint directory with random weights: matrices N(0, 0.2^2), norm weights around 1 (Llama) or 0 (Gemma's 1 + w). */
function writeVariant(name: string, config: Record<string, unknown>, seed: number): string {
  const cfg = parseModelConfig({ ...common, ...config }, `${name} config`);
  const normal = normals(seed);
  const normMean = name === 'mistral' ? 1 : 0;
  const tensors = [...architectureWeights(cfg)].map(([tensor, shape]) => {
    const scale = tensor.endsWith('norm.weight') ? 0.3 : tensor.endsWith('.bias') ? 0.1 : 0.2;
    const mean = tensor.endsWith('norm.weight') ? normMean : 0;
    return { name: tensor, shape, data: Float32Array.from({ length: elementCount(shape) }, () => mean + scale * normal()) };
  });
  const out = join(dir, name);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'config.json'), JSON.stringify({ ...common, ...config }));
  writeFileSync(join(out, 'model.safetensors'), serializeSafetensors(tensors, { format: 'pt' }));
  return out;
}

/**
 * Left-padded rows (pads inside and outside the windows) with labels on the real tokens: what the forward and the
 * KV cache run on.
 */
const BATCH = {
  input_ids: [[5, 9, 13, 17, 21, 25, 29, 33], [0, 0, 0, 7, 11, 3, 44, 8], [0, 0, 0, 0, 0, 0, 12, 30]],
  attention_mask: [[1, 1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0, 1, 1]],
  labels: [[5, 9, 13, 17, 21, 25, 29, 33], [-100, -100, -100, 7, 11, 3, 44, 8], [-100, -100, -100, -100, -100, -100, 12, 30]],
};

/**
 * The same rows right-padded, for the finite differences: a query row that sees no key at all (left pads beyond the
 * window) gets a uniform softmax because its scores round to the fp32 minimum, a constant to finite differences, while
 * autodiff, like torch's, still sends the softmax gradient through the scores. Here no counted row is fully masked.
 */
const RIGHT = {
  input_ids: [[5, 9, 13, 17, 21, 25, 29, 33], [7, 11, 3, 44, 8, 0, 0, 0], [12, 30, 0, 0, 0, 0, 0, 0]],
  attention_mask: [[1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0, 0]],
  labels: [[5, 9, 13, 17, 21, 25, 29, 33], [7, 11, 3, 44, 8, -100, -100, -100], [12, 30, -100, -100, -100, -100, -100, -100]],
};

function unit(x: Float32Array): Float32Array {
  const norm = Math.sqrt(x.reduce((s, v) => s + v * v, 0)) || 1;
  return x.map((v) => v / norm);
}

/** Central difference of `loss` along `direction` (unit gradient + unit random, so float32 can measure it). */
async function directional(loss: () => Promise<number>, values: Float32Array, grad: Float32Array, seed: number): Promise<[number, number]> {
  const random = unit(Float32Array.from({ length: values.length }, normals(seed)));
  const d = unit(grad).map((v, k) => v + random[k]);
  const saved = values.slice();
  // Small enough that the q/k norms' curvature stays below 0.5% (1e-2 is not, for k_proj under Gemma3's k_norm), large
  // enough for float32 losses.
  const eps = 3e-3;
  const at = async (sign: number) => {
    for (let k = 0; k < values.length; k++) values[k] = saved[k] + sign * eps * d[k];
    return loss();
  };
  const fd = ((await at(1)) - (await at(-1))) / (2 * eps);
  values.set(saved);
  return [grad.reduce((s, g, k) => s + g * d[k], 0), fd];
}

const close = ([analytic, fd]: [number, number]) => Math.abs(fd - analytic) <= 1e-2 * Math.abs(analytic) + 1e-4;

/** Greedy decoding by recomputing the whole sequence each step (the reference for the KV cache). */
async function recompute(model: PretrainedModel, prompt: Float32Array, steps: number): Promise<number[][]> {
  const ids = BATCH.input_ids.map((r) => [...r]);
  const mask = BATCH.attention_mask.map((r) => [...r]);
  const V = model.config.vocabSize;
  for (let step = 0; step < steps; step++) {
    const { logits } = await model.forward({ input_ids: ids, attention_mask: mask }, { prompt });
    const S = logits!.dims[1];
    ids.forEach((row, b) => {
      row.push(argmax((logits!.data as Float32Array).slice((b * S + S - 1) * V, (b * S + S) * V)));
      mask[b].push(1);
    });
  }
  return ids;
}

for (const [name, config] of Object.entries(VARIANTS)) {
  describe(`${name} second variant`, () => {
    const modelDir = writeVariant(name, config, 7);
    const H = config.hidden_size as number;
    const prompt = Float32Array.from({ length: 3 * H }, normals(11));

    test('the prompt gradient matches central differences', async () => {
      const model = await modelFromPretrained(modelDir, { engine });
      const left = await model.forward(BATCH, { prompt, grad: true });
      assert.ok(Number.isFinite(left.loss!) && left.loss! > 0);
      assert.deepEqual(left.logits!.dims, [3, 3 + 8, 50]);
      const out = await model.forward(RIGHT, { prompt, grad: true });
      const p = prompt.slice();
      const check = await directional(async () => (await model.forward(RIGHT, { prompt: p, logits: false })).loss!, p, out.grad as Float32Array, 3);
      assert.ok(close(check), `autodiff ${check[0]} vs fd ${check[1]}`);
    });

    test('every weight gradient matches central differences', async () => {
      const tuning = FullFineTuning.of(await modelFromPretrained(modelDir, { engine }));
      const { grad } = await tuning.forward(RIGHT, { grad: true, logits: false });
      const params = tuning.parameters();
      for (const [i, { name: weight, offset, size }] of tuning.weights.layout.entries()) {
        const values = params.subarray(offset, offset + size);
        const loss = async () => (await tuning.forward(RIGHT, { logits: false })).loss!;
        const check = await directional(loss, values, (grad as Float32Array).slice(offset, offset + size), i + 1);
        assert.ok(close(check), `${weight}: autodiff ${check[0]} vs fd ${check[1]}`);
      }
    });

    test('KV-cache decoding with a soft prompt equals recomputing the sequence', async () => {
      const model = await modelFromPretrained(modelDir, { engine });
      const want = await recompute(model, prompt, 5);
      const got = await generate(model, null, { input_ids: BATCH.input_ids, attention_mask: BATCH.attention_mask, prompt, max_new_tokens: 5, eos_token_id: null });
      assert.deepEqual(got.sequences, want);
    });

    test('softprompt forward --grad runs on the checkpoint directory', () => {
      const batchPath = join(dir, `${name}-batch.json`);
      writeFileSync(batchPath, JSON.stringify(BATCH));
      const adapter = join(dir, `${name}-adapter`);
      mkdirSync(adapter, { recursive: true });
      writeFileSync(join(adapter, 'adapter_config.json'), JSON.stringify({ peft_type: 'PROMPT_TUNING', task_type: 'CAUSAL_LM', num_virtual_tokens: 3, token_dim: H }));
      writeFileSync(join(adapter, 'adapter_model.safetensors'), serializeSafetensors([{ name: 'prompt_embeddings', shape: [3, H], data: prompt }], { format: 'pt' }));
      const out = join(dir, `${name}-out.safetensors`);
      const r = spawnSync(process.execPath, ['bin/softprompt.js', 'forward', '--model', modelDir, '--adapter', adapter, '--batch', batchPath, '--out', out, '--grad'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const file = Safetensors.parse(readFileSync(out), out);
      assert.deepEqual(file.entry('grad').shape, [3, H]);
      assert.ok(file.float32('grad').every(Number.isFinite));
    });
  });
}

describe('config defaults and refusals', () => {
  const parse = (config: Record<string, unknown>) => parseModelConfig({ ...common, ...config }, 'config.json');
  const base = (family: string) => {
    const { tie_word_embeddings: _tie, layer_types: _types, sliding_window: _window, ...rest } = VARIANTS[family];
    return rest;
  };

  test('tie_word_embeddings absent means tied for Gemma, Gemma2 and Gemma3, untied for Mistral', () => {
    for (const family of ['gemma', 'gemma2', 'gemma3']) assert.equal(parse(base(family)).tieWordEmbeddings, true, family);
    assert.equal(parse(base('mistral')).tieWordEmbeddings, false);
  });

  test('sliding windows: Mistral 4096 when absent and none when null; Gemma2 alternates from sliding; Gemma3 every 6th is full', () => {
    assert.deepEqual(parse(base('mistral')).layers, [{ window: 4096 }, { window: 4096 }, { window: 4096 }]);
    assert.equal(parse({ ...base('mistral'), sliding_window: null }).layers, undefined);
    assert.deepEqual(parse({ ...base('gemma2'), num_hidden_layers: 4 }).layers!.map((l) => l.window), [4096, null, 4096, null]);
    const { sliding_window_pattern: _p, ...gemma3 } = base('gemma3');
    const layers = parse({ ...gemma3, num_hidden_layers: 7 }).layers!;
    assert.deepEqual(layers.map((l) => l.window), [4096, 4096, 4096, 4096, 4096, null, 4096]);
    assert.deepEqual(layers[0].rope, { theta: 100, scaling: null });
    assert.equal(layers[5].rope, undefined);
  });

  test('layer_types in config.json is authoritative, and an unknown kind is refused naming the field', () => {
    const cfg = parse({ ...base('gemma3'), layer_types: ['full_attention', 'full_attention', 'sliding_attention'], sliding_window: 5 });
    assert.deepEqual(cfg.layers!.map((l) => l.window), [null, null, 5]);
    assert.throws(() => parse({ ...base('gemma2'), layer_types: ['chunked_attention', 'full_attention', 'full_attention'] }), (e: unknown) =>
      e instanceof UnsupportedError && /layer_types/.test(e.message));
  });

  test('unimplemented activations and switches are refused naming the field', () => {
    assert.throws(() => parse({ ...base('gemma2'), hidden_activation: 'laplace' }), /hidden_activation is "laplace"/);
    assert.throws(() => parse({ ...base('gemma3'), use_bidirectional_attention: true }), /use_bidirectional_attention/);
    assert.throws(() => parse({ ...base('mistral'), hidden_act: 'relu2' }), /hidden_act is "relu2"/);
  });
});
