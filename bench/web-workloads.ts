// What `npm run bench:web` times, on whichever engine it is given: the same code runs in Node (runtime/engine.ts)
// and, bundled by web/vite.config.ts (models/pretrained.ts swapped for web/pretrained.ts), in Chromium.
import { PretrainedModel } from '../src/models/model.js';
import { modelFromPretrained } from '../src/models/pretrained.js';
import type { InferenceEngine } from '../src/runtime/engine-api.js';
import { engineWorkload, matmulGflops, median, randomFloats, randomWeights, syntheticBatch } from './workloads.js';

export interface WorkloadTimes {
  /** REFERENCE.md's engine workload, forward + backward to the prompt: median ms per step, and the first step. */
  engine_ms: number;
  engine_first_ms: number;
  /** A prompt-tuning step on the default model (batch 4 x 128 tokens, 8 virtual tokens; fwd + bwd + AdamW). */
  train_ms: number;
  train_first_ms: number;
  matmul_gflops: number;
}

async function timeSteps(steps: number, step: () => Promise<unknown>): Promise<{ first: number; median: number }> {
  const t0 = performance.now();
  await step();
  const first = performance.now() - t0;
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    const s = performance.now();
    await step();
    times.push(performance.now() - s);
  }
  return { first: Math.round(first), median: Math.round(median(times)) };
}

/** One AdamW update of the prompt (what the Trainer adds to the step; tiny next to the graph). */
function adamw(prompt: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, k: number): void {
  const [lr, b1, b2, eps] = [0.01, 0.9, 0.999, 1e-8];
  for (let i = 0; i < prompt.length; i++) {
    m[i] = b1 * m[i] + (1 - b1) * grad[i];
    v[i] = b2 * v[i] + (1 - b2) * grad[i] * grad[i];
    prompt[i] -= (lr * (m[i] / (1 - b1 ** k))) / (Math.sqrt(v[i] / (1 - b2 ** k)) + eps);
  }
}

export async function runWorkloads(engine: InferenceEngine, defaultModel: string, steps: number): Promise<WorkloadTimes> {
  const work = engineWorkload();
  const bloom = new PretrainedModel(work.config, randomWeights(work.config), engine, 'random');
  const eng = await timeSteps(steps, () => bloom.forward(work.batch, { prompt: work.prompt, grad: true, logits: false }));

  const model = await modelFromPretrained(defaultModel, { engine });
  const H = model.config.hiddenSize;
  const batch = syntheticBatch(4, 128, model.config.vocabSize);
  const prompt = randomFloats(8 * H, 3, 1);
  const [m, v] = [new Float32Array(prompt.length), new Float32Array(prompt.length)];
  let k = 0;
  const train = await timeSteps(steps, async () => {
    const out = await model.forward(batch, { prompt, grad: true, logits: false });
    adamw(prompt, out.grad as Float32Array, m, v, ++k);
  });
  const gflops = await matmulGflops(engine, 512, 1024, 1024, 5);
  return { engine_ms: eng.median, engine_first_ms: eng.first, train_ms: train.median, train_first_ms: train.first, matmul_gflops: Math.round(gflops) };
}
