/**
 * `npm run bench:generate`: KV-cache greedy decoding on a bloomz-560m-shaped model with random weights (shapes from
 * ../shared/fixtures/configs/bloomz-560m/config.json): batch 1, a 16-token input, 64 new tokens, eos off so every
 * run decodes all 64. Prints the prefill time (input through the graph + the first token) and decode tokens/s (the
 * other 63), medians over the runs after a warm-up that loads the graph and binds the weights.
 * Also the decode ms/token over the first and the last 16 steps, which shows what the growing cache costs.
 * Options: --config FILE, --model DIR (a checkpoint, e.g. from bench:checkpoint, instead of in-memory weights),
 * --dtype fp32|fp16|q8|q4 (fp16: matrices bound as float16, cast where read; q8|q4: quantized on load, cached in the HF cache folder; --block-size 32|64,
 * --zero-points, --accuracy-level N), --prompt-tokens N (soft-prompt rows, default 0), --runs N, --threads N,
 * --weights inputs|initializers, --json FILE (also writes the result there).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { generateStream } from '../src/generate/generate.js';
import { loadConfig, withDtype } from '../src/models/pretrained.js';
import { parseWeightDtype } from '../src/weights/quantize.js';
import { QuantizedWeightFiles } from '../src/weights/quantized-files.js';
import { loadWeights } from '../src/weights/files.js';
import { parseModelConfig } from '../src/models/config.js';
import { PretrainedModel } from '../src/models/model.js';
import { Engine } from '../src/runtime/engine.js';
import { machine, median, peakRssGb, randomFloats, randomWeights } from './util.js';

const { values } = parseArgs({
  options: {
    config: { type: 'string', default: new URL('../../../shared/fixtures/configs/bloomz-560m/config.json', import.meta.url).pathname },
    model: { type: 'string' },
    'prompt-tokens': { type: 'string', default: '0' },
    runs: { type: 'string', default: '3' },
    threads: { type: 'string' },
    weights: { type: 'string', default: 'inputs' },
    dtype: { type: 'string', default: 'fp32' },
    'block-size': { type: 'string' },
    'zero-points': { type: 'boolean', default: false },
    'accuracy-level': { type: 'string' },
    json: { type: 'string' },
  },
});
const dtype = parseWeightDtype(values.dtype!, '--dtype');
const INPUT = 16;
const NEW = 64;
if (values.weights !== 'inputs' && values.weights !== 'initializers') throw new Error('--weights must be inputs or initializers');
const weightsAs = values.weights;

const engine = Engine.create({ threads: values.threads ? Number(values.threads) : undefined });
const cfg = values.model ? await loadConfig(values.model) : parseModelConfig(JSON.parse(readFileSync(values.config, 'utf8')), values.config);
const weights = values.model ? await loadWeights(values.model) : randomWeights(cfg);
const quantization = {
  ...(values['block-size'] ? { blockSize: Number(values['block-size']) } : {}),
  ...(values['zero-points'] ? { symmetric: false } : {}),
  ...(values['accuracy-level'] ? { accuracyLevel: Number(values['accuracy-level']) } : {}),
};
const model = withDtype(new PretrainedModel(cfg, weights, engine, values.model ?? 'random', weightsAs), dtype, quantization);
// What a load costs: quantizing into the cache the first time (0 when a cached copy was found), or nothing at fp32.
const cachedBefore = model.quantized instanceof QuantizedWeightFiles ? model.quantized.cached('rows') : null;
const input_ids = [Array.from({ length: INPUT }, (_, t) => (t * 104729 + 7919) % cfg.vocabSize)];
const n = Number(values['prompt-tokens']);
const prompt = n > 0 ? randomFloats(n * cfg.hiddenSize, 3, 1) : null;

interface Run {
  prefillMs: number;
  /** ms of each decode step (every new token after the first). */
  stepMs: number[];
}

async function run(): Promise<Run> {
  const times = [performance.now()];
  for await (const _ of generateStream(model, null, { input_ids, prompt, max_new_tokens: NEW, eos_token_id: null })) times.push(performance.now());
  const stepMs = times.slice(2).map((t, i) => t - times[i + 1]);
  return { prefillMs: times[1] - times[0], stepMs };
}

/** Each distinct setting and how many weights use it. */
function quantizationSummary(store: QuantizedWeightFiles): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { settings: q } of store.plan.values()) {
    const key = `${q.bits}-bit, block ${q.blockSize}, ${q.symmetric ? 'symmetric' : 'zero points'}, accuracy_level ${q.accuracyLevel}`;
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

const t0 = performance.now();
await run();
const warmupMs = performance.now() - t0;
const runs: Run[] = [];
for (let i = 0; i < Number(values.runs); i++) runs.push(await run());
const rssAfter = process.memoryUsage().rss;
await engine.close();

const result = {
  dtype,
  ...(model.quantized instanceof QuantizedWeightFiles ? { quantization: quantizationSummary(model.quantized), cached_copy_found: cachedBefore } : {}),
  prefill_ms: Math.round(median(runs.map((r) => r.prefillMs))),
  decode_tokens_per_s: Number(median(runs.map((r) => 1000 / mean(r.stepMs))).toFixed(2)),
  decode_ms_first16: Number(median(runs.map((r) => mean(r.stepMs.slice(0, 16)))).toFixed(1)),
  decode_ms_last16: Number(median(runs.map((r) => mean(r.stepMs.slice(-16)))).toFixed(1)),
  warmup_ms: Math.round(warmupMs),
  soft_prompt_tokens: n,
  weights: values.weights,
  peak_rss_gb: Number(peakRssGb().toFixed(2)),
  rss_after_gb: Number((rssAfter / 1e9).toFixed(2)),
  machine: machine(),
};
if (values.json) {
  writeFileSync(values.json, JSON.stringify(result, null, 2) + '\n');
  console.log(JSON.stringify(result));
} else {
  console.log(`generation: ${cfg.modelType} (hidden ${cfg.hiddenSize}, ${cfg.numLayers} layers, vocab ${cfg.vocabSize}), weights: ${model.source}`);
  console.log(`  batch 1, ${INPUT}-token input${n ? ` + ${n} soft-prompt rows` : ''}, ${NEW} new tokens, greedy, KV cache`);
  console.log(`  prefill ${result.prefill_ms} ms, decode ${result.decode_tokens_per_s} tokens/s (medians of ${runs.length}; warm-up incl. graph load ${result.warmup_ms} ms)`);
  console.log(`  decode ms/token: ${result.decode_ms_first16} over the first 16 steps, ${result.decode_ms_last16} over the last 16`);
  console.log(`  dtype ${dtype}, weights as ${values.weights}, peak RSS ${result.peak_rss_gb} GB, ${result.machine}`);
}
