/**
 * What a soft prompt looks like from the vocabulary's side. For each virtual token: the k vocabulary tokens nearest by
 * cosine similarity and by dot product (what the LM head would score it as, for tied embeddings), its norm against the
 * distribution of token-embedding norms (percentile), its Euclidean distance to the nearest token against the typical
 * token-to-nearest-token distance (median over a seeded sample of tokens), and, where the initialisation is
 * recomputable (TEXT init: the init text's token rows), how far it moved from it.
 *
 * Nearest tokens need not explain what a prompt does: Khashabi et al. (2022, "Prompt Waywardness") train continuous
 * prompts that solve a task while their nearest tokens spell an arbitrary, unrelated text. Read these as a
 * description of where the vectors sit, not as the prompt's meaning.
 */
import { ShapeError, UnsupportedError } from '../errors.js';
import { promptWidth } from '../models/architectures.js';
import type { PretrainedModel } from '../models/model.js';
import { inputEmbeddingName } from '../peft/init.js';
import { Generator } from '../random.js';

export const WAYWARDNESS_NOTE =
  'Nearest tokens describe where the vectors sit, not what the prompt does: continuous prompts can solve a task while ' +
  'their nearest tokens spell an unrelated text (Khashabi et al. 2022, "Prompt Waywardness").';

/** A vocabulary token near a virtual token, with its cosine or dot-product score. */
export interface Neighbour {
  id: number;
  token: string;
  score: number;
}

/** What `inspect` finds about one virtual token. */
export interface VirtualTokenReport {
  index: number;
  norm: number;
  /** Share of vocabulary embeddings with a smaller norm, in [0, 100]. */
  norm_percentile: number;
  by_cosine: Neighbour[];
  by_dot: Neighbour[];
  /** Euclidean distance to the nearest vocabulary embedding. */
  nearest_distance: number;
  /** nearest_distance / the typical token-to-nearest-token distance: near 1 or below looks like a token; far above does not. */
  nearest_distance_ratio: number;
  /** Where the init is known: the init token, the distance moved, and the cosine to the init row. */
  drift: { init_id: number; init_token: string; distance: number; relative: number; cosine: number } | null;
}

/** What `inspect` finds about a soft prompt: per virtual token, and the vocabulary's scale to read it against. */
export interface PromptReport {
  num_virtual_tokens: number;
  token_dim: number;
  vocab_size: number;
  /** Median over sampled tokens of the distance to their nearest other token. */
  typical_nearest_distance: number;
  token_norms: { min: number; median: number; max: number };
  tokens: VirtualTokenReport[];
  note: string;
}

export interface InspectOptions {
  top_k?: number;
  /** Token ids the prompt was initialised from, one per virtual token (TEXT init), if known. */
  init_ids?: number[] | null;
  /** Tokens sampled for the typical nearest-token distance (default 512). */
  sample_tokens?: number;
  seed?: number;
}

/** `embeddings`: the input embedding table [V, H]; `decode`: one token id as text. */
export function inspectPrompt(prompt: Float32Array, embeddings: Float32Array, H: number, decode: (id: number) => string, opts: InspectOptions = {}): PromptReport {
  const V = embeddings.length / H;
  const n = prompt.length / H;
  if (!Number.isInteger(V) || !Number.isInteger(n) || n < 1) throw new ShapeError(`expected a prompt [n, ${H}] and a table [V, ${H}]`, 'prompt');
  const k = Math.min(opts.top_k ?? 5, V);
  const row = (m: Float32Array, i: number) => m.subarray(i * H, (i + 1) * H);
  const norms = Float64Array.from({ length: V }, (_, v) => Math.sqrt(dot(row(embeddings, v), row(embeddings, v))));
  const sortedNorms = [...norms].sort((a, b) => a - b);
  const typical = typicalNearestDistance(embeddings, H, norms, opts.sample_tokens ?? 512, opts.seed ?? 0);
  const tokens = Array.from({ length: n }, (_, i): VirtualTokenReport => {
    const p = row(prompt, i);
    const pNorm = Math.sqrt(dot(p, p));
    const dots = Float64Array.from({ length: V }, (_, v) => dot(p, row(embeddings, v)));
    const cosines = dots.map((d, v) => d / (pNorm * norms[v] || 1));
    let nearest = Infinity;
    for (let v = 0; v < V; v++) nearest = Math.min(nearest, Math.sqrt(Math.max(0, pNorm * pNorm + norms[v] * norms[v] - 2 * dots[v])));
    const init = opts.init_ids?.[i];
    let drift: VirtualTokenReport['drift'] = null;
    if (init !== undefined) {
      const e = row(embeddings, init);
      let d2 = 0;
      for (let h = 0; h < H; h++) d2 += (p[h] - e[h]) ** 2;
      drift = { init_id: init, init_token: decode(init), distance: Math.sqrt(d2), relative: Math.sqrt(d2) / (norms[init] || 1), cosine: cosines[init] };
    }
    return {
      index: i,
      norm: pNorm,
      norm_percentile: (100 * lowerBound(sortedNorms, pNorm)) / V,
      by_cosine: topK(cosines, k).map((id) => ({ id, token: decode(id), score: cosines[id] })),
      by_dot: topK(dots, k).map((id) => ({ id, token: decode(id), score: dots[id] })),
      nearest_distance: nearest,
      nearest_distance_ratio: nearest / typical,
      drift,
    };
  });
  return {
    num_virtual_tokens: n,
    token_dim: H,
    vocab_size: V,
    typical_nearest_distance: typical,
    token_norms: { min: sortedNorms[0], median: sortedNorms[Math.floor(V / 2)], max: sortedNorms[V - 1] },
    tokens,
    note: WAYWARDNESS_NOTE,
  };
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** Indices of the k largest values, largest first (ties: the smaller index first). */
function topK(xs: Float64Array, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < xs.length; i++) {
    if (best.length === k && xs[i] <= xs[best[k - 1]]) continue;
    let j = best.length === k ? k - 1 : best.length;
    if (best.length < k) best.push(i);
    while (j > 0 && xs[best[j - 1]] < xs[i]) {
      best[j] = best[j - 1];
      j--;
    }
    best[j] = i;
  }
  return best;
}

