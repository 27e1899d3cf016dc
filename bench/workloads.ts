// The benchmark workloads as plain data, with nothing Node-only, so `bench:web` runs the very same ones in a browser.
import { Graph } from '../src/graph/graph.js';
import { toOnnx } from '../src/graph/onnx.js';
import { matmul } from '../src/graph/ops.js';
import type { InferenceEngine as Engine } from '../src/runtime/engine-api.js';
import { parseModelConfig, type ModelConfig } from '../src/models/config.js';
import type { ForwardBatch } from '../src/models/model.js';
import { architectureWeights } from '../src/models/graphs.js';
import type { WeightSource } from '../src/weights/files.js';
import { elementCount } from '../src/shape.js';

/** Deterministic small random values (the benchmarks time arithmetic, not learning). */
export function randomFloats(n: number, seed: number, scale = 0.02): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296 - 0.5) * 2 * scale;
  }
  return out;
}

/**
 * Every tensor the architecture reads, with the shape it declares, filled with random values. Each tensor is made
 * when it is read (the same values every time), so the engine can take it over instead of both threads holding
 * the weights, as with a checkpoint read from disk.
 */
export function randomWeights(cfg: ModelConfig): WeightSource {
  const shapes = architectureWeights(cfg);
  const seeds = new Map([...shapes.keys()].map((name, i) => [name, i + 1]));
  return {
    names: () => [...shapes.keys()],
    has: (name) => shapes.has(name),
    shape: (name) => shapes.get(name)!,
    float32: (name) => {
      const n = elementCount(shapes.get(name)!);
      // Norm weights near 1 keep activations in a realistic range.
      return name.includes('norm') || name.includes('ln') ? new Float32Array(n).fill(1) : randomFloats(n, seeds.get(name)!);
    },
    source: () => 'random',
    freshArrays: true,
  };
}

/**
 * REFERENCE.md's engine workload: 4 BLOOM blocks (hidden 1024, 16 heads, MLP 4096), batch 4 x 128 tokens with 8
 * prompt rows, vocab 8192, cross-entropy, forward + backward to the prompt.
 */
export function engineWorkload(): { config: ModelConfig; batch: ForwardBatch; prompt: Float32Array } {
  const [B, T, n, H, V] = [4, 128, 8, 1024, 8192];
  const config = parseModelConfig(
    { architectures: ['BloomForCausalLM'], hidden_size: H, n_head: 16, n_layer: 4, vocab_size: V, layer_norm_epsilon: 1e-5 },
    'bench:engine config',
  );
  return { config, batch: syntheticBatch(B, T, V, 0), prompt: randomFloats(n * H, 3, 1) };
}

/** bench:train's batch: B rows of T token ids (all labelled), as a step of prompt tuning sees them. */
export function syntheticBatch(B: number, T: number, vocab: number, offset = 13): ForwardBatch {
  const ids = Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (b * 7919 + t * 104729 + offset) % vocab));
  return { input_ids: ids, attention_mask: ids.map((r) => r.map(() => 1)), labels: ids };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** GFLOP/s of one large fp32 MatMul in onnxruntime with the engine's settings: the machine's practical peak. */
export async function matmulGflops(engine: Engine, m = 512, k = 4096, n = 4096, reps = 10): Promise<number> {
  const g = new Graph();
  const a = g.input('a', 'float32', [m, k]);
  const b = g.input('b', 'float32', [k, n]);
  const key = `bench-matmul-${m}x${k}x${n}`;
  await engine.load(key, () => toOnnx(g, { y: matmul(a, b) }));
  // Operands bound in the worker like model weights, so the timing is the kernel's, not the message copies.
  await engine.bindWeights(key, {
    a: { dtype: 'float32', dims: [m, k], data: randomFloats(m * k, 7) },
    b: { dtype: 'float32', dims: [k, n], data: randomFloats(k * n, 8) },
  });
  await engine.run(key, {}, ['y'], key);
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) await engine.run(key, {}, ['y'], key);
  const seconds = (performance.now() - t0) / 1000 / reps;
  return (2 * m * k * n) / seconds / 1e9;
}
