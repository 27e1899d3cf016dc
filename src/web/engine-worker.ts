/**
 * The onnxruntime-web worker (web/engine.ts starts it): the browser twin of runtime/worker.ts. Weight sets are held
 * here once and added to every run's feeds; a weight input named `NAME#rows=A:B` is a view of rows A..B of NAME.
 */
import * as ort from 'onnxruntime-web';
import { parseRowView, type TensorData } from '../runtime/protocol.js';
import { transferable } from '../runtime/transfer.js';
import { elementCount } from '../shape.js';
import { browser } from './dom.js';
import type { WebReply, WebRequest, WebSessionConfig } from './engine-protocol.js';

const sessions = new Map<string, ort.InferenceSession>();
const weightSets = new Map<string, Record<string, ort.Tensor>>();
let device: 'webgpu' | 'wasm' = 'wasm';

function toOrt(t: TensorData): ort.Tensor {
  return new ort.Tensor(t.dtype, t.data, t.dims);
}

function fromOrt(t: ort.Tensor): TensorData {
  return { dtype: t.type as TensorData['dtype'], dims: [...t.dims], data: t.data as never };
}

function weightOrView(set: Record<string, ort.Tensor>, name: string): ort.Tensor | undefined {
  if (set[name]) return set[name];
  const view = parseRowView(name);
  const base = view ? set[view.weight] : undefined;
  if (!view || !base) return undefined;
  const width = elementCount(base.dims.slice(1));
  const data = (base.data as Float32Array | Uint16Array).subarray(view.start * width, view.end * width);
  return (set[name] = new ort.Tensor(base.type as 'float32', data as Float32Array, [view.end - view.start, ...base.dims.slice(1)]));
}

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

async function handle(msg: WebRequest): Promise<unknown> {
  switch (msg.type) {
    case 'configure': {
      ort.env.wasm.numThreads = msg.config.threads;
      if (msg.config.wasmPaths) ort.env.wasm.wasmPaths = msg.config.wasmPaths;
      device = await chooseDevice(msg.config.device);
      return { device, threads: msg.config.threads, crossOriginIsolated: browser.crossOriginIsolated === true };
    }
    case 'load': {
      // The page's engine sends bytes only (web/engine.ts refuses model files with external data).
      if (typeof msg.model === 'string') throw new Error('a model file path cannot load in a browser');
      const session = await ort.InferenceSession.create(msg.model, {
        executionProviders: device === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'],
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        enableCpuMemArena: true,
        enableMemPattern: false,
      });
      await sessions.get(msg.key)?.release();
      sessions.set(msg.key, session);
      return { inputs: session.inputNames, outputs: session.outputNames };
    }
    case 'weights': {
      const set: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(msg.tensors)) set[name] = toOrt(t);
      weightSets.set(msg.set, set);
      return null;
    }
    case 'run': {
      const session = sessions.get(msg.key);
      if (!session) throw new Error(`no session '${msg.key}' loaded`);
      const weights = msg.weights ? weightSets.get(msg.weights) : undefined;
      if (msg.weights && !weights) throw new Error(`no weight set '${msg.weights}' bound`);
      const feeds: Record<string, ort.Tensor> = {};
      for (const name of session.inputNames) {
        const given = msg.feeds[name];
        const t = given ? toOrt(given) : weights ? weightOrView(weights, name) : undefined;
        if (!t) throw new Error(`graph input '${name}' was not fed`);
        feeds[name] = t;
      }
      const out = await session.run(feeds, msg.outputs);
      const result: Record<string, TensorData> = {};
      for (const name of msg.outputs) result[name] = fromOrt(out[name]);
      return result;
    }
    case 'release':
      await sessions.get(msg.key)?.release();
      sessions.delete(msg.key);
      return null;
  }
}

// onnxruntime-web's threads are workers started from this same script (the bundled Emscripten glue is its own
// pthread script) and named "em-pthread...": those belong to onnxruntime, which takes their messages itself.
const scope = browser;
if (!scope.name?.startsWith('em-pthread')) scope.onmessage = (event) => {
  const msg = event.data as WebRequest;
  handle(msg).then(
    (result) => {
      const buffers = msg.type === 'run' ? transferable(Object.values(result as Record<string, TensorData>)) : [];
      scope.postMessage({ id: msg.id, ok: true, result } satisfies WebReply, buffers);
    },
    (err: unknown) => scope.postMessage({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies WebReply),
  );
};
