/**
 * The load generator of `npm run bench:serve`, run in its own process: N streamed completion requests at concurrency
 * C against a server on loopback, request i for model `models[i % models.length]`, after a warm-up that sends each
 * model one 1-token request. Prints one JSON line: generated tokens/s, latency and time-to-first-token percentiles,
 * errors. Bounded: stops issuing requests after --deadline seconds, and each request times out.
 */
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    models: { type: 'string' },
    requests: { type: 'string', default: '256' },
    concurrency: { type: 'string', default: '32' },
    'max-tokens': { type: 'string', default: '32' },
    deadline: { type: 'string', default: '120' },
  },
});
const url = values.url!;
const models = values.models!.split(',');
const N = Number(values.requests);
const C = Number(values.concurrency);
const maxTokens = Number(values['max-tokens']);
const deadline = performance.now() + Number(values.deadline) * 1000;
const PROMPTS = ['Once upon a time', 'The dog', 'One day, Tom', 'Lily saw a big', 'The little girl went', 'Max and his friend'];

interface Result {
  ok: boolean;
  tokens: number;
  latency: number;
  ttft: number;
}

async function one(model: string, prompt: string, tokens: number): Promise<Result> {
  const t0 = performance.now();
  let ttft = NaN;
  let count = 0;
  try {
    const r = await fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model, prompt, max_tokens: tokens, temperature: 0, ignore_eos: true, stream: true, stream_options: { include_usage: true } }),
      signal: AbortSignal.timeout(120_000),
    });
    if (r.status !== 200) return { ok: false, tokens: 0, latency: performance.now() - t0, ttft };
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const part of r.body!) {
      if (Number.isNaN(ttft)) ttft = performance.now() - t0;
      buffer += decoder.decode(part as Uint8Array, { stream: true });
      for (let i; (i = buffer.indexOf('\n\n')) >= 0; buffer = buffer.slice(i + 2)) {
        const data = buffer.slice(6, i);
        if (data === '[DONE]') continue;
        const chunk = JSON.parse(data);
        if (chunk.usage) count = chunk.usage.completion_tokens;
      }
    }
    return { ok: count === tokens, tokens: count, latency: performance.now() - t0, ttft };
  } catch {
    return { ok: false, tokens: 0, latency: performance.now() - t0, ttft };
  }
}

async function pool(jobs: number, concurrency: number, run: (i: number) => Promise<Result>): Promise<Result[]> {
  const results: Result[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, jobs) }, async () => {
      while (next < jobs && performance.now() < deadline) results.push(await run(next++));
    }),
  );
  return results;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

const w0 = performance.now();
const warm = await pool(models.length, C, (i) => one(models[i], PROMPTS[0], 1));
const warmup = (performance.now() - w0) / 1000;
const t0 = performance.now();
const results = await pool(N, C, (i) => one(models[i % models.length], PROMPTS[i % PROMPTS.length], maxTokens));
const seconds = (performance.now() - t0) / 1000;
const ok = results.filter((r) => r.ok);
const tokens = ok.reduce((s, r) => s + r.tokens, 0);
process.stdout.write(
  `${JSON.stringify({
    requests: results.length,
    errors: results.length - ok.length + warm.filter((r) => !r.ok).length,
    tokens,
    seconds,
    warmup_seconds: warmup,
    tokens_per_s: tokens / seconds,
    latency_p50_ms: percentile(ok.map((r) => r.latency), 50),
    latency_p99_ms: percentile(ok.map((r) => r.latency), 99),
    ttft_p50_ms: percentile(ok.map((r) => r.ttft), 50),
    ttft_p99_ms: percentile(ok.map((r) => r.ttft), 99),
  })}\n`,
);
