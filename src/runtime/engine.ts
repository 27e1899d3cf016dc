/**
 * The main-thread handle on the onnxruntime worker: load graphs once under a key, bind weight sets once, run
 * (worker-client.ts, shared with the browser's engine). Calls are queued by the worker, one at a time, which is what a
 * 2-core machine wants anyway.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { Reply, Request, SessionConfig } from './protocol.js';
import { WorkerClient } from './worker-client.js';

export type { TensorData } from './protocol.js';

export interface EngineOptions {
  /** Intra-op threads; default: the machine's cores. */
  threads?: number;
  /**
   * onnxruntime's memory pattern (one planned block for all intermediates). Off by default: on bloomz-560m-sized
   * training graphs it raised peak memory by ~0.8 GB and made steps ~2x slower (docs/benchmarks.md).
   */
  memoryPattern?: boolean;
}

export class Engine extends WorkerClient<SessionConfig> {
  private readonly worker: Worker;
  /** Settles once the worker has loaded onnxruntime and answered. */
  private readonly ready: Promise<unknown>;

  private constructor(threads: number, memoryPattern: boolean) {
    super();
    this.worker = new Worker(new URL('./worker.js', import.meta.url));
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => this.receive(reply));
    this.worker.on('error', (err) => this.fail(err));
    this.ready = this.call({ type: 'configure', config: { intraOpThreads: threads, memoryPattern } });
  }

  static create(options: EngineOptions = {}): Engine {
    return new Engine(options.threads ?? availableParallelism(), options.memoryPattern ?? false);
  }

  protected post(msg: Request, transfer: ArrayBuffer[]): void {
    this.worker.postMessage(msg, transfer);
  }

  /** A pending call keeps the process alive; an idle worker must not. */
  protected override busy(busy: boolean): void {
    if (busy) this.worker.ref();
    else this.worker.unref();
  }

  /**
   * Stops the worker once it is idle: terminating it while onnxruntime's addon is still initialising (or mid-run)
   * can abort the whole process from native code.
   */
  async close(): Promise<void> {
    await this.ready.catch(() => {});
    await this.idle();
    await this.worker.terminate();
  }
}
