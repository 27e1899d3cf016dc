/**
 * A decode batch whose rows come and go between steps (continuous batching), each row with its own soft prompt or
 * none. `join` prefills new rows and adds them, `step` feeds one token per row, `leave` drops rows.
 *
 * Every row keeps only the cache slots it attends to, right-aligned in the batch's slot count P (the rows' longest);
 * the slots to their left are masked. A masked slot is invisible to its row (the bias is fp32-min, positions and
 * ALiBi count only attended slots: PreparedBatch's 'mask' positions), so a row decodes as it would alone, whatever
 * else shares the batch; joins and leaves repack the cache (a copy), steps do not.
 *
 * A soft prompt in front comes first and attention is causal, so its keys/values do not depend on the text after it:
 * `promptPrefix` computes them once per adapter and `join` starts rows from them (a prefix cache) instead of running
 * the virtual tokens through the model again for every request. A prompt placed before the completion
 * (virtual_tokens_position) attends to its row's text, so it has no prefix to cache: it runs in its row's prefill, after
 * the text, as `generate` places it. Such rows prefill together, beside the rows with front prompts and the rest.
 */
import { ShapeError, UnsupportedError } from '../errors.js';
import { promptWidth } from '../models/architectures.js';
import type { PretrainedModel } from '../models/model.js';
import { prefixToPast } from '../models/prefix.js';
import type { Adapter } from '../peft/adapter.js';
import type { TensorData } from '../runtime/engine.js';
import { loadDecoderGraph, positionIds } from './decoder.js';
import { auxFeeds } from '../models/positions.js';
import { pastKey, pastValue, presentKey, presentValue, type PromptPlace } from './graph.js';
import { prepareBatch, promptPosition, type SoftPrompt } from './inputs.js';

/** A soft prompt's keys and values in every layer: 2 * layers arrays of [kvHeads, n, headDim] (keys, values, ...). */
export interface PromptPrefix {
  /** Virtual tokens. */
  length: number;
  cache: Float32Array[];
}

/** A row to add: its token ids and either a cached prefix, a soft prompt to run with it, or neither (the base model). */
export interface NewRow {
  ids: number[];
  prefix?: PromptPrefix | null;
  prompt?: SoftPrompt | null;
}

/** A KV cache over B rows: 2 * layers tensors [B, kvHeads, P, headDim] and the mask [B][P]. */
interface Cache {
  tensors: Float32Array[];
  mask: number[][];
}

export class DecodeBatch {
  private cache: Cache = { tensors: [], mask: [] };
  private readonly keys = new Map<PromptPlace, Promise<string>>();

  constructor(private readonly model: PretrainedModel) {}

  /** Rows in the batch. */
  get size(): number {
    return this.cache.mask.length;
  }

  /** Cache slots per row (the longest row's; shorter rows are masked on the left). */
  get slots(): number {
    return this.cache.mask[0]?.length ?? 0;
  }

