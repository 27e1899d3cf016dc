/**
 * lm-evaluation-harness's `loglikelihood` request, on softprompt's forward pass: the log-probability of a continuation
 * given a context, summed over the continuation's tokens, and whether greedy decoding would have produced it.
 * Encoding is lm-eval's `_encode_pair`: trailing whitespace moves from the context to the continuation, then
 * context + continuation is encoded whole and the continuation is what follows the context's own encoding. The input is
 * (context + continuation)[-(max_length + 1):][:-1], so a long context loses tokens from the left. The context is
 * encoded with the tokenizer's default special tokens (BOS where it adds one, as training encodes each text); an empty
 * context becomes [eos], as lm-eval does.
 *
 * Each request runs under one variant: the base model (no soft prompt), an adapter's prompt, or a prefix-tuning
 * adapter's prefix. Requests of every variant are batched together (a mixed-task batch, one prompt or prefix per row)
 * wherever their prompts (or prefixes) have the same length.
 * The numbers are those of `softprompt forward` on the same ids: log_softmax of its logits.
 */
import { promptWidth } from '../models/architectures.js';
import type { PretrainedModel } from '../models/model.js';
import { prefixWidth } from '../models/prefix.js';

export interface TokenEncoder {
  encode(text: string): number[];
  readonly eos_token_id: number | null;
}

export interface LoglikelihoodRequest {
  context: string;
  continuation: string;
  /** Index into the variants. */
  variant: number;
}

export interface Loglikelihood {
  /** Sum of log p(token | everything before it) over the continuation's tokens. */
  logprob: number;
  /** Every continuation token is the argmax of its position's logits. */
  is_greedy: boolean;
  /** The context lost tokens from the left to fit max_length. */
  truncated: boolean;
}

/** The base model (prompt null), an adapter's soft prompt [n, H], or a prefix-tuning adapter's prefix [n, 2·L·D]. */
export interface Variant {
  name: string;
  prompt: Float32Array | null;
  /**
   * Where its prompt's virtual tokens go: in front of the context (default), or after it, right before the
   * continuation. A prefix is always in front.
   */
  position?: 'start' | 'before_completion';
  /** Prefix tuning (prompt null): every layer's past keys/values, in PEFT's layout (models/prefix.ts). */
  prefix?: Float32Array | null;
}

/** The virtual tokens a variant puts before the text: a prompt's rows, or a prefix's. */
export function virtualTokens(model: PretrainedModel, variant: Variant): number {
  if (variant.prompt) return variant.prompt.length / promptWidth(model.config);
  return variant.prefix ? variant.prefix.length / prefixWidth(model.config) : 0;
}

/**
 * `moved`: how many continuation tokens are the context's own trailing whitespace (a chat template's "assistant\n").
 * Virtual tokens placed before the completion go after them, where training put them: after the whole prompt's tokens.
 */
export function encodePair(tokenizer: TokenEncoder, context: string, continuation: string): { context: number[]; continuation: number[]; moved: number } {
  const spaces = context.length - context.trimEnd().length;
  const untrimmed = spaces > 0 ? tokenizer.encode(context).length : 0;
  if (spaces > 0) {
    continuation = context.slice(context.length - spaces) + continuation;
    context = context.slice(0, context.length - spaces);
  }
  const whole = tokenizer.encode(context + continuation);
  const contextIds = tokenizer.encode(context);
  const continuationIds = whole.slice(contextIds.length);
  const moved = Math.max(0, Math.min(untrimmed - contextIds.length, continuationIds.length - 1));
  if (contextIds.length === 0 && tokenizer.eos_token_id !== null) return { context: [tokenizer.eos_token_id], continuation: continuationIds, moved };
  return { context: contextIds, continuation: continuationIds, moved };
}

export interface LoglikelihoodOptions {
  /** Tokens the model may read, virtual tokens excluded; default: the model's positions (2048 without a limit) less the prompt. */
  max_length?: number;
  /** Logits a batch may bring back, in bytes (default 64 MB: 256 MB ran no faster and took twice the peak memory); a batch holds at least one row. */
  batch_bytes?: number;
  /** Called after each batch with the number of requests done. */
  on_progress?: (done: number, total: number) => void;
}

