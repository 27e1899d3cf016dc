/**
 * Typed reads from a config.json object, for the architecture files that read their own hyper-parameters: errors name
 * the key and the file. Also the readers several families share (head size, RoPE settings).
 */
import { FormatError, UnsupportedError } from '../errors.js';

export interface RopeScaling {
  type: 'linear' | 'dynamic' | 'llama3' | 'longrope';
  factor: number;
  /** longrope (Phi-3's "su"): per-frequency divisors below and above originalMaxPositionEmbeddings. */
  shortFactor?: number[];
  longFactor?: number[];
  /** longrope: cos/sin multiplier; absent means sqrt(1 + ln(factor) / ln(original)). */
  attentionFactor?: number;
  lowFreqFactor?: number;
  highFreqFactor?: number;
  originalMaxPositionEmbeddings?: number;
}

/** The head size when the config gives none: hidden size over heads, which must divide it. */
export function evenSplit(hiddenSize: number, numHeads: number, source: string): number {
  if (hiddenSize % numHeads !== 0) {
    throw new FormatError(`hidden size ${hiddenSize} is not divisible by ${numHeads} attention heads`, source);
  }
  return hiddenSize / numHeads;
}

/** Partial rotary: int(headDim * fraction) dims of each head turn, as transformers truncates; RoPE pairs them, so even. */
export function rotaryDims(headDim: number, fraction: number, key: string, source: string): number {
  const dims = Math.trunc(headDim * fraction);
  if (fraction < 0 || fraction > 1 || dims % 2 !== 0) {
    throw new FormatError(`${key} ${fraction} of head_dim ${headDim} gives ${dims} rotary dims; expected an even number, at most head_dim`, source);
  }
  return dims;
}

export function parseRopeScaling(value: unknown, source: string): RopeScaling | null {
  if (value === undefined || value === null) return null;
  const where = `${source}: rope_scaling`;
  if (typeof value !== 'object' || Array.isArray(value)) throw new FormatError('expected an object or null', where);
  const f = new ConfigFields(value as Record<string, unknown>, where);
  const type = f.optionalString('rope_type') ?? f.optionalString('type');
  if (type === 'default') return null;
  if (type === 'longrope' || type === 'su') {
    const factors = (key: string) => {
      const v = f.raw[key];
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
        throw new FormatError(`${key} is ${JSON.stringify(v)}; expected a list of numbers`, where);
      }
      return v as number[];
    };
    const scaling: RopeScaling = { type: 'longrope', factor: f.optionalNumber('factor') ?? 1, shortFactor: factors('short_factor'), longFactor: factors('long_factor') };
    const attention = f.optionalNumber('attention_factor');
    if (attention !== null) scaling.attentionFactor = attention;
    const original = f.optionalInt('original_max_position_embeddings');
    if (original !== null) scaling.originalMaxPositionEmbeddings = original;
    return scaling;
  }
  if (type !== 'linear' && type !== 'dynamic' && type !== 'llama3') {
    const message = `rope type ${JSON.stringify(type)} is not supported; expected linear, dynamic, llama3 or longrope`;
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
export class ConfigFields {
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