  /**
   * The soft prompt's keys/values, computed once for every request that uses it. A prefix-tuning adapter's prefix is
   * such keys/values already (its tokens then take positions n.., as after a prompt of n virtual tokens).
   */
  static async promptPrefix(model: PretrainedModel, prompt: SoftPrompt): Promise<PromptPrefix> {
    const cfg = model.config;
    const prefix = prefixOf(prompt);
    if (prefix) {
      const cache = prefixToPast(cfg, prefix);
      return { length: cache[0].length / (cfg.numKvHeads * cfg.headDim), cache };
    }
    if (!(prompt instanceof Float32Array) && 'peftType' in prompt && prompt.peftType === 'MULTITASK_PROMPT_TUNING') {
      throw new UnsupportedError('a MULTITASK_PROMPT_TUNING adapter needs a task id per row; decode it through a PeftModel with task_ids', 'prompt');
    }
    if (promptPosition(prompt) === 'before_completion') {
      throw new UnsupportedError('virtual tokens placed before the completion read the text before them, so they have no prefix to cache; join rows with the adapter as their prompt', 'prompt');
    }
    const batch = new DecodeBatch(model);
    const withPrompt = await batch.graph('first');
    const H = promptWidth(cfg);
    const data = prompt instanceof Float32Array ? prompt : (prompt as Adapter).prompt;
    if (data.length === 0 || data.length % H !== 0) {
      throw new ShapeError(`expected a soft prompt of shape [n, ${H}], got ${data.length} values`, 'prompt');
    }
    const n = data.length / H;
    const mask = [new Array<number>(n).fill(1)];
    const feeds: Record<string, TensorData> = {
      input_ids: { dtype: 'int64', dims: [1, 0], data: new BigInt64Array(0) },
      prompt: { dtype: 'float32', dims: [1, n, H], data },
    };
    const out = await batch.run(withPrompt, feeds, emptyPast(model, 1), mask, 0, false);
    return { length: n, cache: out.tensors };
  }

  /** Prefills `rows` and appends them in the order given; returns each new row's next-token logits [V]. */
  async join(rows: NewRow[]): Promise<Float32Array[]> {
    if (rows.length === 0) return [];
    // A prefix-tuning adapter given as a prompt is its keys/values: such rows start from them as from a cached prefix.
    rows = await Promise.all(rows.map(async (r) => (r.prompt && prefixOf(r.prompt) ? { ids: r.ids, prefix: await DecodeBatch.promptPrefix(this.model, r.prompt) } : r)));
    const V = this.model.config.vocabSize;
    const logits = new Array<Float32Array>(rows.length);
    const placed = new Array<{ cache: Cache; row: number }>(rows.length);
    // Rows from cached prefixes (and base-model rows) in one prefill; rows whose prompt runs with them in one more per
    // placement (a prefill graph puts every row's prompt on the same side).
    const placeOf = (r: NewRow): PromptPlace => (!r.prompt ? 'none' : promptPosition(r.prompt) === 'before_completion' ? 'last' : 'first');
    for (const place of ['none', 'first', 'last'] as const) {
      const group = rows.flatMap((r, i) => (placeOf(r) === place ? [i] : []));
      if (group.length === 0) continue;
      const sub = group.map((i) => rows[i]);
      const out = place === 'none' ? await this.prefillFromPrefixes(sub) : await this.prefillWithPrompts(sub);
      group.forEach((i, b) => {
        logits[i] = out.logits.slice(b * V, (b + 1) * V);
        placed[i] = { cache: out.cache, row: b };
      });
    }
    const existing = this.cache.mask.map((_, b) => ({ cache: this.cache, row: b }));
    this.cache = pack(this.model, [...existing, ...placed]);
    return logits;
  }

  /** Feeds one token per row (in row order); returns the next-token logits [B, V]. */
  async step(tokens: number[]): Promise<Float32Array> {
    if (tokens.length !== this.size) throw new ShapeError(`expected ${this.size} tokens (one per row), got ${tokens.length}`, 'tokens');
    const plain = await this.graph('none');
    const start = this.slots;
    const mask = this.cache.mask.map((row) => [...row, 1]);
    const feeds: Record<string, TensorData> = {
      input_ids: { dtype: 'int64', dims: [tokens.length, 1], data: BigInt64Array.from(tokens, BigInt) },
    };
    const past = this.pastFeeds(this.cache);
    const out = await this.run(plain, feeds, past, mask, start, true);
    this.cache = out.cache;
    return out.logits;
  }

  /** Keeps the rows where `keep` is true (in order) and drops the slots no remaining row attends to. */
  leave(keep: boolean[]): void {
    if (keep.length !== this.size) throw new ShapeError(`expected ${this.size} flags, got ${keep.length}`, 'keep');
    if (keep.every(Boolean)) return;
    const rows = keep.flatMap((k, b) => (k ? [{ cache: this.cache, row: b }] : []));
    this.cache = pack(this.model, rows);
  }

