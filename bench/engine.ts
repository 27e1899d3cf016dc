/**
 * `npm run bench:engine`: forward + backward to the soft prompt on REFERENCE.md's engine workload — 4 blocks
 * (hidden 1024, 16 heads, MLP 4096), batch 4 x 128 tokens with 8 prompt rows, vocab 8192, cross-entropy — built with
 * softprompt's graph builder and autodiff (BLOOM blocks). Prints ms/step, the matmul GFLOP/s measured in the same run,
 * and peak RSS. Options: --steps N, --threads N, --weights inputs|initializers, --memory-pattern, --json.
 */
import { parseArgs } from 'node:util';
import { parseModelConfig } from '../src/models/config.js';
import { PretrainedModel } from '../src/models/model.js';
import { Engine } from '../src/runtime/engine.js';
import { machine, matmulGflops, median, peakRssGb, randomFloats, randomWeights } from './util.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '10' },
    threads: { type: 'string' },
    weights: { type: 'string', default: 'inputs' },
    'memory-pattern': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const steps = Number(values.steps);
const B = 4;
const T = 128;
const n = 8;
const H = 1024;
const V = 8192;

const cfg = parseModelConfig(
  { architectures: ['BloomForCausalLM'], hidden_size: H, n_head: 16, n_layer: 4, vocab_size: V, layer_norm_epsilon: 1e-5 },
  'bench:engine config',
);
const engine = Engine.create({ threads: values.threads ? Number(values.threads) : undefined, memoryPattern: values['memory-pattern'] });
if (values.weights !== 'inputs' && values.weights !== 'initializers') throw new Error('--weights must be inputs or initializers');
const model = new PretrainedModel(cfg, randomWeights(cfg), engine, 'random', values.weights);

const ids = Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (b * 7919 + t * 104729) % V));
const batch = { input_ids: ids, attention_mask: ids.map((r) => r.map(() => 1)), labels: ids };
const prompt = randomFloats(n * H, 3, 1);

const t0 = performance.now();
await model.forward(batch, { prompt, grad: true, logits: false });
const firstMs = performance.now() - t0;
const times: number[] = [];
for (let i = 0; i < steps; i++) {
  const s = performance.now();
  await model.forward(batch, { prompt, grad: true, logits: false });
  times.push(performance.now() - s);
}
const gflops = await matmulGflops(engine);
const result = {
  ms_per_step: Math.round(median(times)),
  first_step_ms: Math.round(firstMs),
  weights: values.weights,
  memory_pattern: values['memory-pattern'],
  matmul_gflops: Math.round(gflops),
  peak_rss_gb: Number(peakRssGb().toFixed(2)),
  machine: machine(),
};
await engine.close();
if (values.json) console.log(JSON.stringify(result));
else {
  console.log(`engine workload (4 blocks, hidden 1024, batch ${B}x${T}, ${n} prompt rows, vocab ${V}), fwd+bwd to the prompt`);
  console.log(`  ${result.ms_per_step} ms/step (median of ${steps}; first step incl. graph build and load ${result.first_step_ms} ms; weights as ${values.weights}, memory pattern ${values['memory-pattern'] ? 'on' : 'off'})`);
  console.log(`  matmul ${result.matmul_gflops} GFLOP/s (same run), peak RSS ${result.peak_rss_gb} GB, ${result.machine}`);
}
