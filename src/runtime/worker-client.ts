/**
 * The main-thread side of an onnxruntime worker, shared by the Node engine (engine.ts, a worker thread) and the
 * browser's (web/engine.ts, a Web Worker): numbered requests and their replies, graphs loaded once per key, weight sets
 * bound once. Calls are queued by the worker, one at a time. A subclass starts its worker and wires it to this.
 */
import type { InferenceEngine } from './engine-api.js';
import type { Reply, Request, TensorData } from './protocol.js';
import { transferable } from './transfer.js';

type Body<T> = T extends unknown ? Omit<T, 'id'> : never;
type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

export abstract class WorkerClient<Config> implements InferenceEngine {
  private readonly pending = new Map<number, Pending>();
  private readonly inflight = new Set<Promise<void>>();
  private nextId = 0;
  private readonly loaded = new Map<string, Promise<{ inputs: string[]; outputs: string[] }>>();

  protected abstract post(msg: Request<Config>, transfer: ArrayBuffer[]): void;

  /** Told when the first call starts (true) and the last one settles (false): Node lets an idle worker exit. */
  protected busy(_busy: boolean): void {}

  /** Settles the call a reply answers. */
  protected receive(reply: Reply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    if (reply.ok) p.resolve(reply.result);
    else p.reject(new Error(reply.error));
  }

  /** The worker failed: every pending call fails with `err`. */
  protected fail(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  protected call(msg: Body<Request<Config>>, transfer: ArrayBuffer[] = []): Promise<unknown> {
    const id = this.nextId++;
    if (this.pending.size === 0) this.busy(true);
    const promise = new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.post({ ...msg, id } as Request<Config>, transfer);
    });
    const settled: Promise<void> = promise.then(
      () => this.settled(settled),
      () => this.settled(settled),
    );
    this.inflight.add(settled);
    return promise;
  }

  private settled(call: Promise<void>): void {
    this.inflight.delete(call);
    if (this.pending.size === 0) this.busy(false);
  }

  /** Settles once every call made so far has. */
  protected async idle(): Promise<void> {
    await Promise.all([...this.inflight]);
  }

  /** Loads a graph once per key; later calls with the same key reuse it. */
  load(key: string, model: () => Uint8Array | string): Promise<{ inputs: string[]; outputs: string[] }> {
    let p = this.loaded.get(key);
    if (!p) {
      // Copied, not transferred: the bytes may be a view of a buffer the protobuf writer goes on using.
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
    await this.call({ type: 'weights', set, tensors }, transfer ? transferable(Object.values(tensors)) : []);
  }

  /**
   * Runs a loaded graph. Outputs always move from the worker without a copy; with `transfer` the feeds' memory moves
   * to the worker too (the caller's arrays become unusable), which matters for large feeds such as a KV cache.
   */
  run(key: string, feeds: Record<string, TensorData>, outputs: string[], weights: string | null = null, transfer = false): Promise<Record<string, TensorData>> {
    const buffers = transfer ? transferable(Object.values(feeds)) : [];
    return this.call({ type: 'run', key, weights, feeds, outputs }, buffers) as Promise<Record<string, TensorData>>;
  }

  async release(key: string): Promise<void> {
    this.loaded.delete(key);
    await this.call({ type: 'release', key });
  }

  abstract close(): Promise<void>;
}
