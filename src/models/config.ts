/**
 * Hugging Face config.json → ModelConfig. Each architecture spells its hyper-parameters differently (BLOOM `n_embed`,
 * GPT-2 `n_embd`, Llama `hidden_size`, ...); this resolves the aliases and applies the defaults transformers' config
 * classes apply when a key is absent, so the rest of softprompt sees one shape.
 */
import { FormatError, UnsupportedError } from '../errors.js';

export type Architecture = 'bloom' | 'gpt2' | 'llama' | 'qwen2';

export interface RopeScaling {
  type: 'linear' | 'dynamic' | 'llama3';
  factor: number;
  lowFreqFactor?: number;
  highFreqFactor?: number;
  originalMaxPositionEmbeddings?: number;
}

export interface ModelConfig {
  arch: Architecture;
  modelType: string;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  vocabSize: number;
  /** LayerNorm eps for BLOOM / GPT-2, RMSNorm eps for Llama / Qwen2. */
  normEps: number;
  /** Learned or RoPE position limit; null for BLOOM (ALiBi has none). */
  maxPositions: number | null;
  /** Only meaningful for the RoPE architectures (Llama, Qwen2). */
  ropeTheta: number;
  ropeScaling: RopeScaling | null;
  tieWordEmbeddings: boolean;
  bosTokenId: number | null;
  eosTokenId: number[];
  padTokenId: number | null;
  /** transformers' ACT2FN name. */
  activation: string;
  /** Attention projection biases: Llama's attention_bias covers q/k/v/o; Qwen2 always has q/k/v (never o_proj). */
  attentionBias: boolean;
  raw: Record<string, unknown>;
}

const ARCHITECTURES: Record<string, Architecture> = {
  BloomForCausalLM: 'bloom',
  GPT2LMHeadModel: 'gpt2',
  LlamaForCausalLM: 'llama',
  Qwen2ForCausalLM: 'qwen2',
};

/** transformers' config-class defaults for special tokens. */
const TOKEN_DEFAULTS: Record<Architecture, { bos: number | null; eos: number | null }> = {
  bloom: { bos: 1, eos: 2 },
  gpt2: { bos: 50256, eos: 50256 },
  llama: { bos: 1, eos: 2 },
  qwen2: { bos: null, eos: null },
};

export function parseModelConfig(json: unknown, source: string): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new FormatError('expected a JSON object', source);
  }
  const raw = json as Record<string, unknown>;
  const f = new Fields(raw, source);
  const arch = architectureOf(f);
  rejectUnimplementedVariants(arch, f);

  const hiddenSize = f.int(...hiddenKeys(arch));
  const numHeads = f.int('n_head', 'num_attention_heads');
  const numLayers = f.int('n_layer', 'num_hidden_layers');
  const rope = arch === 'llama' || arch === 'qwen2';
  const numKvHeads = rope ? f.optionalInt('num_key_value_heads') ?? numHeads : numHeads;
  // Newer Llama/Qwen2 configs may set head_dim explicitly (hidden != heads * head_dim is allowed then).
  const headDim = (rope ? f.optionalInt('head_dim') : null) ?? evenSplit(hiddenSize, numHeads, source);
  if (numHeads % numKvHeads !== 0) {
    throw new FormatError(
      `num_attention_heads ${numHeads} is not a multiple of num_key_value_heads ${numKvHeads}`,
      source,
    );
  }
  const tokens = TOKEN_DEFAULTS[arch];
  const eos = f.has('eos_token_id') ? f.tokenIds('eos_token_id') : tokens.eos === null ? [] : [tokens.eos];

  return {
    arch,
    modelType: f.optionalString('model_type') ?? arch,
    hiddenSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: intermediateSize(arch, f, hiddenSize),
    vocabSize: f.int('vocab_size'),
    normEps: rope ? f.optionalNumber('rms_norm_eps') ?? 1e-6 : f.optionalNumber('layer_norm_epsilon') ?? 1e-5,
    maxPositions: maxPositions(arch, f),
    ropeTheta: f.optionalNumber('rope_theta') ?? 10000,
    ropeScaling: rope ? parseRopeScaling(raw.rope_scaling, source) : null,
    // BLOOM and GPT-2 always tie lm_head to the input embeddings; LlamaConfig and Qwen2Config default to untied.
    tieWordEmbeddings: rope ? f.optionalBool('tie_word_embeddings') ?? false : true,
    bosTokenId: f.has('bos_token_id') ? f.optionalInt('bos_token_id') : tokens.bos,
    eosTokenId: eos,
    padTokenId: f.optionalInt('pad_token_id'),
    activation: activation(arch, f),
    attentionBias: arch === 'llama' ? f.optionalBool('attention_bias') ?? false : true,
    raw,
  };
}

function architectureOf(f: Fields): Architecture {
  const listed = f.raw.architectures;
  const first = Array.isArray(listed) ? listed[0] : undefined;
  if (typeof first === 'string' && Object.hasOwn(ARCHITECTURES, first)) return ARCHITECTURES[first];
  const modelType = f.optionalString('model_type');
  const supported = Object.values(ARCHITECTURES);
  if (modelType !== null && (supported as string[]).includes(modelType)) return modelType as Architecture;
  const found = [first, modelType].filter((v) => v !== undefined && v !== null).map((v) => JSON.stringify(v));
  throw new UnsupportedError(
    `unsupported model ${found.length ? found.join(' / ') : '(no architectures or model_type)'}; ` +
      `supported: ${Object.keys(ARCHITECTURES).join(', ')} (model_type ${supported.join(', ')})`,
    f.source,
  );
}

