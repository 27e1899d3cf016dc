/**
 * `npm run bench:train -- --model DIR [--dtype fp32|fp16|q8|q4] [--batch 4 --seq 128 --virtual 8 --steps N] [--json FILE]`: prompt-tuning
 * train steps (forward + backward to the prompt + AdamW) on a checkpoint, e.g. one from `npm run bench:checkpoint`.
 * Prints seconds per step, tokens/s, achieved GFLOP/s beside the matmul GFLOP/s measured in the same run, peak RSS.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { architectureOf } from '../src/models/architectures.js';
import { modelFromPretrained } from '../src/models/pretrained.js';
import type { ModelConfig } from '../src/models/config.js';
import { parseWeightDtype } from '../src/weights/quantize.js';
import { machine, matmulGflops, median, peakRssGb, randomFloats } from './util.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string' },
    batch: { type: 'string', default: '4' },
    seq: { type: 'string', default: '128' },
    virtual: { type: 'string', default: '8' },
    steps: { type: 'string', default: '3' },
    threads: { type: 'string' },
    dtype: { type: 'string', default: 'fp32' },
    json: { type: 'string' },
  },
});
if (!values.model) {
  console.error('usage: npm run bench:train -- --model DIR [--batch 4 --seq 128 --virtual 8 --steps 3] [--json FILE]');
  process.exit(2);
}
const [B, T, n, steps] = [values.batch, values.seq, values.virtual, values.steps].map(Number);
if (![B, T, n, steps].every((x) => Number.isInteger(x) && x >= 1)) {
  console.error('--batch, --seq, --virtual and --steps take whole numbers >= 1');
  process.exit(2);
}

/** Matmul FLOPs of one step: forward over all positions, backward to the inputs (no weight gradients), head on labels. */
function stepFlops(cfg: ModelConfig, tokens: number, labelled: number): number {
  const H = cfg.hiddenSize;
  const q = cfg.numHeads * cfg.headDim; // H, except where head_dim is set apart (Gemma)
  const kv = cfg.numKvHeads * cfg.headDim;
  const mlp = (architectureOf(cfg).gatedMlp ? 3 : 2) * H * cfg.intermediateSize;
  const perToken = cfg.numLayers * (H * q * 2 + 2 * H * kv + mlp);
  const S = tokens / B;
  const attention = cfg.numLayers * 4 * S * q; // q.k and p.v per token
  return 2 * 2 * tokens * (perToken + attention) + 2 * 2 * labelled * H * cfg.vocabSize;
}

const t0 = performance.now();
const dtype = parseWeightDtype(values.dtype!, '--dtype');
const model = await modelFromPretrained(values.model, { threads: values.threads ? Number(values.threads) : undefined, dtype });
const cfg = model.config;
const ids = Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (b * 7919 + t * 104729 + 13) % cfg.vocabSize));
const batch = { input_ids: ids, attention_mask: ids.map((r) => r.map(() => 1)), labels: ids };
const prompt = randomFloats(n * cfg.hiddenSize, 3, 1);
const m = new Float32Array(prompt.length);
const v = new Float32Array(prompt.length);

async function step(k: number): Promise<void> {
  const { grad } = await model.forward(batch, { prompt, grad: true, logits: false });
  const g = grad as Float32Array;
  // torch AdamW, lr 5e-3: a few microseconds next to the forward/backward.
  const [b1, b2, lr, eps] = [0.9, 0.999, 5e-3, 1e-8];
  for (let i = 0; i < g.length; i++) {
    m[i] = b1 * m[i] + (1 - b1) * g[i];
    v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    prompt[i] -= (lr * (m[i] / (1 - b1 ** k))) / (Math.sqrt(v[i] / (1 - b2 ** k)) + eps);
  }
}

await step(1);
const firstS = (performance.now() - t0) / 1000;
const times: number[] = [];
for (let k = 2; k < steps + 2; k++) {
  const s = performance.now();
  await step(k);
  times.push((performance.now() - s) / 1000);
}
const stepS = median(times);
// Read before the matmul probe, whose operands and session would otherwise count as the training run's memory.
const peakRss = peakRssGb();
const mm = await matmulGflops(model.engine);
const tokens = B * (n + T);
const result = {
  dtype,
  first_step_s: Number(firstS.toFixed(1)),
  step_s: Number(stepS.toFixed(3)),
  tokens_per_s: Math.round(tokens / stepS),
  gflops: Math.round(stepFlops(cfg, tokens, B * T) / stepS / 1e9),
  matmul_gflops: Math.round(mm),
  peak_rss_gb: Number(peakRss.toFixed(2)),
};
await model.engine.close();
console.log(`${values.model} (${dtype}): batch ${B} x ${T} + ${n} virtual tokens, ${steps} steps after a first step of ${firstS.toFixed(1)} s (load + build)`);
console.log(`  ${result.step_s} s/step, ${result.tokens_per_s} tokens/s, ${result.gflops} GFLOP/s achieved vs matmul ${result.matmul_gflops} GFLOP/s`);
console.log(`  peak RSS ${result.peak_rss_gb} GB on ${machine()}`);
if (values.json) writeFileSync(values.json, JSON.stringify(result));
