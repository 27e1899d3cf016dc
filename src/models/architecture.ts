/**
 * What every architecture file provides: the facts the rest of softprompt asks about a family (which HF classes it
 * loads, how it reads config.json, its position scheme, its embedding and head weights), and its model: how token ids
 * become embeddings, how embeddings (soft-prompt rows included) become final hidden states, and how hidden states
 * become logits. Checkpoint tensor names appear only in the architecture files, through `Param`, which declares the
 * weight as a graph input and checks its shape.
 */
import type { Tensor } from '../graph/graph.js';
import type { ConfigFields } from './config-fields.js';
import type { FamilyConfig, ModelConfig } from './config.js';

/** Declares (once) and returns the graph input for a checkpoint tensor, checking it has `shape`. */
export type Param = (name: string, shape: number[]) => Tensor;

/** Per-batch inputs computed outside the graph from the attention mask (see positions.ts). */
export interface AuxTensors {
  /** [B, 1 or heads, Sq, Sk]: 0 where attending, the fp32 minimum where masked (plus the ALiBi distances). */
  bias: Tensor;
  /** RoPE tables [B, Sq, headDim] (the 'rope' scheme). */
  cos?: Tensor;
  sin?: Tensor;
  /** Position ids [B, Sq] (the 'learned' scheme). */
  positionIds?: Tensor;
  /** Per layer, when ModelConfig.layers says layers differ (sliding windows, RoPE bases): that layer's bias and tables. */
  layers?: Array<{ bias: Tensor; cos?: Tensor; sin?: Tensor }>;
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
  /** Hidden states [..., H] -> logits [..., V]: h @ headWeight()^T, plus headBias() where there is one. */
  head(h: Tensor): Tensor;
  /** The output projection [V, H] (the input embeddings when tied). */
  headWeight(): Tensor;
  /** The output projection's bias [V], for heads that have one (Phi); the loss adds it too. */
  headBias?(): Tensor;
  /** Final logit soft-capping, tanh(l / cap) * cap, which `head` applies and the loss head must apply too. */
  logitSoftcap?: number;
}

export type ArchitectureBuilder = (cfg: ModelConfig, p: Param) => CausalLM;

/**
 * How positions reach the model: ALiBi distances added to the attention bias (one bias per head), RoPE cos/sin tables
 * that rotate q and k, or ids into a learned position table.
 */
export type PositionScheme = 'alibi' | 'rope' | 'learned';

/**
 * How the attention bias combines causality and padding, as the family's eager attention in transformers does:
 * 'either' writes the fp32 minimum where a key is in the future or padded; 'sum' (GPT-2) writes it for the future and
 * then adds the padding mask, so a future pad is -inf. The goldens compare logits at pad positions, which see this.
 */
export type MaskCombination = 'either' | 'sum';

/** Sizes of a prefix-tuning vector: virtual tokens, layers, KV heads and head size (token_dim = heads × headDim). */
export interface PrefixDims {
  tokens: number;
  layers: number;
  heads: number;
  headDim: number;
}

/**
 * Where PEFT's prefix-tuning vector [tokens, 2·layers·token_dim] puts each value of the past keys and values the
 * model receives ([heads, tokens, headDim] per layer, as KvCache holds them): the flat index into the vector of
 * layer `layer`'s key (or value) at (head, token, i). models/prefix.ts has the standard layout.
 */
export type PrefixLayout = (d: PrefixDims) => (layer: number, value: boolean, head: number, token: number, i: number) => number;

/** One model family, declared once in its file under src/models/ and listed in architectures.ts. */
export interface Architecture {
  /** ModelConfig.arch: the family's name, also its file's name. */
  name: string;
  /** config.json `architectures[0]` values that load as this family (tried first). */
  classes: string[];
  /** config.json `model_type` values that load as this family (when `architectures` names no known class). */
  modelTypes: string[];
  /**
   * Reads the hyper-parameters this family spells its own way, with HF's aliases and its config class's defaults.
   * parseModelConfig reads the rest (layers, heads, vocabulary, special tokens, the position limit).
   */
  config(f: ConfigFields, numHeads: number): FamilyConfig;
  /** transformers' config-class defaults for special tokens absent from config.json. */
  tokenDefaults: { bos: number | null; eos: number | null };
  /** Config switches that change the math in ways this file does not implement: refused rather than run wrong. */
  unsupported: Array<[key: string, value: unknown]>;
  positions: PositionScheme;
  mask: MaskCombination;
  /**
   * The config key holding the number of positions and its default; null when the family has none (ALiBi). Only a
   * learned table makes it a hard limit; for RoPE it is what dynamic scaling measures against.
   */
  positionLimit: { key: string; default: number } | null;
  /** Checkpoint name of the input embedding table [V, H]: what `embed` reads and prompt initialisation samples. */
  embeddingWeight: string;
  /** Checkpoint name of the output projection [V, H] when it is not tied; null when the family always ties it. */
  headWeight: string | null;
  /** The MLP multiplies an activated gate by an up projection (two intermediate-sized tensors per token, not one). */
  gatedMlp: boolean;
  /**
   * The factor the input embedding module itself multiplies its rows by (Gemma3's scaled word embedding); absent = 1.
   * PEFT's TEXT and SAMPLE_VOCAB inits copy what that module returns, so prompt initialisation scales by it too.
   */
  embeddingModuleScale?: (cfg: ModelConfig) => number;
  build: ArchitectureBuilder;
  /** How PEFT's prefix tuning lays out this family's past keys/values; absent: the standard layout (prefix.ts). */
  prefixLayout?: PrefixLayout;
  /**
   * The facts for one config, where they depend on it (Falcon: ALiBi instead of RoPE when `alibi` is set);
   * architectureOf returns this. Absent: the facts above hold for every config.
   */
  forConfig?(cfg: ModelConfig): Architecture;
  /** Width of the soft prompt's rows (PEFT's token_dim), when it is not hiddenSize (OPT's word_embed_proj_dim). */
  promptWidth?(cfg: ModelConfig): number;
  /**
   * Position ids of every slot, computed from a row's attention mask over all slots (soft prompt included), for
   * families that take positions from the mask whatever the caller passes (OPT). Absent: the slot indices (PEFT passes
   * no position ids), or in generation what transformers' prepare_inputs_for_generation computes.
   */
  maskPositions?(mask: number[]): number[];
}
