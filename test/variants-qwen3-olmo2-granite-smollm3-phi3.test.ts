// A second variant of each fam-a family (Qwen3, OLMo2, Granite, SmolLM3, Phi3), unlike its fixture: other head counts,
// GQA/MQA ratios, head_dim, tying, biases, multipliers, NoPE layers, partial rotary, longrope, a sliding window. On
// random weights, each must load from config.json, run, give a prompt gradient equal to central differences of its
// loss (also through `softprompt forward --grad`), and decode with the KV cache as a full recomputation does.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from '../src/generate/generate.js';
import { argmax } from '../src/generate/logits.js';
import { parseModelConfig } from '../src/models/config.js';
import { architectureWeights } from '../src/models/graphs.js';
import { attentionBias, ropeInvFreq, ropeTables } from '../src/models/positions.js';
import { modelFromPretrained } from '../src/models/pretrained.js';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, serializeAdapterConfig, serializeAdapterWeights } from '../src/peft/adapter.js';
import { promptTuningConfig } from '../src/peft/config.js';
import { normals } from '../src/peft/init.js';
import { Engine } from '../src/runtime/engine.js';
import { elementCount } from '../src/shape.js';
import { Safetensors, serializeSafetensors } from '../src/weights/safetensors.js';

const engine = Engine.create({ threads: 1 });
const dir = mkdtempSync(join(tmpdir(), 'softprompt-fam-a-'));
after(async () => {
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

const common = { vocab_size: 97, num_hidden_layers: 3, intermediate_size: 48, bos_token_id: 1, eos_token_id: 2, pad_token_id: 0 };
const longFactors = (n: number, base: number) => Array.from({ length: n }, (_, i) => base + i / n);

const VARIANTS: Record<string, Record<string, unknown>> = {
  qwen3: {
    architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', hidden_size: 32, num_attention_heads: 6, num_key_value_heads: 2,
    head_dim: 8, tie_word_embeddings: true, attention_bias: true, rope_scaling: { rope_type: 'linear', factor: 2 }, rope_theta: 1000,
  },
  olmo2: {
    architectures: ['Olmo2ForCausalLM'], model_type: 'olmo2', hidden_size: 48, num_attention_heads: 6, num_key_value_heads: 2,
    tie_word_embeddings: true, attention_bias: true, rms_norm_eps: 1e-6,
  },
  granite: {
    architectures: ['GraniteForCausalLM'], model_type: 'granite', hidden_size: 32, num_attention_heads: 4, num_key_value_heads: 1,
    embedding_multiplier: 3, residual_multiplier: 0.5, attention_multiplier: 0.2, logits_scaling: 2.5, attention_bias: true,
    mlp_bias: true, tie_word_embeddings: true,
  },
  smollm3: {
    architectures: ['SmolLM3ForCausalLM'], model_type: 'smollm3', hidden_size: 48, num_attention_heads: 6, num_key_value_heads: 3,
    no_rope_layers: [0, 1, 0], tie_word_embeddings: false, rope_theta: 10000,
  },
  phi3: {
    architectures: ['Phi3ForCausalLM'], model_type: 'phi3', hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2,
    partial_rotary_factor: 0.5, sliding_window: 5, tie_word_embeddings: true, max_position_embeddings: 64,
    original_max_position_embeddings: 8, rope_scaling: { type: 'longrope', short_factor: longFactors(4, 1), long_factor: longFactors(4, 3) },
  },
};

/**
 * The family's variant as a checkpoint directory (written once) of random weights: matrices N(0, 0.2), norm weights
 * 1 + N(0, 0.1), biases N(0, 0.1).
 */
function variantDir(name: string): string {
  const out = join(dir, name);
  if (existsSync(out)) return out;
  const config = { ...VARIANTS[name], ...common };
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'config.json'), JSON.stringify(config));
  const normal = normals(7);
  const tensors = [...architectureWeights(parseModelConfig(config, name))].map(([tensor, shape]) => {
    const norm = tensor.endsWith('norm.weight');
    const std = norm || tensor.endsWith('.bias') ? 0.1 : 0.2;
    return { name: tensor, shape, data: Float32Array.from({ length: elementCount(shape) }, () => (norm ? 1 : 0) + std * normal()) };
  });
  writeFileSync(join(out, 'model.safetensors'), serializeSafetensors(tensors, { format: 'pt' }));
  return out;
}

const batch = {
  input_ids: [[0, 0, 5, 9, 17, 33, 8, 41], [3, 14, 15, 92, 65, 35, 89, 79]],
  attention_mask: [[0, 0, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1]],
  labels: [[-100, -100, 5, 9, 17, 33, 8, 41], [3, 14, 15, 92, 65, 35, 89, 79]],
};

