import type { TensorData } from './protocol.js';

/** The distinct buffers behind some tensors, to move with postMessage (a buffer listed twice makes it throw). */
export function transferable(tensors: TensorData[]): ArrayBuffer[] {
  return [...new Set(tensors.map((t) => t.data.buffer as ArrayBuffer))].filter((b) => b.byteLength > 0);
}
