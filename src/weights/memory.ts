/**
 * Weights held in memory as one flat float32 array, each tensor a view of it: full fine-tuning updates the flat array
 * in place with one optimizer, and every reader (the engine binding, prompt initialisation, saving) sees the update.
 */
import type { WeightSource } from './files.js';
import { MissingError } from '../errors.js';
import { elementCount } from '../shape.js';

export interface FlatWeights extends WeightSource {
  /** Every value, tensors back to back in `layout` order. */
  readonly flat: Float32Array;
  readonly layout: ReadonlyArray<{ name: string; shape: number[]; offset: number; size: number }>;
}

/** Copies `tensors` (name -> shape and data, in the order given) into one flat array. */
export function flatWeights(tensors: Array<{ name: string; shape: number[]; data: Float32Array }>, source: string): FlatWeights {
  let offset = 0;
  const layout = tensors.map(({ name, shape }) => {
    const size = elementCount(shape);
    const entry = { name, shape, offset, size };
    offset += size;
    return entry;
  });
  const flat = new Float32Array(offset);
  tensors.forEach((t, i) => flat.set(t.data, layout[i].offset));
  const byName = new Map(layout.map((e) => [e.name, e]));
  const entry = (name: string) => {
    const e = byName.get(name);
    if (!e) throw new MissingError(`no tensor "${name}"`, source);
    return e;
  };
  return {
    flat,
    layout,
    names: () => layout.map((e) => e.name),
    has: (name) => byName.has(name),
    shape: (name) => [...entry(name).shape],
    float32: (name) => {
      const e = entry(name);
      return flat.subarray(e.offset, e.offset + e.size);
    },
    source: () => source,
  };
}
