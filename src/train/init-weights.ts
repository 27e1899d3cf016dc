/**
 * Fresh weights for pretraining, drawn as transformers' _init_weights does for Llama: normal(0, initializer_range)
 * for every matrix and embedding, ones for the RMSNorm weights, zeros for biases. Seeded, so a recipe repeats.
 */
import type { ModelConfig } from '../models/config.js';
import { architectureWeights } from '../models/graphs.js';
import { normals } from '../peft/init.js';
import { elementCount } from '../shape.js';

export function initWeights(cfg: ModelConfig, seed: number): Array<{ name: string; shape: number[]; data: Float32Array }> {
  const shapes = architectureWeights(cfg);
  const std = typeof cfg.raw.initializer_range === 'number' ? cfg.raw.initializer_range : 0.02;
  const normal = normals(seed);
  return [...shapes].map(([name, shape]) => {
    const size = elementCount(shape);
    const data = name.endsWith('norm.weight')
      ? new Float32Array(size).fill(1)
      : name.endsWith('.bias')
        ? new Float32Array(size)
        : Float32Array.from({ length: size }, () => std * normal());
    return { name, shape, data };
  });
}
