/**
 * The onnxruntime-web worker (web/engine.ts starts it): the browser twin of runtime/worker.ts, sharing its session and
 * weight-set handling (runtime/worker-host.ts); what is its own is choosing WebGPU or WASM and configuring the latter.
 */
import * as ort from 'onnxruntime-web';
import { answer, sessionHost } from '../runtime/worker-host.js';
import { browser } from './dom.js';
import type { EngineInfo } from './engine.js';
import type { WebRequest, WebSessionConfig } from './engine-protocol.js';

let device: 'webgpu' | 'wasm' = 'wasm';

const host = sessionHost({
  tensor: (t) => new ort.Tensor(t.dtype, t.data, t.dims),
  createSession: (model) => {
    // The page's engine sends bytes only (web/engine.ts refuses model files with external data).
    if (typeof model === 'string') throw new Error('a model file path cannot load in a browser');
    return ort.InferenceSession.create(model, {
      executionProviders: device === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'],
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      enableCpuMemArena: true,
      enableMemPattern: false,
    });
  },
});

interface AdapterInfo {
  isFallbackAdapter?: boolean;
  info?: { vendor?: string; architecture?: string; description?: string; isFallbackAdapter?: boolean };
}

/** A software adapter (SwiftShader, or one the browser calls a fallback) is slower than WASM: 'auto' passes it by. */
function isSoftware(adapter: AdapterInfo): boolean {
  const info = adapter.info ?? {};
  return adapter.isFallbackAdapter === true || info.isFallbackAdapter === true || /swiftshader|llvmpipe|software/i.test(`${info.vendor} ${info.architecture} ${info.description}`);
}

/** WebGPU when asked for or when 'auto' finds a hardware adapter; else WASM. */
async function chooseDevice(wanted: WebSessionConfig['device']): Promise<'webgpu' | 'wasm'> {
  if (wanted === 'wasm') return 'wasm';
  const gpu = browser.navigator.gpu;
  const adapter = (gpu ? await gpu.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null) : null) as AdapterInfo | null;
  if (adapter && (wanted === 'webgpu' || !isSoftware(adapter))) return 'webgpu';
  if (wanted === 'webgpu') throw new Error('device "webgpu" was asked for but this browser has no WebGPU adapter');
  return 'wasm';
}

async function configure(config: WebSessionConfig): Promise<EngineInfo> {
  ort.env.wasm.numThreads = config.threads;
  if (config.wasmPaths) ort.env.wasm.wasmPaths = config.wasmPaths;
  device = await chooseDevice(config.device);
  return { device, threads: config.threads, crossOriginIsolated: browser.crossOriginIsolated === true };
}

// onnxruntime-web's threads are workers started from this same script (the bundled Emscripten glue is its own
// pthread script) and named "em-pthread...": those belong to onnxruntime, which takes their messages itself.
const scope = browser;
if (!scope.name?.startsWith('em-pthread')) scope.onmessage = (event) => {
  const msg = event.data as WebRequest;
  answer(msg, msg.type === 'configure' ? configure(msg.config) : host(msg), (reply, transfer) => scope.postMessage(reply, transfer));
};