/** Config switches that change the math in ways softprompt's graphs do not implement: fail rather than be wrong. */
const UNIMPLEMENTED: Record<Architecture, Array<[key: string, value: unknown]>> = {
  bloom: [['apply_residual_connection_post_layernorm', true]],
  gpt2: [['scale_attn_by_inverse_layer_idx', true], ['scale_attn_weights', false]],
  llama: [['mlp_bias', true]],
  qwen2: [['use_sliding_window', true]],
};

function rejectUnimplementedVariants(arch: Architecture, f: Fields): void {
  for (const [key, value] of UNIMPLEMENTED[arch]) {
    if (f.raw[key] === value) throw new UnsupportedError(`${key}: ${value} is not supported for ${arch}`, f.source);
  }
}

function hiddenKeys(arch: Architecture): string[] {
  // BloomConfig lets `n_embed` override `hidden_size`.
  if (arch === 'bloom') return ['n_embed', 'hidden_size'];
  if (arch === 'gpt2') return ['n_embd', 'hidden_size'];
  return ['hidden_size'];
}

function intermediateSize(arch: Architecture, f: Fields, hiddenSize: number): number {
  if (arch === 'bloom') return 4 * hiddenSize;
  if (arch === 'gpt2') return f.optionalInt('n_inner') ?? 4 * hiddenSize;
  return f.int('intermediate_size');
}

function maxPositions(arch: Architecture, f: Fields): number | null {
  if (arch === 'bloom') return null;
  if (arch === 'gpt2') return f.optionalInt('n_positions') ?? 1024;
  return f.optionalInt('max_position_embeddings') ?? (arch === 'llama' ? 2048 : 32768);
}

function activation(arch: Architecture, f: Fields): string {
  // BLOOM hard-codes the tanh GELU, which is transformers' gelu_new.
  if (arch === 'bloom') return 'gelu_new';
  if (arch === 'gpt2') return f.optionalString('activation_function') ?? 'gelu_new';
  return f.optionalString('hidden_act') ?? 'silu';
}

function evenSplit(hiddenSize: number, numHeads: number, source: string): number {
  if (hiddenSize % numHeads !== 0) {
    throw new FormatError(`hidden size ${hiddenSize} is not divisible by ${numHeads} attention heads`, source);
  }
  return hiddenSize / numHeads;
}

function parseRopeScaling(value: unknown, source: string): RopeScaling | null {
  if (value === undefined || value === null) return null;
  const where = `${source}: rope_scaling`;
  if (typeof value !== 'object' || Array.isArray(value)) throw new FormatError('expected an object or null', where);
  const f = new Fields(value as Record<string, unknown>, where);
  const type = f.optionalString('rope_type') ?? f.optionalString('type');
  if (type === 'default') return null;
  if (type !== 'linear' && type !== 'dynamic' && type !== 'llama3') {
    const message = `rope type ${JSON.stringify(type)} is not supported; expected linear, dynamic or llama3`;
    throw new UnsupportedError(message, where);
  }
  const scaling: RopeScaling = { type, factor: f.number('factor') };
  if (type === 'llama3') {
    scaling.lowFreqFactor = f.number('low_freq_factor');
    scaling.highFreqFactor = f.number('high_freq_factor');
    scaling.originalMaxPositionEmbeddings = f.int('original_max_position_embeddings');
  } else {
    const original = f.optionalInt('original_max_position_embeddings');
    if (original !== null) scaling.originalMaxPositionEmbeddings = original;
  }
  return scaling;
}

/** Typed reads from a JSON object; errors name the key and the file. A null value counts as absent. */
class Fields {
  constructor(
    readonly raw: Record<string, unknown>,
    readonly source: string,
  ) {}

  has(key: string): boolean {
    return Object.hasOwn(this.raw, key);
  }

  /** The first of `keys` that is present, as a positive integer. */
  int(...keys: string[]): number {
    for (const key of keys) {
      const v = this.optionalInt(key);
      if (v === 0) throw new FormatError(`${key} is 0; expected a positive integer`, this.source);
      if (v !== null) return v;
    }
    throw new FormatError(`missing ${keys.join(' / ')} (expected a positive integer)`, this.source);
  }

  optionalInt(key: string): number | null {
    const v = this.raw[key];
    if (v === undefined || v === null) return null;
    if (!Number.isSafeInteger(v) || (v as number) < 0) {
      throw new FormatError(`${key} is ${JSON.stringify(v)}; expected a non-negative integer`, this.source);
    }
    return v as number;
  }

  number(key: string): number {
    const v = this.optionalNumber(key);
    if (v === null) throw new FormatError(`missing ${key} (expected a number)`, this.source);
    return v;
  }

  optionalNumber(key: string): number | null {
    const v = this.raw[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new FormatError(`${key} is ${JSON.stringify(v)}; expected a number`, this.source);
    }
    return v;
  }

  optionalBool(key: string): boolean | null {
    const v = this.raw[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'boolean') {
      throw new FormatError(`${key} is ${JSON.stringify(v)}; expected true or false`, this.source);
    }
    return v;
  }

  optionalString(key: string): string | null {
    const v = this.raw[key];
    if (v === undefined || v === null) return null;
    if (typeof v !== 'string') throw new FormatError(`${key} is ${JSON.stringify(v)}; expected a string`, this.source);
    return v;
  }

  /** An id or a list of ids (eos_token_id may be either); null → []. */
  tokenIds(key: string): number[] {
    const v = this.raw[key];
    if (v === undefined || v === null) return [];
    const ids = Array.isArray(v) ? v : [v];
    if (!ids.every((id) => Number.isSafeInteger(id) && id >= 0)) {
      throw new FormatError(`${key} is ${JSON.stringify(v)}; expected a token id or a list of them`, this.source);
    }
    return ids as number[];
  }
}
