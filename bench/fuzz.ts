// `npm run fuzz`: every parser of user files fed >= 10,000 generated malformed inputs (test/fuzz/targets.ts); each must
// parse or raise one typed, one-line SoftpromptError. Bounded: each target runs in batches until its count or its time
// budget is reached. Prints per-target counts, time, slowest input and peak memory, for docs/benchmarks.md.
// Usage: node dist/bench/fuzz.js [runs per target, default 10000] [seed, default 1] [seconds per target, default 120]
import { fuzz, TARGETS } from '../test/fuzz/targets.js';

const runs = Number(process.argv[2] ?? 10_000);
const seed = Number(process.argv[3] ?? 1);
const budgetS = Number(process.argv[4] ?? 120);
let failed = false;
let peakRss = process.memoryUsage().rss;
const total = performance.now();
console.log(`| parser | inputs | time (s) | slowest input (ms) |\n|---|---|---|---|`);
for (const target of TARGETS) {
  const started = performance.now();
  let done = 0;
  let slowest = 0;
  const batch = 1000;
  while (done < runs && (performance.now() - started) / 1000 < budgetS) {
    const result = fuzz(target, Math.min(batch, runs - done), seed + done);
    done += result.runs;
    slowest = Math.max(slowest, result.slowestMs);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    if (result.failure) {
      console.error(`FAIL ${target.name}: ${result.failure}`);
      failed = true;
      break;
    }
  }
  console.log(`| ${target.name} | ${done} | ${((performance.now() - started) / 1000).toFixed(1)} | ${slowest.toFixed(1)} |`);
  if (done < runs) failed = true;
}
console.log(`\n${TARGETS.length} parsers, ${((performance.now() - total) / 1000).toFixed(1)} s in all, peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB (seed ${seed})`);
process.exit(failed ? 1 : 0);
