// Random-weight models built from a config object, for the architecture variants no fixture covers: the forward runs,
// the prompt and weight gradients match central differences, KV-cache decoding matches recomputation.
import assert from 'node:assert/strict';
import { generate } from '../src/generate/generate.js';
import { argmax } from '../src/generate/logits.js';
import { promptWidth } from '../src/models/architectures.js';
import { parseModelConfig } from '../src/models/config.js';
import { architectureWeights } from '../src/models/graphs.js';
import type { ForwardBatch, PretrainedModel } from '../src/models/model.js';
import { normals } from '../src/peft/init.js';
import type { Engine } from '../src/runtime/engine.js';
import { FullFineTuning } from '../src/train/finetune.js';
import { elementCount } from '../src/shape.js';

export const VOCAB = 60;

/**
 * Every weight the config implies: norm weights 1 + N(0, 0.1), biases N(0, 0.1), the rest N(0, 0.2), so that biases,
 * norm affines and attention patterns all matter.
 */
export function randomTuning(config: Record<string, unknown>, engine: Engine, seed = 1): FullFineTuning {
  const cfg = parseModelConfig({ vocab_size: VOCAB, pad_token_id: 0, ...config }, 'config.json');
  const normal = normals(seed);
  const tensors = [...architectureWeights(cfg)].map(([name, shape]) => {
    const size = elementCount(shape);
    const norm = /(norm|\bln_\w+)(\.norms\.\d+)?\.weight$/.test(name);
    const std = name.endsWith('.bias') || norm ? 0.1 : 0.2;
    return { name, shape, data: Float32Array.from({ length: size }, () => (norm ? 1 : 0) + std * normal()) };
  });
  return FullFineTuning.fromWeights(cfg, tensors, engine, 'random weights');
}

/** Two rows, the second left-padded, labels on the real tokens. */
export const BATCH: ForwardBatch = {
  input_ids: [[5, 17, 3, 42, 8, 11], [0, 0, 23, 9, 31, 2]],
  attention_mask: [[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]],
  labels: [[5, 17, 3, 42, 8, 11], [-100, -100, 23, 9, 31, 2]],
};

/**
 * The same rows right-padded: without a soft prompt a left pad's query sees no key at all, and its scores, all the fp32
 * minimum, absorb q.k entirely, so central differences see none of the gradient autodiff (like PyTorch's) sends there.
 */
export const RIGHT_PADDED: ForwardBatch = {
  input_ids: [[5, 17, 3, 42, 8, 11], [23, 9, 31, 2, 0, 0]],
  attention_mask: [[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]],
  labels: [[5, 17, 3, 42, 8, 11], [23, 9, 31, 2, -100, -100]],
};

function unit(x: Float32Array): Float32Array {
  const norm = Math.hypot(...x) || 1;
  return x.map((v) => v / norm);
}

function randomPrompt(model: PretrainedModel, n: number, seed: number): Float32Array {
  const normal = normals(seed);
  return Float32Array.from({ length: n * promptWidth(model.config) }, normal);
}

/** d(loss)/d(prompt) along the gradient plus a random direction, against central differences. */
export async function checkPromptGradient(model: PretrainedModel, seed = 2): Promise<void> {
  const prompt = randomPrompt(model, 3, seed);
  const out = await model.forward(BATCH, { prompt, grad: true });
  const grad = out.grad as Float32Array;
  assert.ok(Number.isFinite(out.loss!) && grad.every(Number.isFinite), 'finite loss and gradient');
  assert.deepEqual(out.logits!.dims, [2, 3 + 6, VOCAB]);
  const random = unit(randomPrompt(model, 3, seed + 1));
  const direction = unit(grad).map((v, i) => v + random[i]);
  const eps = 1e-2;
  const lossAt = async (sign: number) =>
    (await model.forward(BATCH, { prompt: prompt.map((v, i) => v + sign * eps * direction[i]), logits: false })).loss!;
  const fd = ((await lossAt(1)) - (await lossAt(-1))) / (2 * eps);
  const analytic = grad.reduce((s, g, i) => s + g * direction[i], 0);
  assert.ok(Math.abs(fd - analytic) <= 1e-2 * Math.abs(analytic) + 1e-4, `prompt gradient: autodiff ${analytic} vs fd ${fd}`);
}

/** d(loss)/d(every weight) along the gradient plus a random direction, against central differences. */
export async function checkWeightGradient(tuning: FullFineTuning, seed = 3): Promise<void> {
  const { grad } = await tuning.forward(RIGHT_PADDED, { grad: true, logits: false });
  const g = grad as Float32Array;
  const params = tuning.parameters();
  const saved = params.slice();
  const normal = normals(seed);
  const random = unit(Float32Array.from({ length: params.length }, normal));
  const direction = unit(g).map((v, i) => v + random[i]);
  const eps = 1e-2;
  const lossAt = async (sign: number) => {
    params.set(saved.map((v, i) => v + sign * eps * direction[i]));
    return (await tuning.forward(RIGHT_PADDED, { logits: false })).loss!;
  };
  const fd = ((await lossAt(1)) - (await lossAt(-1))) / (2 * eps);
  params.set(saved);
  const analytic = g.reduce((s, v, i) => s + v * direction[i], 0);
  assert.ok(Math.abs(fd - analytic) <= 1e-2 * Math.abs(analytic) + 1e-4, `weight gradient: autodiff ${analytic} vs fd ${fd}`);
}

/** Greedy KV-cache decoding with a shared soft prompt equals taking the argmax of a full forward at every step. */
export async function checkCache(model: PretrainedModel, steps = 3): Promise<void> {
  const prompt = randomPrompt(model, 2, 4);
  const ids = BATCH.input_ids.map((r) => [...r]);
  const mask = BATCH.attention_mask!.map((r) => [...r]);
  const got = await generate(model, null, { input_ids: BATCH.input_ids, attention_mask: BATCH.attention_mask, prompt, max_new_tokens: steps, eos_token_id: null });
  for (let step = 0; step < steps; step++) {
    const { logits } = await model.forward({ input_ids: ids, attention_mask: mask }, { prompt });
    const [, S, V] = logits!.dims;
    ids.forEach((row, b) => {
      row.push(argmax((logits!.data as Float32Array).subarray((b * S + S - 1) * V, (b * S + S) * V)));
      mask[b].push(1);
    });
  }
  assert.deepEqual(got.sequences, ids);
}