  private async prefillFromPrefixes(rows: NewRow[]): Promise<{ logits: Float32Array; cache: Cache }> {
    const cfg = this.model.config;
    const plain = await this.graph('none');
    const B = rows.length;
    const P = Math.max(...rows.map((r) => r.prefix?.length ?? 0));
    const T = Math.max(...rows.map((r) => r.ids.length));
    // The prefixes right-aligned in P slots, then the inputs left-padded to T.
    const prefixes: Cache = {
      tensors: Array.from({ length: 2 * cfg.numLayers }, () => new Float32Array(B * cfg.numKvHeads * P * cfg.headDim)),
      mask: rows.map((r) => slotsMask(P, r.prefix?.length ?? 0)),
    };
    rows.forEach((r, b) => {
      if (!r.prefix) return;
      const n = r.prefix.length;
      r.prefix.cache.forEach((src, t) => {
        for (let h = 0; h < cfg.numKvHeads; h++) {
          prefixes.tensors[t].set(src.subarray(h * n * cfg.headDim, (h + 1) * n * cfg.headDim), ((b * cfg.numKvHeads + h) * P + P - n) * cfg.headDim);
        }
      });
    });
    const mask = rows.map((r, b) => [...prefixes.mask[b], ...slotsMask(T, r.ids.length)]);
    const ids = rows.flatMap((r) => [...new Array<number>(T - r.ids.length).fill(0), ...r.ids]);
    const feeds: Record<string, TensorData> = { input_ids: { dtype: 'int64', dims: [B, T], data: BigInt64Array.from(ids, BigInt) } };
    return this.run(plain, feeds, this.pastFeeds(prefixes, B, P), mask, P, true);
  }

  /** Rows that each have a soft prompt, all placed on the same side of their text. */
  private async prefillWithPrompts(rows: NewRow[]): Promise<{ logits: Float32Array; cache: Cache }> {
    const cfg = this.model.config;
    const batch = prepareBatch({ input_ids: rows.map((r) => r.ids), prompts: rows.map((r) => r.prompt!) }, cfg, null, 0, []);
    const prompt = batch.prompt!;
    // Slots [masked | prompt | pads | text], or [pads | text | masked | prompt] before the completion.
    const mask = batch.mask.map((row, b) => (prompt.last ? [...row, ...prompt.mask[b]] : [...prompt.mask[b], ...row]));
    const B = rows.length;
    const feeds: Record<string, TensorData> = {
      input_ids: { dtype: 'int64', dims: [B, batch.ids[0].length], data: BigInt64Array.from(batch.ids.flat(), BigInt) },
      prompt: { dtype: 'float32', dims: [B, prompt.length, promptWidth(cfg)], data: prompt.data },
    };
    return this.run(await this.graph(prompt.last ? 'last' : 'first'), feeds, emptyPast(this.model, B), mask, 0, false);
  }

  private pastFeeds(cache: Cache, B = cache.mask.length, P = cache.mask[0]?.length ?? 0): Record<string, TensorData> {
    const cfg = this.model.config;
    const dims = [B, cfg.numKvHeads, P, cfg.headDim];
    const past: Record<string, TensorData> = {};
    for (let i = 0; i < cfg.numLayers; i++) {
      past[pastKey(i)] = { dtype: 'float32', dims, data: cache.tensors[2 * i] ?? new Float32Array(0) };
      past[pastValue(i)] = { dtype: 'float32', dims, data: cache.tensors[2 * i + 1] ?? new Float32Array(0) };
    }
    return past;
  }

