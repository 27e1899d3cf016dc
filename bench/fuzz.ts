// `npm run fuzz`: every parser of user files and every request body of `softprompt serve` fed >= 10,000 generated
// malformed inputs (test/fuzz/targets.ts, test/fuzz/serve.ts); a parser must parse or raise one typed, one-line
// SoftpromptError, a server request must get a 2xx or an OpenAI-shaped 4xx in time. Bounded: each target runs in
// batches until its count or its time budget is reached. Prints per-target counts, time, slowest input and peak memory,
// for docs/benchmarks.md.
// Usage: node dist/bench/fuzz.js [runs per target, default 10000] [seed, default 1] [seconds per target, default 600]
//   [target name filter, e.g. serve]
import { SERVE_TARGETS } from '../test/fuzz/serve.js';
import { fuzz, TARGETS } from '../test/fuzz/targets.js';

const runs = Number(process.argv[2] ?? 10_000);
const seed = Number(process.argv[3] ?? 1);
const budgetS = Number(process.argv[4] ?? 600);
const only = process.argv[5] ?? '';
const targets = [...TARGETS, ...SERVE_TARGETS].filter((t) => t.name.includes(only));
const summaries: string[] = [];
let failed = false;
let peakRss = process.memoryUsage().rss;
const total = performance.now();
console.log(`| target | inputs | time (s) | slowest input (ms) | peak RSS (MiB) |\n|---|---|---|---|---|`);
for (const target of targets) {
  await target.setUp?.();
  const started = performance.now();
  let done = 0;
  let slowest = 0;
  let targetRss = process.memoryUsage().rss;
  const batch = 1000;
  while (done < runs && (performance.now() - started) / 1000 < budgetS) {
    const result = await fuzz(target, Math.min(batch, runs - done), seed + done);
    done += result.runs;
    slowest = Math.max(slowest, result.slowestMs);
    targetRss = Math.max(targetRss, process.memoryUsage().rss);
    if (result.failure) {
      console.error(`FAIL ${target.name}: ${result.failure}`);
      failed = true;
      break;
    }
  }
  if (target.summary) summaries.push(`${target.name}: ${target.summary()}`);
  await target.tearDown?.();
  peakRss = Math.max(peakRss, targetRss);
  console.log(`| ${target.name} | ${done} | ${((performance.now() - started) / 1000).toFixed(1)} | ${slowest.toFixed(1)} | ${(targetRss / 2 ** 20).toFixed(0)} |`);
  if (done < runs) failed = true;
}
console.log(`\n${targets.length} targets, ${((performance.now() - total) / 1000).toFixed(1)} s in all, peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB (seed ${seed})`);
for (const s of summaries) console.log(s);
process.exit(failed ? 1 : 0);