for (const family of Object.keys(VARIANTS)) {
  test(`${family} variant: runs, its prompt gradient matches central differences, and the CLI writes the same`, async () => {
    const modelDir = variantDir(family);
    const model = await modelFromPretrained(modelDir, { engine });
    assert.equal(model.config.arch, family);
    const H = model.config.hiddenSize;
    const normal = normals(11);
    const prompt = Float32Array.from({ length: 4 * H }, () => normal());
    const out = await model.forward(batch, { prompt, grad: true });
    assert.ok(Number.isFinite(out.loss!));
    const grad = out.grad as Float32Array;
    // Along the gradient (a change large enough to measure in fp32) plus a random direction.
    const norm = Math.hypot(...grad);
    const direction = grad.map((g, i) => g / norm + (i % 7 === 0 ? 0.5 : -0.1));
    const eps = 1e-2;
    const lossAt = async (sign: number) =>
      (await model.forward(batch, { prompt: prompt.map((v, i) => v + sign * eps * direction[i]), logits: false })).loss!;
    const fd = ((await lossAt(1)) - (await lossAt(-1))) / (2 * eps);
    const analytic = grad.reduce((s, g, i) => s + g * direction[i], 0);
    assert.ok(Math.abs(fd - analytic) <= 1e-2 * Math.abs(analytic) + 1e-4, `autodiff ${analytic} vs central differences ${fd}`);

    const adapterDir = join(modelDir, 'adapter');
    const peftConfig = promptTuningConfig({ num_virtual_tokens: 4 }, model.config);
    mkdirSync(adapterDir);
    writeFileSync(join(adapterDir, ADAPTER_CONFIG), serializeAdapterConfig(peftConfig));
    writeFileSync(join(adapterDir, ADAPTER_WEIGHTS), serializeAdapterWeights(peftConfig, prompt));
    writeFileSync(join(modelDir, 'batch.json'), JSON.stringify(batch));
    const file = join(modelDir, 'out.safetensors');
    const args = ['forward', '--model', modelDir, '--adapter', adapterDir, '--batch', join(modelDir, 'batch.json'), '--out', file, '--grad'];
    const r = spawnSync(process.execPath, ['bin/softprompt.js', ...args], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const written = Safetensors.parse(readFileSync(file), file);
    assert.ok(Math.abs(written.float32('loss')[0] - out.loss!) < 1e-5);
    assert.deepEqual(written.entry('grad').shape, [4, H]);
    assert.ok(written.float32('grad').every((g, i) => Math.abs(g - grad[i]) < 1e-5));
  });

  test(`${family} variant: KV-cache decoding picks what a full recomputation picks`, async () => {
    const model = await modelFromPretrained(variantDir(family), { engine });
    const prompt = Float32Array.from({ length: 4 * model.config.hiddenSize }, normals(3));
    const rows = batch.input_ids.map((r) => [...r]);
    const mask = batch.attention_mask.map((r) => [...r]);
    for (let step = 0; step < 5; step++) {
      const { logits } = await model.forward({ input_ids: rows, attention_mask: mask }, { prompt });
      const [, S, V] = logits!.dims;
      rows.forEach((row, b) => {
        row.push(argmax((logits!.data as Float32Array).slice((b * S + S - 1) * V, (b * S + S) * V)));
        mask[b].push(1);
      });
    }
    const got = await generate(model, null, {
      input_ids: batch.input_ids, attention_mask: batch.attention_mask, prompt, max_new_tokens: 5, eos_token_id: null,
    });
    assert.deepEqual(got.sequences, rows);
  });
}

test('phi3 longrope: short factors up to original_max_position_embeddings, long ones beyond, cos/sin x sqrt(1 + ln(s)/ln(orig))', () => {
  const cfg = parseModelConfig({ ...VARIANTS.phi3, ...common }, 'phi3');
  assert.equal(cfg.rotaryDim, 8);
  const d = 8;
  const short = ropeInvFreq(cfg, 8);
  const long = ropeInvFreq(cfg, 9);
  for (let i = 0; i < d / 2; i++) {
    const plain = 1 / 10000 ** ((2 * i) / d);
    assert.ok(Math.abs(short[i] - plain / (1 + i / 4)) < 1e-6 * plain);
    assert.ok(Math.abs(long[i] - plain / (3 + i / 4)) < 1e-6 * plain);
  }
  const { cos } = ropeTables(cfg, [[0]]);
  const factor = Math.sqrt(1 + Math.log(64 / 8) / Math.log(8));
  assert.ok(Math.abs((cos.data as Float32Array)[0] - factor) < 1e-6);
});

test('a sliding window W lets query i see keys i - W < j <= i, pads and virtual tokens included', () => {
  const cfg = parseModelConfig({ ...VARIANTS.phi3, ...common }, 'phi3');
  const mask = [[1, 1, 0, 1, 1, 1, 1, 1]];
  const bias = attentionBias(cfg, { mask, queryStart: 0, positions: [[0, 1, 2, 3, 4, 5, 6, 7]] }, cfg.layers![0].window).data as Float32Array;
  for (let i = 0; i < 8; i++) {
    for (let j = 0; j < 8; j++) {
      const seen = j <= i && j > i - 5 && mask[0][j] === 1;
      assert.equal(bias[i * 8 + j] === 0, seen, `query ${i}, key ${j}`);
    }
  }
});

test('config features these families do not implement are refused, naming the field', () => {
  const refused: Array<[string, Record<string, unknown>, RegExp]> = [
    ['qwen3', { use_sliding_window: true, sliding_window: 4 }, /use_sliding_window/],
    ['smollm3', { use_sliding_window: true, sliding_window: 4 }, /use_sliding_window/],
    ['smollm3', { no_rope_layers: [1, 0] }, /no_rope_layers/],
    ['phi3', { rope_scaling: { type: 'yarn', short_factor: [1], long_factor: [1] } }, /rope type "yarn"/],
    ['phi3', { rope_scaling: { type: 'longrope', short_factor: [1, 1], long_factor: [1, 1] } }, /expected 4 \(rotary dims \/ 2\)/],
    ['granite', { hidden_act: 'relu2' }, /hidden_act is "relu2"/],
    ['olmo2', { hidden_act: 'laplace' }, /hidden_act is "laplace"/],
  ];
  for (const [family, edit, message] of refused) {
    assert.throws(() => parseModelConfig({ ...VARIANTS[family], ...common, ...edit }, 'config.json'), message, family);
  }
});
