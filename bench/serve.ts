/**
 * `npm run bench:serve`: `softprompt serve` under load, server and client (bench/serve-client.ts) each in their own
 * process on 127.0.0.1. Writes K random adapters (8 virtual tokens each) for the model into a temp directory, then
 * runs the same workload, N streamed greedy requests of --max-tokens tokens over K adapters at concurrency C, against:
 *   mixed            continuous batching with one soft prompt per row (the server as shipped)
 *   one at a time    --max_batch_size 1
 *   one per batch    only requests for the same adapter share a batch (--one_prompt_per_batch)
 *   no prefix cache  mixed, but every request runs its adapter's virtual tokens again
 * and the first and third again over --wide adapters (100); prints tokens/s, p50/p99 latency and TTFT, and the ratios
 * against mixed; then throughput for 1, 10, 100 and
 * 1,000 distinct adapters at the same concurrency. Bounded: each run stops issuing requests after --deadline seconds
 * and is killed after twice that.
 * Options: --model DIR (default stories260K from the fixtures), --requests N, --concurrency C, --adapters K,
 * --max-tokens T, --wide K, --curve 1,10,100,1000, --curve-requests N, --deadline S, --threads N, --json.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { saveAdapter } from '../src/peft/adapter-files.js';
import type { PromptTuningConfig } from '../src/peft/config.js';
import { DecodeBatch } from '../src/generate/batch.js';
import { modelFromPretrained } from '../src/models/pretrained.js';
import { machine, randomFloats } from './util.js';

const root = new URL('../..', import.meta.url).pathname;
const { values } = parseArgs({
  options: {
    model: { type: 'string', default: join(root, '..', 'shared', 'fixtures', 'models', 'stories260K') },
    requests: { type: 'string', default: '512' },
    concurrency: { type: 'string', default: '32' },
    adapters: { type: 'string', default: '10' },
    'max-tokens': { type: 'string', default: '32' },
    curve: { type: 'string', default: '1,10,100,1000' },
    'curve-requests': { type: 'string', default: '1000' },
    wide: { type: 'string', default: '100' },
    deadline: { type: 'string', default: '120' },
    threads: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const N = Number(values.requests);
const C = Number(values.concurrency);
const K = Number(values.adapters);
const curve = values.curve.split(',').map(Number);
const curveN = Number(values['curve-requests']);
const WIDE = Number(values.wide);
const deadline = Number(values.deadline);
const VIRTUAL = 8;
const PREFILL_ROWS = 32;
const PREFILL_TOKENS = 8;
const PREFILL_REPS = 15;

interface Stats {
  requests: number;
  errors: number;
  tokens: number;
  seconds: number;
  warmup_seconds: number;
  tokens_per_s: number;
  latency_p50_ms: number;
  latency_p99_ms: number;
  ttft_p50_ms: number;
  ttft_p99_ms: number;
}

const dir = mkdtempSync(join(tmpdir(), 'softprompt-bench-serve-'));
try {
  const config = JSON.parse(readFileSync(join(values.model, 'config.json'), 'utf8'));
  const hidden = config.hidden_size ?? config.n_embd;
  const most = Math.max(K, WIDE, ...curve);
  for (let k = 0; k < most; k++) {
    const cfg = { peft_type: 'PROMPT_TUNING', task_type: 'CAUSAL_LM', num_virtual_tokens: VIRTUAL, token_dim: hidden, num_transformer_submodules: 1, prompt_tuning_init: 'RANDOM' } as PromptTuningConfig;
    await saveAdapter(join(dir, name(k)), cfg, randomFloats(VIRTUAL * hidden, k + 1, 1));
  }
  const runs: Array<[string, string[], number]> = [
    ['mixed (continuous, one prompt per row)', [], K],
    ['one request at a time', ['--max_batch_size', '1'], K],
    ['one adapter per batch', ['--one_prompt_per_batch'], K],
    ['mixed, no prefix cache', ['--no-prefix_cache'], K],
    [`mixed, ${WIDE} adapters`, [], WIDE],
    [`one adapter per batch, ${WIDE} adapters`, ['--one_prompt_per_batch'], WIDE],
  ];
  const results: Array<{ run: string; adapters: number; stats: Stats }> = [];
  for (const [label, flags, k] of runs) results.push({ run: label, adapters: k, stats: await measure(flags, k, N) });
  const curveResults: Array<{ adapters: number; stats: Stats }> = [];
  for (const k of curve) curveResults.push({ adapters: k, stats: await measure([], k, curveN) });
  const prefix = await prefixSavings();

  if (values.json) process.stdout.write(`${JSON.stringify({ machine: machine(), N, C, K, results, curve: curveResults, prefix })}\n`);
  else {
    const base = results[0].stats;
    const row = (label: string, s: Stats, ratio: boolean) =>
      `| ${label} | ${s.tokens_per_s.toFixed(0)} | ${ratio ? (s.tokens_per_s / base.tokens_per_s).toFixed(2) : '1.00'} | ${s.latency_p50_ms.toFixed(0)} / ${s.latency_p99_ms.toFixed(0)} | ${s.ttft_p50_ms.toFixed(0)} / ${s.ttft_p99_ms.toFixed(0)} | ${s.requests} | ${s.errors} |`;
    console.log(`model ${values.model}, ${N} requests x ${values['max-tokens']} tokens over ${K} adapters (${VIRTUAL} virtual tokens), concurrency ${C}; ratios against the first row`);
    console.log('| run | tokens/s | vs mixed | latency p50 / p99 ms | TTFT p50 / p99 ms | requests | errors |');
    console.log('|---|---|---|---|---|---|---|');
    results.forEach((r, i) => console.log(row(r.run, r.stats, i > 0)));
    console.log(`\n${curveN} requests per point, concurrency ${C}`);
    console.log('| distinct adapters | tokens/s | latency p50 / p99 ms | TTFT p50 / p99 ms | warm-up s (first request per adapter) | errors |');
    console.log('|---|---|---|---|---|---|');
    for (const { adapters, stats: s } of curveResults) {
      console.log(`| ${adapters} | ${s.tokens_per_s.toFixed(0)} | ${s.latency_p50_ms.toFixed(0)} / ${s.latency_p99_ms.toFixed(0)} | ${s.ttft_p50_ms.toFixed(0)} / ${s.ttft_p99_ms.toFixed(0)} | ${s.warmup_seconds.toFixed(2)} | ${s.errors} |`);
    }
    console.log(`\nprefix cache: ${PREFILL_ROWS} rows of ${PREFILL_TOKENS} tokens joining the batch (one prefill), fastest of ${PREFILL_REPS}`);
    console.log('| virtual tokens | from cached prefixes | prompts run again | saved |');
    console.log('|---|---|---|---|');
    for (const p of prefix) console.log(`| ${p.virtual} | ${p.cachedMs.toFixed(1)} ms | ${p.uncachedMs.toFixed(1)} ms | ${(100 * (1 - p.cachedMs / p.uncachedMs)).toFixed(0)}% |`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

function name(k: number): string {
  return `adapter_${String(k).padStart(4, '0')}`;
}


/** What the prefix cache saves where it acts: a join's prefill, from cached keys/values or running the prompts. */
async function prefixSavings(): Promise<Array<{ virtual: number; cachedMs: number; uncachedMs: number }>> {
  const model = await modelFromPretrained(values.model, { threads: values.threads ? Number(values.threads) : undefined });
  try {
    const H = model.config.hiddenSize;
    const ids = Array.from({ length: PREFILL_TOKENS }, (_, t) => (t * 7919 + 13) % model.config.vocabSize);
    const out = [];
    for (const virtual of [8, 32, 128]) {
      const prompts = Array.from({ length: 4 }, (_, i) => randomFloats(virtual * H, 100 + i, 1));
      const prefixes = await Promise.all(prompts.map((p) => DecodeBatch.promptPrefix(model, p)));
      const time = async (cached: boolean) => {
        const ms = [];
        for (let r = 0; r < PREFILL_REPS + 1; r++) {
          const batch = new DecodeBatch(model);
          const rows = Array.from({ length: PREFILL_ROWS }, (_, b) => (cached ? { ids, prefix: prefixes[b % 4] } : { ids, prompt: prompts[b % 4] }));
          const t0 = performance.now();
          await batch.join(rows);
          if (r > 0) ms.push(performance.now() - t0);
        }
        return Math.min(...ms);
      };
      out.push({ virtual, cachedMs: await time(true), uncachedMs: await time(false) });
    }
    return out;
  } finally {
    await model.engine.close();
  }
}

