/**
 * What generation starts from: left-padded token rows with their attention mask, from ids or text, and what each row
 * gets from its adapter: a soft prompt (prompt tuning, P-tuning, a multitask task's prompt) prepended to its
 * embeddings, or a prefix (prefix tuning) as every layer's initial past keys/values. One shared adapter as in PEFT, or
 * one per row for mixed batches, whose methods may differ.
 */
import { OptionError, ShapeError } from '../errors.js';
import type { ModelConfig } from '../models/config.js';
import { promptWidth } from '../models/architectures.js';
import { prefixToPast } from '../models/prefix.js';
import type { Adapter } from '../peft/adapter.js';
import type { VirtualTokensPosition } from '../peft/config.js';
import type { TextTokenizer } from '../tokenizer/tokenizer.js';

/** Prefix tuning's vector [n, 2·layers·kvHeads·headDim] (PEFT's layout): every layer's initial past keys/values. */
export interface Prefix {
  prefix: Float32Array;
}

/**
 * What a row is given: a soft prompt [n, H] (the raw embeddings), a prefix, or a loaded PEFT adapter (prompt tuning,
 * P-tuning and prefix tuning; a multitask adapter needs task ids: use PeftModel and `row_prompts`).
 */
export type SoftPrompt = Float32Array | Adapter | Prefix;

export interface InputOptions {
  /** One row or a batch. Rows of different lengths are left-padded (only without attention_mask). */
  input_ids?: number[] | number[][];
  attention_mask?: number[] | number[][];
  /** Tokenized with the tokenizer (special tokens added as it adds them) and left-padded. */
  text?: string | string[];
  /** One soft prompt for every row: exactly what PEFT's PeftModelForCausalLM.generate computes. */
  prompt?: SoftPrompt | null;
  /**
   * One soft prompt (or null) per row: mixed-task batching. Each row then gets what it would get generated alone;
   * shorter prompts are padded with masked slots and positions skip every masked slot.
   */
  prompts?: Array<SoftPrompt | null>;
  /**
   * One soft prompt [n, H] per row batched as PEFT batches one adapter (multitask prompt tuning: each row's task
   * prompt): all of the same length, positions as with one shared `prompt`.
   */
  row_prompts?: Float32Array[];
  /**
   * Where raw prompt embeddings (Float32Array in `prompt`, `prompts`, `row_prompts`) go: in front of the input
   * (default, as PEFT), or after it, right before the new tokens. Loaded adapters follow their config's
   * virtual_tokens_position instead.
   */
  prompt_position?: VirtualTokensPosition;
}

export interface PreparedBatch {
  ids: number[][];
  mask: number[][];
  /**
   * [B][n] soft-prompt rows laid out [masked slots | prompt], or null without prompts. `last`: they go after the
   * input, right before the new tokens (adapters whose virtual_tokens_position is before_completion), not in front.
   */
  prompt: { data: Float32Array; length: number; mask: number[][]; last: boolean } | null;
  /**
   * Prefixes as the initial cache: per layer key then value, each [B, kvHeads, P, headDim] laid out
   * [masked slots | prefix]; their slots come before the prompt's. Null without prefixes.
   */
  prefix: { past: Float32Array[]; length: number; mask: number[][] } | null;
  /**
   * 'slots': positions are slot indices, virtual tokens and pads included (PEFT with one shared prompt);
   * 'mask': cumsum(mask) - 1 with masked slots at 1 (transformers without PEFT, and every mixed batch).
   */
  positions: 'slots' | 'mask';
  /** Mixed-task batch: each row must come out as if generated alone, so its pads are invisible to it. */
  alone: boolean;
}

