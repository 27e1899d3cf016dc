/**
 * The onnxruntime worker. `session.run` blocks its thread for the whole step, so it lives here to keep the main
 * thread's progress bars, timers and Ctrl-C responsive. Weight sets are held here once and added to every run's feeds,
 * so several graphs (training, evaluation, generation) share one copy.
 */
import { parentPort } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { parseRowView, type Reply, type Request, type SessionConfig, type TensorData } from './protocol.js';
import { transferable } from './transfer.js';
import { elementCount } from '../shape.js';

const sessions = new Map<string, ort.InferenceSession>();
const weightSets = new Map<string, Record<string, ort.Tensor>>();
let config: SessionConfig = { intraOpThreads: 0, memoryPattern: false };

function toOrt(t: TensorData): ort.Tensor {
  return new ort.Tensor(t.dtype, t.data, t.dims);
}

function fromOrt(t: ort.Tensor): TensorData {
  return { dtype: t.type as TensorData['dtype'], dims: [...t.dims], data: t.data as never };
}

/** A bound weight, or a row view of one (see parseRowView), made once and kept with the set. */
function weightOrView(set: Record<string, ort.Tensor>, name: string): ort.Tensor | undefined {
  if (set[name]) return set[name];
  const view = parseRowView(name);
  const base = view ? set[view.weight] : undefined;
  if (!view || !base) return undefined;
  const { start, end } = view;
  const width = elementCount(base.dims.slice(1));
  const data = (base.data as Float32Array | Uint16Array).subarray(start * width, end * width);
  return (set[name] = new ort.Tensor(base.type as 'float32', data as Float32Array, [end - start, ...base.dims.slice(1)]));
}

async function handle(msg: Request): Promise<unknown> {
  switch (msg.type) {
    case 'configure':
      config = msg.config;
      return null;
    case 'load': {
      const options: ort.InferenceSession.SessionOptions = {
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        enableCpuMemArena: true,
        enableMemPattern: config.memoryPattern,
        intraOpNumThreads: config.intraOpThreads,
        interOpNumThreads: 1,
        extra: { session: { intra_op: { allow_spinning: '0' } } },
      };
      const session = typeof msg.model === 'string'
        ? await ort.InferenceSession.create(msg.model, options)
        : await ort.InferenceSession.create(msg.model, options);
      sessions.get(msg.key)?.release();
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

parentPort!.on('message', (msg: Request) => {
  handle(msg).then(
    (result) => {
      // Run results are fresh per call: hand their memory over instead of copying it.
      const buffers = msg.type === 'run' ? transferable(Object.values(result as Record<string, TensorData>)) : [];
      parentPort!.postMessage({ id: msg.id, ok: true, result } satisfies Reply, buffers);
    },
    (err: unknown) => parentPort!.postMessage({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies Reply),
  );
});
