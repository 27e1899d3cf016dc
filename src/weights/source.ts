/** A WeightSource over safetensors files (one, or a sharded checkpoint's), shared by the Node and browser loaders. */
import { MissingError } from '../errors.js';
import type { WeightSource } from './files.js';
import { checkFinite, type Safetensors } from './safetensors.js';

export function weightSource(byName: Map<string, Safetensors>, dir: string): WeightSource {
  const file = (name: string): Safetensors => {
    const f = byName.get(name);
    if (!f) throw new MissingError(`no tensor "${name}" in the model weights`, dir);
    return f;
  };
  return {
    names: () => [...byName.keys()],
    has: (name) => byName.has(name),
    shape: (name) => [...file(name).entry(name).shape],
    // Checked as each tensor is read (once, when it is bound), so a NaN weight is named instead of decoding token 0.
    float32: (name) => {
      const f = file(name);
      const data = f.float32(name);
      checkFinite(name, data, 'unusable weights', f.source);
      return data;
    },
    float32Rows: (name, start, end) => {
      const f = file(name);
      const data = f.float32Rows(name, start, end);
      checkFinite(name, data, 'unusable weights', f.source);
      return data;
    },
    source: (name) => file(name).source,
    freshArrays: [...byName.values()].every((f) => f.freshReads),
  };
}
