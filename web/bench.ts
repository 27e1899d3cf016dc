// The page `npm run bench:web` drives: the benchmark workloads on onnxruntime-web (see bench/web.ts).
import { runWorkloads } from '../bench/web-workloads.js';
import { Engine, type Device } from '../src/web/engine.js';

(window as unknown as { runBench: unknown }).runBench = async (opts: { device: Device; threads?: number; steps: number }) => {
  const engine = Engine.create({ device: opts.device, threads: opts.threads });
  try {
    const info = await engine.info;
    return { ...info, ...(await runWorkloads(engine, '/models/default/', opts.steps)) };
  } finally {
    await engine.close();
  }
};