export function prepareBatch(
  o: InputOptions,
  cfg: ModelConfig,
  tokenizer: TextTokenizer | null,
  padId: number | null,
  eos: number[],
): PreparedBatch {
  if ((o.text === undefined) === (o.input_ids === undefined)) throw new OptionError('give exactly one of input_ids and text', 'input_ids');
  if ([o.prompt, o.prompts, o.row_prompts].filter(Boolean).length > 1) {
    throw new OptionError('give one of prompt (one for all rows), prompts (one per row, mixed) and row_prompts', 'prompts');
  }
  let rows: number[][];
  let mask: number[][] | null = null;
  if (o.text !== undefined) {
    if (!tokenizer) throw new OptionError('text input needs a tokenizer', 'text');
    if (o.attention_mask) throw new OptionError('attention_mask goes with input_ids, not text', 'attention_mask');
    rows = (typeof o.text === 'string' ? [o.text] : o.text).map((t) => tokenizer.encode(t));
    padId = tokenizer.pad_token_id ?? padId;
  } else {
    rows = isMatrix(o.input_ids!) ? o.input_ids : [o.input_ids as number[]];
    if (o.attention_mask) mask = isMatrix(o.attention_mask) ? o.attention_mask : [o.attention_mask as number[]];
  }
  if (rows.length === 0 || rows.some((r) => r.length === 0)) throw new ShapeError('expected non-empty rows', 'input_ids');
  for (const id of rows.flat()) {
    if (!Number.isSafeInteger(id) || id < 0 || id >= cfg.vocabSize) throw new ShapeError(`token id ${id} is outside [0, ${cfg.vocabSize})`, 'input_ids');
  }

  const T = Math.max(...rows.map((r) => r.length));
  if (mask) {
    if (mask.length !== rows.length || mask.some((m, b) => m.length !== rows[b].length || m.some((v) => v !== 0 && v !== 1))) {
      throw new ShapeError('expected 0/1 values shaped like input_ids', 'attention_mask');
    }
    if (rows.some((r) => r.length !== T)) throw new ShapeError('rows must have equal lengths when attention_mask is given', 'input_ids');
  } else if (o.text !== undefined || rows.some((r) => r.length !== T)) {
    // Tokenized text and ragged rows: every given token is real, the padding is ours.
    mask = rows.map((r) => [...new Array(T - r.length).fill(0), ...r.map(() => 1)]);
    rows = leftPad(rows, T, padId);
  } else {
    mask = defaultMask(rows, padId, eos);
  }
  return { ids: rows, mask, ...softPrompts(o, rows.length, cfg) };
}

/** transformers' _expand_inputs_for_generation: each row `k` times in a row (for num_return_sequences). */
export function repeatRows(batch: PreparedBatch, k: number): PreparedBatch {
  if (k === 1) return batch;
  const rep = <T>(rows: T[]) => rows.flatMap((r) => new Array<T>(k).fill(r));
  let prompt = batch.prompt;
  if (prompt) {
    const rowSize = prompt.data.length / batch.ids.length;
    const data = new Float32Array(prompt.data.length * k);
    for (let b = 0; b < batch.ids.length; b++) {
      for (let j = 0; j < k; j++) data.set(prompt.data.subarray(b * rowSize, (b + 1) * rowSize), (b * k + j) * rowSize);
    }
    prompt = { data, length: prompt.length, mask: rep(prompt.mask), last: prompt.last };
  }
  let prefix = batch.prefix;
  if (prefix) {
    const past = prefix.past.map((t) => {
      const rowSize = t.length / batch.ids.length;
      const data = new Float32Array(t.length * k);
      for (let b = 0; b < batch.ids.length; b++) {
        for (let j = 0; j < k; j++) data.set(t.subarray(b * rowSize, (b + 1) * rowSize), (b * k + j) * rowSize);
      }
      return data;
    });
    prefix = { past, length: prefix.length, mask: rep(prefix.mask) };
  }
  return { ...batch, ids: rep(batch.ids), mask: rep(batch.mask), prompt, prefix };
}

/** transformers' _prepare_attention_mask_for_generation: pads are masked only when the pad id is not an eos id. */
function defaultMask(rows: number[][], padId: number | null, eos: number[]): number[][] {
  const maskPads = padId !== null && !eos.includes(padId);
  return rows.map((r) => r.map((id) => (maskPads && id === padId ? 0 : 1)));
}

