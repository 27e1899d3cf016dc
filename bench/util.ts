// Shared pieces of the benchmarks: synthetic weights of a config's shape, the machine's matmul rate, peak memory.
import { cpus } from 'node:os';

export { matmulGflops, median, randomFloats, randomWeights } from './workloads.js';

export function peakRssGb(): number {
  return (process.resourceUsage().maxRSS * 1024) / 1e9;
}

export function machine(): string {
  const c = cpus();
  return `${c.length} x ${c[0]?.model ?? 'unknown CPU'}`;
}