function lowerBound(sorted: number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Median over a seeded sample of tokens of the Euclidean distance to their nearest other token. */
function typicalNearestDistance(E: Float32Array, H: number, norms: Float64Array, samples: number, seed: number): number {
  const V = norms.length;
  const rnd = Generator.seeded(seed);
  const ids = V <= samples ? Array.from({ length: V }, (_, i) => i) : Array.from({ length: samples }, () => rnd.below(V));
  const distances = ids.map((a) => {
    const ea = E.subarray(a * H, (a + 1) * H);
    let best = Infinity;
    for (let b = 0; b < V; b++) {
      if (b === a) continue;
      const d2 = norms[a] ** 2 + norms[b] ** 2 - 2 * dot(ea, E.subarray(b * H, (b + 1) * H));
      // Duplicate rows (unused tokens share their init) would give 0; they say nothing about spacing.
      if (d2 > 1e-12) best = Math.min(best, d2);
    }
    return Math.sqrt(Math.max(0, best));
  });
  distances.sort((x, y) => x - y);
  return distances[Math.floor(distances.length / 2)];
}

/**
 * What inspectModelPrompt needs to know of the adapter: its method (a soft prompt's: prompt tuning, or P-tuning's saved
 * encoder output) and its init, to recompute a TEXT init's token ids.
 */
export interface PromptInit {
  peft_type?: unknown;
  prompt_tuning_init?: unknown;
  prompt_tuning_init_text?: unknown;
}

/**
 * inspectPrompt against `model`'s input embedding table; a TEXT-initialised prompt's init ids are recomputed as PEFT
 * does (the init text's ids, special tokens included, repeated and cut to num_virtual_tokens).
 */
export function inspectModelPrompt(
  model: PretrainedModel,
  prompt: Float32Array,
  init: PromptInit,
  tokenizer: { encode(text: string): number[]; decode(ids: number[]): string },
  opts: Omit<InspectOptions, 'init_ids'> = {},
): PromptReport {
  if (init.peft_type === 'PREFIX_TUNING' || init.peft_type === 'MULTITASK_PROMPT_TUNING') {
    const why = init.peft_type === 'PREFIX_TUNING' ? "its prefix is every layer's keys and values, not embeddings" : 'its prompt depends on the task';
    throw new UnsupportedError(`inspect reads a soft prompt among the token embeddings; a ${init.peft_type} adapter has none (${why})`, 'adapter');
  }
  const V = model.config.vocabSize;
  const H = promptWidth(model.config);
  const table = model.weights.float32(model.resolveWeight(inputEmbeddingName(model.config), [V, H]));
  let init_ids: number[] | null = null;
  if (init.prompt_tuning_init === 'TEXT' && typeof init.prompt_tuning_init_text === 'string') {
    const ids = tokenizer.encode(init.prompt_tuning_init_text);
    if (ids.length > 0) init_ids = Array.from({ length: prompt.length / H }, (_, i) => ids[i % ids.length]);
  }
  return inspectPrompt(prompt, table, H, (id) => tokenizer.decode([id]), { ...opts, init_ids });
}