function softPrompts(o: InputOptions, B: number, cfg: ModelConfig): Pick<PreparedBatch, 'prompt' | 'prefix' | 'positions' | 'alone'> {
  const H = promptWidth(cfg);
  if (o.prompts && o.prompts.length !== B) throw new ShapeError(`expected ${B} entries (one per input row), got ${o.prompts.length}`, 'prompts');
  if (o.row_prompts && o.row_prompts.length !== B) throw new ShapeError(`expected ${B} entries (one per input row), got ${o.row_prompts.length}`, 'row_prompts');
  const perRow = o.row_prompts ?? o.prompts ?? new Array<SoftPrompt | null>(B).fill(o.prompt ?? null);
  const field = (b: number) => (o.prompts ? `prompts[${b}]` : o.row_prompts ? `row_prompts[${b}]` : 'prompt');
  const inputs = perRow.map((p, b) => (p ? rowInput(p, H, field(b)) : null));
  const alone = o.prompts !== undefined;
  if (o.row_prompts && inputs.some((x) => x?.length !== inputs[0]?.length)) throw new ShapeError('every row prompt must have the same length', 'row_prompts');

  const prompts = inputs.map((x) => (x?.kind === 'prompt' ? x.data : null));
  const n = Math.max(0, ...prompts.map((e) => (e ? e.length / H : 0)));
  // Where each row's prompt goes: an adapter says so in its config, raw embeddings follow prompt_position.
  const last = perRow.map((p, b) => prompts[b] !== null && promptPosition(p!, o.prompt_position) === 'before_completion');
  if (last.some((l, b) => prompts[b] && l !== last.find((_, c) => prompts[c]))) {
    throw new OptionError('adapters that put their virtual tokens in front and ones that put them before the completion cannot share a batch', 'prompts');
  }
  let prompt: PreparedBatch['prompt'] = null;
  if (n > 0) {
    const data = new Float32Array(B * n * H);
    const mask = prompts.map((e, b) => {
      const own = e ? e.length / H : 0;
      if (e) data.set(e, (b * n + n - own) * H);
      return [...new Array(n - own).fill(0), ...new Array(own).fill(1)];
    });
    prompt = { data, length: n, mask, last: last.some(Boolean) };
  }

  const pasts = inputs.map((x, b) => (x?.kind === 'prefix' ? prefixToPast(cfg, x.data, field(b)) : null));
  const perToken = cfg.numKvHeads * cfg.headDim;
  const P = Math.max(0, ...pasts.map((p) => (p ? p[0].length / perToken : 0)));
  let prefix: PreparedBatch['prefix'] = null;
  if (P > 0) {
    const hd = cfg.headDim;
    const past = Array.from({ length: 2 * cfg.numLayers }, () => new Float32Array(B * cfg.numKvHeads * P * hd));
    const mask = pasts.map((layers, b) => {
      const own = layers ? layers[0].length / perToken : 0;
      layers?.forEach((t, k) => {
        // [kvHeads, own, hd] into row b's [kvHeads, P, hd], right-aligned.
        for (let h = 0; h < cfg.numKvHeads; h++) {
          past[k].set(t.subarray(h * own * hd, (h + 1) * own * hd), ((b * cfg.numKvHeads + h) * P + P - own) * hd);
        }
      });
      return [...new Array(P - own).fill(0), ...new Array(own).fill(1)];
    });
    prefix = { past, length: P, mask };
  }
  return { prompt, prefix, positions: alone ? 'mask' : 'slots', alone };
}

/** Where a row's prompt goes: an adapter's config says; raw embeddings go where `raw` says (default in front). */
export function promptPosition(p: SoftPrompt, raw?: VirtualTokensPosition): VirtualTokensPosition {
  if (p instanceof Float32Array) return raw ?? 'start';
  return 'prefix' in p ? 'start' : p.config.virtual_tokens_position === 'before_completion' ? 'before_completion' : 'start';
}

function rowInput(p: SoftPrompt, H: number, where: string): { kind: 'prompt' | 'prefix'; data: Float32Array; length: number } {
  if (!(p instanceof Float32Array) && 'prefix' in p) return { kind: 'prefix', data: p.prefix, length: p.prefix.length };
  if (!(p instanceof Float32Array) && p.peftType === 'PREFIX_TUNING') return { kind: 'prefix', data: p.prompt, length: p.prompt.length };
  if (!(p instanceof Float32Array) && p.peftType === 'MULTITASK_PROMPT_TUNING') {
    throw new OptionError('a multitask adapter needs each row\'s task id: load it into a PeftModel and pass task_ids', where);
  }
  const data = promptEmbeddings(p, H, where);
  return { kind: 'prompt', data, length: data.length / H };
}

function promptEmbeddings(p: Float32Array | Adapter, H: number, where: string): Float32Array {
  if (!(p instanceof Float32Array) && p.tokenDim !== H) {
    throw new ShapeError(`the adapter's token_dim is ${p.tokenDim} but the model's prompt width is ${H}`, where);
  }
  const data = p instanceof Float32Array ? p : p.prompt;
  if (data.length === 0 || data.length % H !== 0) throw new ShapeError(`expected a soft prompt of shape [n, ${H}], got ${data.length} values`, where);
  return data;
}

function leftPad(rows: number[][], T: number, padId: number | null): number[][] {
  if (rows.every((r) => r.length === T)) return rows;
  if (padId === null) throw new OptionError('rows of different lengths need a pad_token_id to be padded with', 'pad_token_id');
  return rows.map((r) => [...new Array<number>(T - r.length).fill(padId), ...r]);
}

function isMatrix<T>(x: T[] | T[][]): x is T[][] {
  return Array.isArray(x[0]);
}
