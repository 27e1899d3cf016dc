/** Messages between the page and the onnxruntime-web worker: runtime/protocol.ts's, with a browser configure. */
import type { Request } from '../runtime/protocol.js';

export interface WebSessionConfig {
  threads: number;
  device: 'auto' | 'webgpu' | 'wasm';
  wasmPaths?: string;
}

export type WebRequest = Exclude<Request, { type: 'configure' }> | { id: number; type: 'configure'; config: WebSessionConfig };
export type WebReply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };
