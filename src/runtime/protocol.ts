/** Messages between the main thread and the onnxruntime worker; tensors travel as plain typed arrays. */
export type TensorData =
  | { dtype: 'float32'; dims: number[]; data: Float32Array }
  | { dtype: 'int64'; dims: number[]; data: BigInt64Array }
  | { dtype: 'bool'; dims: number[]; data: Uint8Array };

export interface SessionConfig {
  intraOpThreads: number;
  memoryPattern: boolean;
}

export type Request =
  | { id: number; type: 'configure'; config: SessionConfig }
  | { id: number; type: 'load'; key: string; model: Uint8Array }
  | { id: number; type: 'weights'; set: string; tensors: Record<string, TensorData> }
  | { id: number; type: 'run'; key: string; weights: string | null; feeds: Record<string, TensorData>; outputs: string[] }
  | { id: number; type: 'release'; key: string };

export type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };
