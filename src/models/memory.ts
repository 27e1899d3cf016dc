/**
 * What a prompt-tuning step holds in memory, estimated from the config, so auto_find_batch_size can choose a batch
 * that fits a budget up front instead of waiting for an allocation to fail. The terms follow what the backward pass
 * keeps per token and layer (residual inputs of both norms, q/k/v, attention probabilities, what the MLP activation's
 * gradient needs), one vocabulary chunk of the head's logits and softmax (the loss takes its gradient chunk by chunk, see
 * headLogSumExp), and the fp32 weights held once. Checked against measured peaks in docs/benchmarks.md; the margin
 * covers the allocator's slack.
 */
import { architectureOf } from './architectures.js';
import type { ModelConfig } from './config.js';
import { VOCAB_CHUNK } from './graphs.js';

const FLOAT = 4;
const MARGIN = 1.5;

/** Bytes of the fp32 weights the engine holds (tied embeddings once). */
export function weightBytes(parameters: number): number {
  return parameters * FLOAT;
}

/** Bytes of activations a forward + backward to the prompt keeps at its peak, for `batch` rows of `seq` positions. */
export function trainingActivationBytes(cfg: ModelConfig, batch: number, seq: number): number {
  const H = cfg.hiddenSize;
  const kv = cfg.numKvHeads * cfg.headDim;
  const gated = architectureOf(cfg).gatedMlp;
  // GELU's derivative, or SwiGLU's two forward factors (vjp.ts): the only MLP-sized tensors the backward pass keeps.
  const mlp = (gated ? 2 : 1) * cfg.intermediateSize;
  const q = cfg.numHeads * cfg.headDim; // H, except where head_dim is set apart (Gemma)
  const perTokenLayer = 2 * H + q + 2 * kv + mlp + cfg.numHeads * seq;
  const tokens = batch * seq;
  const layers = cfg.numLayers * tokens * perTokenLayer;
  const head = 2 * tokens * Math.min(cfg.vocabSize, VOCAB_CHUNK);
  return MARGIN * (layers + head) * FLOAT;
}

/** The largest batch size, halving from `start` as auto_find_batch_size does, whose step fits `budget` bytes. */
export function batchSizeForBudget(start: number, fits: (batch: number) => boolean): number {
  let batch = start;
  while (batch > 1 && !fits(batch)) batch = Math.floor(batch / 2);
  return batch;
}
