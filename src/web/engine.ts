/**
 * runtime/engine.ts for browsers (package.json "browser" swaps it in): the same handle, on onnxruntime-web in a Web
 * Worker, so `session.run` never blocks the page. WASM runs with threads when the page is cross-origin isolated
 * (COOP/COEP headers; SharedArrayBuffer needs them) and SIMD always; WebGPU when the browser has a GPU adapter
 * (`device: 'auto'`, the default), with onnxruntime-web's WASM kernels for whatever op WebGPU lacks.
 */
import { UnsupportedError } from '../errors.js';
import type { InferenceEngine } from '../runtime/engine-api.js';
import type { TensorData } from '../runtime/protocol.js';
import { transferable } from '../runtime/transfer.js';
import { browser, type WorkerLike } from './dom.js';
import type { WebReply, WebRequest } from './engine-protocol.js';

export type { TensorData } from '../runtime/protocol.js';
export type Device = 'auto' | 'webgpu' | 'wasm';

type Body<T> = T extends unknown ? Omit<T, 'id'> : never;

export interface EngineOptions {
  /** WASM threads; default: navigator.hardwareConcurrency when cross-origin isolated, else 1. */
  threads?: number;
  /** Ignored in browsers (onnxruntime-web plans its own memory); kept so Node's options type-check here. */
  memoryPattern?: boolean;
  device?: Device;
  /** Where onnxruntime-web's .wasm/.mjs files are served from (default: next to the bundled worker). */
  wasmPaths?: string;
  /** The worker script, when a bundler puts it somewhere `new URL('./engine-worker.js', import.meta.url)` misses. */
  workerUrl?: string | URL;
}

/** What the engine runs on, once its worker has started. */
export interface EngineInfo {
  device: 'webgpu' | 'wasm';
  threads: number;
  crossOriginIsolated: boolean;
}

export class Engine implements InferenceEngine {
  private readonly worker: WorkerLike;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly inflight = new Set<Promise<unknown>>();
  private nextId = 0;
  private readonly loaded = new Map<string, Promise<{ inputs: string[]; outputs: string[] }>>();
  /** Settles once the worker has loaded onnxruntime-web and chosen its device. */
  readonly info: Promise<EngineInfo>;

  private constructor(options: EngineOptions) {
    const Worker = browser.Worker;
    // Written out in full so bundlers (Vite, webpack 5) see the worker and bundle it with onnxruntime-web.
    this.worker = options.workerUrl
      ? new Worker(options.workerUrl, { type: 'module', name: 'softprompt-engine' })
      : new Worker(new URL('./engine-worker.js', import.meta.url), { type: 'module', name: 'softprompt-engine' });
    this.worker.onmessage = (event) => {
      const reply = event.data as WebReply;
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.result);
      else p.reject(new Error(reply.error));
    };
    this.worker.onerror = (event) => {
      const err = new Error(`engine worker failed: ${event.message || 'script error'}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    const isolated = browser.crossOriginIsolated === true;
    const threads = options.threads ?? (isolated ? Math.min(browser.navigator.hardwareConcurrency || 1, 16) : 1);
    this.info = this.call({ type: 'configure', config: { threads: isolated ? threads : 1, device: options.device ?? 'auto', wasmPaths: options.wasmPaths } }) as Promise<EngineInfo>;
  }

  static create(options: EngineOptions = {}): Engine {
    return new Engine(options);
  }

  private call(msg: Body<WebRequest>, transfer: ArrayBuffer[] = []): Promise<unknown> {
    const id = this.nextId++;
    const promise = new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id }, transfer);
    });
    const settled = promise.then(() => {}, () => {});
    this.inflight.add(settled);
    void settled.then(() => this.inflight.delete(settled));
    return promise;
  }

  load(key: string, model: () => Uint8Array | string): Promise<{ inputs: string[]; outputs: string[] }> {
    let p = this.loaded.get(key);
    if (!p) {
      const bytes = model();
      // A path means external data in a file (quantized weights), which only onnxruntime-node maps.
      if (typeof bytes === 'string') return Promise.reject(new UnsupportedError('a model file with external data loads in Node only', 'dtype'));
      // Copied, not transferred: the bytes may be a view of a buffer the protobuf writer goes on using.
      p = this.call({ type: 'load', key, model: bytes }) as Promise<{ inputs: string[]; outputs: string[] }>;
      this.loaded.set(key, p);
      p.catch(() => this.loaded.delete(key));
    }
    return p;
  }

  isLoaded(key: string): boolean {
    return this.loaded.has(key);
  }

  async bindWeights(set: string, tensors: Record<string, TensorData>, transfer = false): Promise<void> {
    await this.call({ type: 'weights', set, tensors }, transfer ? transferable(Object.values(tensors)) : []);
  }

  run(key: string, feeds: Record<string, TensorData>, outputs: string[], weights: string | null = null, transfer = false): Promise<Record<string, TensorData>> {
    const buffers = transfer ? transferable(Object.values(feeds)) : [];
    return this.call({ type: 'run', key, weights, feeds, outputs }, buffers) as Promise<Record<string, TensorData>>;
  }

  async release(key: string): Promise<void> {
    this.loaded.delete(key);
    await this.call({ type: 'release', key });
  }

  async close(): Promise<void> {
    await this.info.catch(() => {});
    await Promise.all([...this.inflight]);
    this.worker.terminate();
  }
}
