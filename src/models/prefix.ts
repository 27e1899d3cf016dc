/**
 * Prefix tuning's vector as past keys/values. PEFT's PrefixEncoder yields raw [n, 2·L·D] per row (D = token_dim =
 * heads × headDim), viewed as [n, 2L, heads, headDim]: block 2l is layer l's key and block 2l+1 its value, each
 * permuted to [heads, n, headDim] (get_prompt's `permute([2, 0, 3, 1, 4]).split(2)`). That is the standard layout; a
 * family whose transformers cache differs declares its own (`Architecture.prefixLayout`). The keys go in as they are,
 * after where RoPE would apply: the prefix has no positions.
 */
import { ShapeError } from '../errors.js';
import type { PrefixDims, PrefixLayout } from './architecture.js';
import { architectureOf } from './architectures.js';
import type { ModelConfig } from './config.js';

export const standardPrefixLayout: PrefixLayout = ({ layers, heads, headDim }) => {
  const D = heads * headDim;
  const row = 2 * layers * D;
  return (layer, value, head, token, i) => token * row + (2 * layer + (value ? 1 : 0)) * D + head * headDim + i;
};

/** The dims a prefix of `tokens` virtual tokens has on this model (its KV heads and head size). */
export function prefixDims(cfg: ModelConfig, tokens: number): PrefixDims {
  return { tokens, layers: cfg.numLayers, heads: cfg.numKvHeads, headDim: cfg.headDim };
}

/** For every layer, key then value: the vector index of each [heads, tokens, headDim] element. */
function indexTable(cfg: ModelConfig, tokens: number): Int32Array[] {
  const d = prefixDims(cfg, tokens);
  const at = (architectureOf(cfg).prefixLayout ?? standardPrefixLayout)(d);
  const tables: Int32Array[] = [];
  for (let l = 0; l < d.layers; l++) {
    for (const value of [false, true]) {
      const t = new Int32Array(d.heads * tokens * d.headDim);
      let k = 0;
      for (let h = 0; h < d.heads; h++) for (let s = 0; s < tokens; s++) for (let i = 0; i < d.headDim; i++) t[k++] = at(l, value, h, s, i);
      tables.push(t);
    }
  }
  return tables;
}

/** Values per virtual token in a prefix vector for this model: 2 · layers · kvHeads · headDim. */
export function prefixWidth(cfg: ModelConfig): number {
  return 2 * cfg.numLayers * cfg.numKvHeads * cfg.headDim;
}

function tokensOf(cfg: ModelConfig, raw: Float32Array, where: string): number {
  const width = prefixWidth(cfg);
  const n = raw.length / width;
  if (!Number.isInteger(n) || n < 1) throw new ShapeError(`has ${raw.length} values; expected [n, ${width}] (2 × layers × kv heads × head size)`, where);
  return n;
}

/** A prefix vector [n, 2LD] as every layer's [key, value], each [kvHeads, n, headDim], in layer order. */
export function prefixToPast(cfg: ModelConfig, raw: Float32Array, where = 'prefix'): Float32Array[] {
  const tables = indexTable(cfg, tokensOf(cfg, raw, where));
  return tables.map((t) => Float32Array.from(t, (j) => raw[j]));
}

/** The inverse: gradients of every layer's key and value (prefixToPast's order) back in the vector's layout. */
export function pastToPrefix(cfg: ModelConfig, past: Float32Array[], tokens: number): Float32Array {
  const tables = indexTable(cfg, tokens);
  const raw = new Float32Array(tokens * prefixWidth(cfg));
  tables.forEach((t, k) => t.forEach((j, e) => (raw[j] += past[k][e])));
  return raw;
}