interface Encoded {
  request: number;
  input: number[];
  continuation: number[];
  /** encodePair's: continuation tokens that come before the virtual tokens of a before_completion prompt. */
  moved: number;
  truncated: boolean;
}

export async function loglikelihoods(
  model: PretrainedModel,
  tokenizer: TokenEncoder,
  requests: LoglikelihoodRequest[],
  variants: Variant[],
  opts: LoglikelihoodOptions = {},
): Promise<Loglikelihood[]> {
  const V = model.config.vocabSize;
  const results = new Array<Loglikelihood>(requests.length);
  // Requests grouped by their prompt (or prefix) length: each group can share batches.
  const groups = new Map<string, Encoded[]>();
  requests.forEach((r, request) => {
    const variant = variants[r.variant];
    const n = virtualTokens(model, variant);
    const max = opts.max_length ?? (model.config.maxPositions ?? 2048) - n;
    const pair = encodePair(tokenizer, r.context, r.continuation);
    const whole = [...pair.context, ...pair.continuation];
    const kept = whole.slice(-(max + 1));
    const encoded = { request, input: kept.slice(0, -1), continuation: pair.continuation, moved: pair.moved, truncated: kept.length < whole.length };
    const key = `${variant.prefix ? 'prefix' : 'prompt'} ${n}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(encoded);
  });
  let done = 0;
  for (const group of groups.values()) {
    const first = variants[requests[group[0].request].variant];
    const n = virtualTokens(model, first);
    // A prefix is past keys/values: the logits cover the tokens only.
    const isPrefix = Boolean(first.prefix);
    const slots = isPrefix ? 0 : n;
    // Longest first, as lm-eval orders them: the first batch shows the worst memory at once.
    group.sort((a, b) => b.input.length - a.input.length);
    for (let start = 0; start < group.length; ) {
      const S = slots + group[start].input.length;
      const rows = Math.max(1, Math.min(64, Math.floor((opts.batch_bytes ?? 64e6) / (S * V * 4))));
      const batch = group.slice(start, start + rows);
      start += batch.length;
      const T = batch[0].input.length;
      // Right after the context: the continuation starts at input position L + 1 - len(continuation), past `moved`.
      const at = batch.map((e) => (!isPrefix && variants[requests[e.request].variant].position === 'before_completion'
        ? Math.max(0, e.input.length + 1 - e.continuation.length + e.moved)
        : 0));
      const out = await model.forward(
        {
          input_ids: batch.map((e) => [...e.input, ...new Array<number>(T - e.input.length).fill(0)]),
          attention_mask: batch.map((e) => [...e.input.map(() => 1), ...new Array<number>(T - e.input.length).fill(0)]),
        },
        n === 0 ? {} : isPrefix
          ? { prefix: batch.map((e) => variants[requests[e.request].variant].prefix!) }
          : {
            prompt: batch.map((e) => variants[requests[e.request].variant].prompt!),
            promptAt: at,
          },
      );
      const logits = out.logits!.data as Float32Array;
      batch.forEach((e, b) => {
        let logprob = 0;
        let greedy = true;
        const L = e.input.length;
        e.continuation.forEach((token, j) => {
          // Input position q predicts continuation token j; from the last virtual token on, q sits `slots` further.
          const q = L - e.continuation.length + j;
          const t = q + (q + 1 >= at[b] ? slots : 0);
          const row = logits.subarray((b * (slots + T) + t) * V, (b * (slots + T) + t + 1) * V);
          const { logSumExp, argmax } = rowStats(row);
          logprob += row[token] - logSumExp;
          if (argmax !== token) greedy = false;
        });
        results[e.request] = { logprob, is_greedy: greedy, truncated: e.truncated };
      });
      done += batch.length;
      opts.on_progress?.(done, requests.length);
    }
  }
  return results;
}

/** log(sum(exp(row))) computed stably, and the first index of the maximum. */
export function rowStats(row: Float32Array): { logSumExp: number; argmax: number } {
  let max = -Infinity;
  let argmax = 0;
  for (let i = 0; i < row.length; i++) {
    if (row[i] > max) {
      max = row[i];
      argmax = i;
    }
  }
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  return { logSumExp: max + Math.log(sum), argmax };
}
