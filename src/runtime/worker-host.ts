/**
 * What both onnxruntime workers do (worker.ts on onnxruntime-node, web/engine-worker.ts on onnxruntime-web): hold the
 * loaded sessions and bound weight sets, answer 'load', 'weights', 'run' and 'release', and post the replies. They
 * differ only in configuring and creating a session, which they pass in; this module imports neither runtime.
 */
import { parseRowView, type Reply, type Request, type TensorData } from './protocol.js';
import { transferable } from './transfer.js';
import { elementCount } from '../shape.js';

/** The parts of ort's Tensor and InferenceSession used here, alike in onnxruntime-node and onnxruntime-web. */
interface OrtTensor {
  readonly type: string;
  readonly dims: readonly number[];
  readonly data: unknown;
}

export interface OrtSession<T extends OrtTensor> {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, T>, fetches: string[]): Promise<Record<string, T>>;
  release(): Promise<void>;
}

export interface Ort<T extends OrtTensor> {
  tensor(t: TensorData): T;
  /** `model`: ONNX bytes, or (Node) an ONNX file's path whose external data lies beside it. */
  createSession(model: Uint8Array | string): Promise<OrtSession<T>>;
}

type SessionRequest = Exclude<Request, { type: 'configure' }>;

/** Handles every request but 'configure' (each worker configures its own runtime). */
export function sessionHost<T extends OrtTensor>(ort: Ort<T>): (msg: SessionRequest) => Promise<unknown> {
  const sessions = new Map<string, OrtSession<T>>();
  const weightSets = new Map<string, Record<string, T>>();
  const fromOrt = (t: T): TensorData => ({ dtype: t.type as TensorData['dtype'], dims: [...t.dims], data: t.data as never });

  /** A bound weight, or a row view of one (see parseRowView), made once and kept with the set. */
  function weightOrView(set: Record<string, T>, name: string): T | undefined {
    if (set[name]) return set[name];
    const view = parseRowView(name);
    const base = view ? set[view.weight] : undefined;
    if (!view || !base) return undefined;
    const { start, end } = view;
    const width = elementCount(base.dims.slice(1));
    // fp16 weights (Uint16Array) make fp16 views.
    const data = (base.data as Float32Array | Uint16Array).subarray(start * width, end * width);
    return (set[name] = ort.tensor({ dtype: base.type as TensorData['dtype'], data, dims: [end - start, ...base.dims.slice(1)] } as TensorData));
  }

  return async (msg) => {
    switch (msg.type) {
      case 'load': {
        const session = await ort.createSession(msg.model);
        await sessions.get(msg.key)?.release();
        sessions.set(msg.key, session);
        return { inputs: session.inputNames, outputs: session.outputNames };
      }
      case 'weights': {
        const set: Record<string, T> = {};
        for (const [name, t] of Object.entries(msg.tensors)) set[name] = ort.tensor(t);
        weightSets.set(msg.set, set);
        return null;
      }
      case 'run': {
        const session = sessions.get(msg.key);
        if (!session) throw new Error(`no session '${msg.key}' loaded`);
        const weights = msg.weights ? weightSets.get(msg.weights) : undefined;
        if (msg.weights && !weights) throw new Error(`no weight set '${msg.weights}' bound`);
        const feeds: Record<string, T> = {};
        for (const name of session.inputNames) {
          const given = msg.feeds[name];
          const t = given ? ort.tensor(given) : weights ? weightOrView(weights, name) : undefined;
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
  };
}

/** Posts the reply to `msg` once `result` settles; a run's outputs are fresh per call, so their memory moves, not copies. */
export function answer(msg: { id: number; type: string }, result: Promise<unknown>, post: (reply: Reply, transfer: ArrayBuffer[]) => void): void {
  result.then(
    (value) => post({ id: msg.id, ok: true, result: value }, msg.type === 'run' ? transferable(Object.values(value as Record<string, TensorData>)) : []),
    (err: unknown) => post({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) }, []),
  );
}