  /** Runs a decoder graph over `mask` (all slots, past and new); returns the last position's logits and the grown cache. */
  private async run(
    key: string,
    feeds: Record<string, TensorData>,
    past: Record<string, TensorData>,
    mask: number[][],
    queryStart: number,
    transfer: boolean,
  ): Promise<{ logits: Float32Array; cache: Cache; tensors: Float32Array[] }> {
    const cfg = this.model.config;
    const positions = positionIds(mask, queryStart, 'mask');
    // Every row stands alone: masked slots can sit between a row's text and its prompt (placed before the completion),
    // so a sliding window counts the keys a row attends to, not slots.
    Object.assign(feeds, past, auxFeeds(cfg, { mask, positions, queryStart, alone: true }));
    const names = Array.from({ length: cfg.numLayers }, (_, i) => [presentKey(i), presentValue(i)]).flat();
    const out = await this.model.runGraph(key, feeds, ['logits', ...names], transfer);
    const tensors = names.map((n) => out[n].data as Float32Array);
    return { logits: out.logits.data as Float32Array, cache: { tensors, mask }, tensors };
  }

  private graph(place: PromptPlace): Promise<string> {
    let key = this.keys.get(place);
    if (!key) {
      key = loadDecoderGraph(this.model, place);
      this.keys.set(place, key);
      key.catch(() => this.keys.delete(place));
    }
    return key;
  }
}

/** Prefix tuning's vector, where `prompt` is one (a Prefix, or a loaded PREFIX_TUNING adapter); null otherwise. */
function prefixOf(prompt: SoftPrompt): Float32Array | null {
  if (prompt instanceof Float32Array) return null;
  if ('prefix' in prompt) return prompt.prefix;
  return prompt.peftType === 'PREFIX_TUNING' ? prompt.prompt : null;
}

function slotsMask(P: number, own: number): number[] {
  return [...new Array<number>(P - own).fill(0), ...new Array<number>(own).fill(1)];
}

function emptyPast(model: PretrainedModel, B: number): Record<string, TensorData> {
  const cfg = model.config;
  const past: Record<string, TensorData> = {};
  const dims = [B, cfg.numKvHeads, 0, cfg.headDim];
  for (let i = 0; i < cfg.numLayers; i++) {
    past[pastKey(i)] = { dtype: 'float32', dims, data: new Float32Array(0) };
    past[pastValue(i)] = { dtype: 'float32', dims, data: new Float32Array(0) };
  }
  return past;
}

/**
 * A fresh cache holding `rows` (each a row of some cache) in order: each row's attended slots, right-aligned in
 * P = the longest row's count, masked slots on the left.
 */
function pack(model: PretrainedModel, rows: Array<{ cache: Cache; row: number }>): Cache {
  const { numKvHeads: kv, headDim: hd, numLayers } = model.config;
  const slotLists = rows.map(({ cache, row }) => cache.mask[row].flatMap((m, j) => (m ? [j] : [])));
  const P = Math.max(0, ...slotLists.map((s) => s.length));
  const B = rows.length;
  const tensors = Array.from({ length: 2 * numLayers }, () => new Float32Array(B * kv * P * hd));
  rows.forEach(({ cache, row }, r) => {
    const slots = slotLists[r];
    const Ps = cache.mask[row].length;
    const L = slots.length;
    // Runs of consecutive slots copy in one go (usually the whole row is one run).
    const runs: Array<[number, number, number]> = [];
    for (let k = 0; k < L; k++) {
      const last = runs[runs.length - 1];
      if (last && slots[k] === last[0] + last[2]) last[2]++;
      else runs.push([slots[k], k, 1]);
    }
    for (let t = 0; t < 2 * numLayers; t++) {
      const src = cache.tensors[t];
      const dst = tensors[t];
      for (let h = 0; h < kv; h++) {
        const from = (row * kv + h) * Ps;
        const to = (r * kv + h) * P + P - L;
        for (const [s, k, len] of runs) dst.set(src.subarray((from + s) * hd, (from + s + len) * hd), (to + k) * hd);
      }
    }
  });
  return { tensors, mask: slotLists.map((s) => slotsMask(P, s.length)) };
}
