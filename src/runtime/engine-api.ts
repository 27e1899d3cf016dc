/**
 * What a model asks of an engine: the Node engine (engine.ts, a worker thread on onnxruntime-node) and the browser
 * one (web/engine.ts, a Web Worker on onnxruntime-web) both provide it.
 */
import type { TensorData } from './protocol.js';

export interface InferenceEngine {
  /** Loads a graph once per key; later calls with the same key reuse it. */
  /** `model` gives the ONNX bytes, or (Node) the path of a model file whose external data lies beside it. */
  load(key: string, model: () => Uint8Array | string): Promise<{ inputs: string[]; outputs: string[] }>;
  isLoaded(key: string): boolean;
  /** Binds a named set of weights; runs that name the set get them as inputs. */
  bindWeights(set: string, tensors: Record<string, TensorData>, transfer?: boolean): Promise<void>;
  run(key: string, feeds: Record<string, TensorData>, outputs: string[], weights?: string | null, transfer?: boolean): Promise<Record<string, TensorData>>;
  release(key: string): Promise<void>;
  close(): Promise<void>;
}
