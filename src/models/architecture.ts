/**
 * What every architecture file provides: how token ids become embeddings, how embeddings (soft-prompt rows
 * included) become final hidden states, and how hidden states become logits. Checkpoint tensor names appear only in
 * the architecture files, through `Param`, which declares the weight as a graph input and checks its shape.
 */
import type { Tensor } from '../graph/graph.js';
import type { ModelConfig } from './config.js';

/** Declares (once) and returns the graph input for a checkpoint tensor, checking it has `shape`. */
export type Param = (name: string, shape: number[]) => Tensor;

/** Per-batch inputs computed outside the graph from the attention mask (see positions.ts). */
export interface AuxTensors {
  /** [B, 1 or heads, Sq, Sk]: 0 where attending, the fp32 minimum where masked (plus ALiBi for BLOOM). */
  bias: Tensor;
  /** RoPE tables [B, Sq, headDim] (Llama, Qwen2). */
  cos?: Tensor;
  sin?: Tensor;
  /** Learned-position ids [B, Sq] (GPT-2). */
  positionIds?: Tensor;
}

/** Keys/values per layer, [B, kvHeads, S, headDim] after RoPE: `past` is read, `present` (past + new) is filled in. */
export interface KvCache {
  past: Array<{ key: Tensor; value: Tensor }>;
  present: Array<{ key: Tensor; value: Tensor }>;
}

export interface CausalLM {
  /** Token ids [B, T] -> embeddings [B, T, H] (before any soft prompt is prepended). */
  embed(ids: Tensor): Tensor;
  /** inputs_embeds [B, S, H] -> final hidden states [B, S, H]; with a cache, S new positions after the past. */
  forward(x: Tensor, aux: AuxTensors, cache?: KvCache): Tensor;
  /** Hidden states [..., H] -> logits [..., V]: h @ headWeight()^T (no architecture here has a head bias). */
  head(h: Tensor): Tensor;
  /** The output projection [V, H] (the input embeddings when tied). */
  headWeight(): Tensor;
}

export type ArchitectureBuilder = (cfg: ModelConfig, p: Param) => CausalLM;
