/**
 * Hugging Face config.json → ModelConfig. Each architecture spells its hyper-parameters differently (BLOOM `n_embed`,
 * GPT-2 `n_embd`, Llama `hidden_size`, ...); the architecture files resolve their own aliases and defaults (the ones
 * transformers' config classes apply when a key is absent) and this reads what every family spells alike, so the rest
 * of softprompt sees one shape.
 */
import { FormatError, UnsupportedError } from '../errors.js';
import { findArchitecture } from './architectures.js';
import { ConfigFields, type RopeScaling } from './config-fields.js';

export type { RopeScaling } from './config-fields.js';

export interface ModelConfig {
  /** The family's name (its file in src/models/); `architectureOf` returns what it declares. */
  arch: string;
  modelType: string;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  vocabSize: number;
  /** LayerNorm or RMSNorm eps, whichever the family uses. */
  normEps: number;
  /** The family's position limit (see Architecture.positionLimit); null when it has none (ALiBi). */
  maxPositions: number | null;
  /** Only meaningful for the RoPE families. */
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  /** Partial rotary: RoPE turns the first rotaryDim dims of each head and passes the rest; absent: all headDim. */
  rotaryDim?: number;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  eosTokenId: number[];
  padTokenId: number | null;
  /** transformers' ACT2FN name. */
  activation: string;
  /** Attention projection biases: Llama's attention_bias covers q/k/v/o; Qwen2 always has q/k/v (never o_proj). */
  attentionBias: boolean;
  /**
   * Per layer, when layers attend differently (sliding windows, per-layer RoPE bases); absent when every layer uses the
   * full causal mask and the config's RoPE. positions.ts computes one bias (and RoPE table) input per distinct kind.
   */
  layers?: LayerAttention[];
  raw: Record<string, unknown>;
}

/** How one layer attends: a sliding window of `window` keys (null: full causal) and, for RoPE, its own base/scaling. */
export interface LayerAttention {
  window: number | null;
  rope?: { theta: number; scaling: RopeScaling | null };
}

/** What an architecture reads from config.json itself. */
export type FamilyConfig = Omit<
  ModelConfig,
  'arch' | 'modelType' | 'numLayers' | 'numHeads' | 'vocabSize' | 'maxPositions' | 'bosTokenId' | 'eosTokenId' | 'padTokenId' | 'raw'
>;

export function parseModelConfig(json: unknown, source: string): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new FormatError('expected a JSON object', source);
  }
  const raw = json as Record<string, unknown>;
  const f = new ConfigFields(raw, source);
  const arch = findArchitecture(f);
  for (const [key, value] of arch.unsupported) {
    if (raw[key] === value) throw new UnsupportedError(`${key}: ${value} is not supported for ${arch.name}`, source);
  }

  const numHeads = f.int('n_head', 'num_attention_heads');
  const numLayers = f.int('n_layer', 'num_hidden_layers');
  const family = arch.config(f, numHeads);
  if (numHeads % family.numKvHeads !== 0) {
    throw new FormatError(
      `num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${family.numKvHeads}`,
      source,
    );
  }
  if (family.layers && family.layers.length !== numLayers) {
    throw new FormatError(`${family.layers.length} per-layer attention kinds for ${numLayers} layers`, source);
  }
  const tokens = arch.tokenDefaults;
  const eos = f.has('eos_token_id') ? f.tokenIds('eos_token_id') : tokens.eos === null ? [] : [tokens.eos];
  const limit = arch.positionLimit;

  return {
    arch: arch.name,
    modelType: f.optionalString('model_type') ?? arch.name,
    hiddenSize: family.hiddenSize,
    numLayers,
    numHeads,
    numKvHeads: family.numKvHeads,
    headDim: family.headDim,
    intermediateSize: family.intermediateSize,
    vocabSize: f.int('vocab_size'),
    normEps: family.normEps,
    maxPositions: limit === null ? null : f.optionalInt(limit.key) ?? limit.default,
    ropeTheta: family.ropeTheta,
    ropeScaling: family.ropeScaling,
    ...(family.rotaryDim === undefined ? {} : { rotaryDim: family.rotaryDim }),
    tieWordEmbeddings: family.tieWordEmbeddings,
    bosTokenId: f.has('bos_token_id') ? f.optionalInt('bos_token_id') : tokens.bos,
    eosTokenId: eos,
    padTokenId: f.optionalInt('pad_token_id'),
    activation: family.activation,
    attentionBias: family.attentionBias,
    ...(family.layers ? { layers: family.layers } : {}),
    raw,
  };
}
