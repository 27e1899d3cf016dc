/**
 * `npm run bench:web [-- --steps N --json FILE]`: the engine workload (REFERENCE.md; see bench/engine.ts) and a
 * prompt-tuning step on the default model (batch 4 x 128 tokens, 8 virtual tokens), in headless Chromium on
 * onnxruntime-web (WASM, SIMD, threads: the page is cross-origin isolated) and in Node on onnxruntime-node, in the
 * same run on the same machine, with the browser/Node ratio; WebGPU too when Chromium finds a GPU adapter.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { servedModels, webServer } from '../src/cli/web.js';
import { DEFAULT_MODEL, PACKAGE_ROOT } from '../src/hub/default-model.js';
import { Engine } from '../src/runtime/engine.js';
import { CHROMIUM_ARGS, findChromium } from './chromium.js';
import { machine } from './util.js';
import { runWorkloads, type WorkloadTimes } from './web-workloads.js';

const { values } = parseArgs({ options: { steps: { type: 'string', default: '5' }, json: { type: 'string' }, 'no-build': { type: 'boolean', default: false } } });
const steps = Number(values.steps);
const executablePath = findChromium();
if (!executablePath) {
  console.error('bench:web needs Chromium: apt-get install chromium (or set CHROMIUM_PATH)');
  process.exit(2);
}

if (!values['no-build']) {
  const { build } = await import('vite');
  await build({ configFile: join(PACKAGE_ROOT, 'web', 'vite.config.ts') });
}
const server = webServer({ port: 0, host: '127.0.0.1', models: await servedModels(null), app: join(PACKAGE_ROOT, 'web', 'dist') });
await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
const port = (server.address() as { port: number }).port;

type BrowserTimes = WorkloadTimes & { device: string; threads: number; crossOriginIsolated: boolean };
const rows: Array<{ where: string } & WorkloadTimes> = [];
const browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
let chromiumVersion = '';
try {
  chromiumVersion = browser.version();
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${port}/bench.html`);
  await page.waitForFunction(() => 'runBench' in globalThis);
  const run = (device: string) =>
    page.evaluate(async ({ device, steps }) => (globalThis as unknown as { runBench(o: object): Promise<BrowserTimes> }).runBench({ device, steps }), { device, steps });
  const wasm = await run('wasm');
  rows.push({ where: `Chromium ${chromiumVersion}, onnxruntime-web WASM (SIMD, ${wasm.threads} threads${wasm.crossOriginIsolated ? '' : ', not isolated'})`, ...wasm });
  // A hardware adapter only: Chromium's software one (SwiftShader) is slower than WASM and not what WebGPU means.
  const gpu = await page.evaluate(async () => {
    type Adapter = { isFallbackAdapter?: boolean; info?: { vendor?: string; architecture?: string; description?: string; isFallbackAdapter?: boolean } };
    const g = (globalThis as unknown as { navigator: { gpu?: { requestAdapter(o?: object): Promise<Adapter | null> } } }).navigator.gpu;
    const a = g ? await g.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null) : null;
    if (!a) return null;
    const text = `${a.info?.vendor ?? ''} ${a.info?.architecture ?? ''} ${a.info?.description ?? ''}`.trim();
    return a.isFallbackAdapter || a.info?.isFallbackAdapter || /swiftshader|llvmpipe/i.test(text) ? `software: ${text}` : text || 'a GPU';
  });
  if (gpu?.startsWith('software')) console.error(`WebGPU adapter is ${gpu}: skipped (WASM only)`);
  if (gpu && !gpu.startsWith('software')) {
    const webgpu = await run('webgpu').catch((e: Error) => ({ error: e.message }));
    if ('error' in webgpu) console.error(`WebGPU run failed: ${webgpu.error}`);
    else rows.push({ where: `Chromium ${chromiumVersion}, onnxruntime-web WebGPU (${gpu})`, ...webgpu });
  } else if (!gpu) console.error('no WebGPU adapter in this Chromium: WASM only');
} finally {
  await browser.close();
  server.close();
}

const engine = Engine.create();
try {
  rows.push({ where: 'Node, onnxruntime-node (CPU)', ...(await runWorkloads(engine, DEFAULT_MODEL, steps)) });
} finally {
  await engine.close();
}

const node = rows.at(-1)!;
console.log(`bench:web on ${machine()}: median of ${steps} steps after a first (first step incl. graph build and load)`);
console.log('| where | engine workload ms/step (first) | default-model train step ms (first) | matmul GFLOP/s | vs Node (engine, train) |');
console.log('|---|---|---|---|---|');
for (const r of rows) {
  const ratio = `${(r.engine_ms / node.engine_ms).toFixed(2)}x, ${(r.train_ms / node.train_ms).toFixed(2)}x`;
  console.log(`| ${r.where} | ${r.engine_ms} (${r.engine_first_ms}) | ${r.train_ms} (${r.train_first_ms}) | ${r.matmul_gflops} | ${ratio} |`);
}
if (values.json) writeFileSync(values.json, `${JSON.stringify({ machine: machine(), steps, rows }, null, 2)}\n`);
