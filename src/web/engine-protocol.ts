/** Messages between the page and the onnxruntime-web worker: runtime/protocol.ts's, with a browser configure. */
import type { Reply, Request } from '../runtime/protocol.js';

export interface WebSessionConfig {
  threads: number;
  device: 'auto' | 'webgpu' | 'wasm';
  wasmPaths?: string;
}

export type WebRequest = Request<WebSessionConfig>;
export type WebReply = Reply;
