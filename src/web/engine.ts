/**
 * runtime/engine.ts for browsers (package.json "browser" swaps it in): the same handle, on onnxruntime-web in a Web
 * Worker, so `session.run` never blocks the page. WASM runs with threads when the page is cross-origin isolated
 * (COOP/COEP headers; SharedArrayBuffer needs them) and SIMD always; WebGPU when the browser has a GPU adapter
 * (`device: 'auto'`, the default), with onnxruntime-web's WASM kernels for whatever op WebGPU lacks.
 */
import { UnsupportedError } from '../errors.js';
import { WorkerClient } from '../runtime/worker-client.js';
import { browser, type WorkerLike } from './dom.js';
import type { WebReply, WebRequest, WebSessionConfig } from './engine-protocol.js';

export type { TensorData } from '../runtime/protocol.js';
export type Device = 'auto' | 'webgpu' | 'wasm';

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

export class Engine extends WorkerClient<WebSessionConfig> {
  private readonly worker: WorkerLike;
  /** Settles once the worker has loaded onnxruntime-web and chosen its device. */
  readonly info: Promise<EngineInfo>;

  private constructor(options: EngineOptions) {
    super();
    const Worker = browser.Worker;
    // Written out in full so bundlers (Vite, webpack 5) see the worker and bundle it with onnxruntime-web.
    this.worker = options.workerUrl
      ? new Worker(options.workerUrl, { type: 'module', name: 'softprompt-engine' })
      : new Worker(new URL('./engine-worker.js', import.meta.url), { type: 'module', name: 'softprompt-engine' });
    this.worker.onmessage = (event) => this.receive(event.data as WebReply);
    this.worker.onerror = (event) => this.fail(new Error(`engine worker failed: ${event.message || 'script error'}`));
    const isolated = browser.crossOriginIsolated === true;
    const threads = options.threads ?? (isolated ? Math.min(browser.navigator.hardwareConcurrency || 1, 16) : 1);
    this.info = this.call({ type: 'configure', config: { threads: isolated ? threads : 1, device: options.device ?? 'auto', wasmPaths: options.wasmPaths } }) as Promise<EngineInfo>;
  }

  static create(options: EngineOptions = {}): Engine {
    return new Engine(options);
  }

  /** Bytes only: a model file whose external data (quantized weights) onnxruntime maps from disk loads in Node only. */
  override load(key: string, model: () => Uint8Array | string): Promise<{ inputs: string[]; outputs: string[] }> {
    return super.load(key, () => {
      const bytes = model();
      if (typeof bytes === 'string') throw new UnsupportedError('quantized weights (a model file with external data) load in Node only', 'dtype');
      return bytes;
    });
  }

  protected post(msg: WebRequest, transfer: ArrayBuffer[]): void {
    this.worker.postMessage(msg, transfer);
  }

  async close(): Promise<void> {
    await this.info.catch(() => {});
    await this.idle();
    this.worker.terminate();
  }
}
