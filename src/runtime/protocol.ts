/** Messages between the main thread and the onnxruntime worker; tensors travel as plain typed arrays. */
export type TensorData =
  | { dtype: 'float32'; dims: number[]; data: Float32Array }
  /** IEEE half bits (frozen weights held as fp16). */
  | { dtype: 'float16'; dims: number[]; data: Uint16Array }
  | { dtype: 'int64'; dims: number[]; data: BigInt64Array }
  | { dtype: 'bool'; dims: number[]; data: Uint8Array };

export interface SessionConfig {
  intraOpThreads: number;
  memoryPattern: boolean;
}

/** `C`: the worker's configuration (the browser's worker takes its own, web/engine-protocol.ts). */
export type Request<C = SessionConfig> =
  | { id: number; type: 'configure'; config: C }
  /** `model`: ONNX bytes, or the path of an ONNX file (whose external data sits next to it). */
  | { id: number; type: 'load'; key: string; model: Uint8Array | string }
  | { id: number; type: 'weights'; set: string; tensors: Record<string, TensorData> }
  | { id: number; type: 'run'; key: string; weights: string | null; feeds: Record<string, TensorData>; outputs: string[] }
  | { id: number; type: 'release'; key: string };

export type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

/**
 * A weight input named `NAME#rows=A:B` is rows A..B of bound weight NAME: the engine makes it a view of that weight's
 * data, so a graph can split a vocabulary-sized head into chunks without copying it.
 */
export function rowViewName(weight: string, start: number, end: number): string {
  return `${weight}#rows=${start}:${end}`;
}

export function parseRowView(name: string): { weight: string; start: number; end: number } | null {
  const m = /^(.*)#rows=(\d+):(\d+)$/.exec(name);
  return m ? { weight: m[1], start: Number(m[2]), end: Number(m[3]) } : null;
}
