/**
 * The main-thread handle on the onnxruntime worker: load graphs once under a key, bind weight sets once, run.
 * Calls are queued by the worker, one at a time, which is what a 2-core machine wants anyway.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Reply, Request, TensorData } from './protocol.js';
import { transferable } from './transfer.js';

export type { TensorData } from './protocol.js';

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void; settled: Promise<unknown> };
type Body<T> = T extends unknown ? Omit<T, 'id'> : never;

export interface EngineOptions {
  /** Intra-op threads; default: the machine's cores. */
  threads?: number;
  /**
   * onnxruntime's memory pattern (one planned block for all intermediates). Off by default: on bloomz-560m-sized
   * training graphs it raised peak memory by ~0.8 GB and made steps ~2x slower (docs/benchmarks.md).
   */
  memoryPattern?: boolean;
}

export class Engine {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private readonly loaded = new Map<string, Promise<{ inputs: string[]; outputs: string[] }>>();
  /** Settles once the worker has loaded onnxruntime and answered. */
  private readonly ready: Promise<unknown>;

  private constructor(threads: number, memoryPattern: boolean) {
    this.worker = new Worker(new URL('./worker.js', import.meta.url));
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.result);
      else p.reject(new Error(reply.error));
    });
    this.worker.on('error', (err) => {
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
    this.ready = this.call({ type: 'configure', config: { intraOpThreads: threads, memoryPattern } });
  }

  static create(options: EngineOptions = {}): Engine {
    return new Engine(options.threads ?? availableParallelism(), options.memoryPattern ?? false);
  }

  private call(msg: Body<Request>, transfer: ArrayBuffer[] = []): Promise<unknown> {
    const id = this.nextId++;
    // A pending call keeps the process alive; an idle worker must not.
    if (this.pending.size === 0) this.worker.ref();
    let entry!: Pending;
    const promise = new Promise<unknown>((resolve, reject) => {
      entry = { resolve, reject, settled: Promise.resolve() };
      this.pending.set(id, entry);
      this.worker.postMessage({ ...msg, id }, transfer);
    });
    entry.settled = promise.catch(() => {});
    return promise.finally(() => {
      if (this.pending.size === 0) this.worker.unref();
    });
  }

  /** Loads a graph (ONNX bytes, or an ONNX file's path) once per key; later calls with the same key reuse it. */
  load(key: string, model: () => Uint8Array | string): Promise<{ inputs: string[]; outputs: string[] }> {
    let p = this.loaded.get(key);
    if (!p) {
      p = this.call({ type: 'load', key, model: model() }) as Promise<{ inputs: string[]; outputs: string[] }>;
      this.loaded.set(key, p);
      p.catch(() => this.loaded.delete(key));
    }
    return p;
  }

  isLoaded(key: string): boolean {
    return this.loaded.has(key);
  }

  /**
   * Binds a named set of weights in the worker; runs that name the set get them as inputs. With `transfer` the
   * arrays' memory moves to the worker instead of being copied (the caller's arrays become unusable).
   */
  async bindWeights(set: string, tensors: Record<string, TensorData>, transfer = false): Promise<void> {
    const buffers = transfer ? transferable(Object.values(tensors)) : [];
    await this.call({ type: 'weights', set, tensors }, buffers);
  }

  /**
   * Runs a loaded graph. Outputs always move from the worker without a copy; with `transfer` the feeds' memory moves
   * to the worker too (the caller's arrays become unusable), which matters for large feeds such as a KV cache.
   */
  run(
    key: string,
    feeds: Record<string, TensorData>,
    outputs: string[],
    weights: string | null = null,
    transfer = false,
  ): Promise<Record<string, TensorData>> {
    const buffers = transfer ? transferable(Object.values(feeds)) : [];
    return this.call({ type: 'run', key, weights, feeds, outputs }, buffers) as Promise<Record<string, TensorData>>;
  }

  async release(key: string): Promise<void> {
    this.loaded.delete(key);
    await this.call({ type: 'release', key });
  }

  /**
   * Stops the worker once it is idle: terminating it while onnxruntime's addon is still initialising (or mid-run)
   * can abort the whole process from native code.
   */
  async close(): Promise<void> {
    await this.ready.catch(() => {});
    await Promise.allSettled([...this.pending.values()].map((p) => p.settled));
    await this.worker.terminate();
  }
}