/** Starts a server with `flags`, runs the client against it with adapters 0..k-1 (n requests), stops the server. */
async function measure(flags: string[], k: number, n: number): Promise<Stats> {
  const server = spawn(
    process.execPath,
    [join(root, 'bin', 'softprompt.js'), 'serve', '--model', values.model, '--adapters', dir, '--port', '0', '--max_queue', '100000', ...(values.threads ? ['--threads', values.threads] : []), ...flags],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const killer = setTimeout(() => server.kill('SIGKILL'), 4 * deadline * 1000);
  try {
    const address = await new Promise<string>((resolve, reject) => {
      let out = '';
      server.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.includes('"msg":"serving"'));
        if (line) resolve(JSON.parse(line).address);
      });
      server.on('exit', (code) => reject(new Error(`the server exited (${code}) before serving`)));
    });
    const models = Array.from({ length: k }, (_, i) => name(i)).join(',');
    const client = spawn(
      process.execPath,
      [join(root, 'dist', 'bench', 'serve-client.js'), '--url', address, '--models', models, '--requests', String(n), '--concurrency', String(C), '--max-tokens', values['max-tokens'], '--deadline', String(deadline)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const clientKiller = setTimeout(() => client.kill('SIGKILL'), 2 * deadline * 1000);
    let out = '';
    client.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((resolve) => client.on('exit', resolve));
    clearTimeout(clientKiller);
    return JSON.parse(out) as Stats;
  } finally {
    clearTimeout(killer);
    server.kill('SIGTERM');
    await new Promise((resolve) => (server.exitCode !== null ? resolve(null) : server.on('exit', resolve)));
  }
}
