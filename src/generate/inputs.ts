/**
 * What generation starts from: left-padded token rows with their attention mask, from ids or text, and the soft
 * prompt each row gets (one shared adapter as in PEFT, or one per row for mixed-task batches).
 */
import { OptionError, ShapeError } from '../errors.js';
import type { ModelConfig } from '../models/config.js';
import { promptWidth } from '../models/architectures.js';
import type { Adapter } from '../peft/adapter.js';
import type { TextTokenizer } from '../tokenizer/tokenizer.js';

/** A soft prompt [n, H]: the raw embeddings or a loaded PEFT adapter. */
export type SoftPrompt = Float32Array | Adapter;

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
  if (o.prompt && o.prompts) throw new OptionError('give prompt (one for all rows) or prompts (one per row), not both', 'prompts');
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
  return { ids: rows, mask, ...softPrompts(o, rows.length, promptWidth(cfg)) };
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
  return { ...batch, ids: rep(batch.ids), mask: rep(batch.mask), prompt };
}

/** transformers' _prepare_attention_mask_for_generation: pads are masked only when the pad id is not an eos id. */
function defaultMask(rows: number[][], padId: number | null, eos: number[]): number[][] {
  const maskPads = padId !== null && !eos.includes(padId);
  return rows.map((r) => r.map((id) => (maskPads && id === padId ? 0 : 1)));
}

function softPrompts(o: InputOptions, B: number, H: number): Pick<PreparedBatch, 'prompt' | 'positions' | 'alone'> {
  if (o.prompts && o.prompts.length !== B) throw new ShapeError(`expected ${B} entries (one per input row), got ${o.prompts.length}`, 'prompts');
  const perRow = o.prompts ?? new Array<SoftPrompt | null>(B).fill(o.prompt ?? null);
  const embeddings = perRow.map((p, b) => (p ? promptEmbeddings(p, H, o.prompts ? `prompts[${b}]` : 'prompt') : null));
  const n = Math.max(0, ...embeddings.map((e) => (e ? e.length / H : 0)));
  const last = perRow.map((p) => p !== null && !(p instanceof Float32Array) && p.config.virtual_tokens_position === 'before_completion');
  if (last.some((l, b) => perRow[b] && l !== last.find((_, c) => perRow[c]))) {
    throw new OptionError('adapters that put their virtual tokens in front and ones that put them before the completion cannot share a batch', 'prompts');
  }
  const alone = o.prompts !== undefined;
  if (n === 0) return { prompt: null, positions: 'mask', alone };
  const data = new Float32Array(B * n * H);
  const mask = embeddings.map((e, b) => {
    const own = e ? e.length / H : 0;
    if (e) data.set(e, (b * n + n - own) * H);
    return [...new Array(n - own).fill(0), ...new Array(own).fill(1)];
  });
  return { prompt: { data, length: n, mask, last: last.some(Boolean) }, positions: alone ? 'mask' : 'slots', alone };
}

function promptEmbeddings(p: SoftPrompt, H: number, where: string): Float32Array {
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
