/**
 * The onnxruntime worker. `session.run` blocks its thread for the whole step, so it lives here to keep the main
 * thread's progress bars, timers and Ctrl-C responsive. Weight sets are held here once and added to every run's feeds,
 * so several graphs (training, evaluation, generation) share one copy (worker-host.ts, shared with the browser's).
 */
import { parentPort } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import type { Request, SessionConfig } from './protocol.js';
import { answer, sessionHost } from './worker-host.js';

let config: SessionConfig = { intraOpThreads: 0, memoryPattern: false };

const host = sessionHost({
  tensor: (t) => new ort.Tensor(t.dtype, t.data, t.dims),
  createSession: (model) => {
    const options: ort.InferenceSession.SessionOptions = {
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      enableCpuMemArena: true,
      enableMemPattern: config.memoryPattern,
      intraOpNumThreads: config.intraOpThreads,
      interOpNumThreads: 1,
      extra: { session: { intra_op: { allow_spinning: '0' } } },
    };
    // A path loads a model whose external data (quantized weights) onnxruntime maps from the file beside it.
    return typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);
  },
});

async function configure(next: SessionConfig): Promise<null> {
  config = next;
  return null;
}

parentPort!.on('message', (msg: Request) => {
  answer(msg, msg.type === 'configure' ? configure(msg.config) : host(msg), (reply, transfer) => parentPort!.postMessage(reply, transfer));
});
