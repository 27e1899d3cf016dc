/**
 * One sequence's next token from its row's logits, with OpenAI's and vLLM's sampling fields: repetition penalty (over
 * the prompt and the output, as transformers and vLLM), presence/frequency penalties (over the output, OpenAI's
 * additive form), logit_bias, min_tokens, then temperature 0 = greedy (argmax) or temperature, top-k, top-p and a draw.
 * An ensemble decodes from the mean of its adapters' next-token log-probabilities.
 */
import { argmax, repetitionPenalty, sample, temperature as applyTemperature, topK, topP } from '../generate/logits.js';
import type { Generator } from '../random.js';

export interface Sampling {
  max_tokens: number;
  /** eos and stop_token_ids are banned until this many tokens are out (vLLM). */
  min_tokens: number;
  /** 0: greedy. */
  temperature: number;
  top_p: number;
  /** 0 or -1: off. */
  top_k: number;
  repetition_penalty: number;
  presence_penalty: number;
  frequency_penalty: number;
  logit_bias: Map<number, number>;
  stop: string[];
  /** Token ids that end the sequence: the model's eos ids (unless ignore_eos) and stop_token_ids. */
  stop_token_ids: number[];
  /** Alternatives to report per token (0: only the chosen token's); null: no log-probabilities. */
  logprobs: number | null;
  seed: number | null;
}

export interface TokenChoice {
  id: number;
  /** log p(id) under the model (the ensemble's normalised mean), before penalties and warpers; NaN without logprobs. */
  logprob: number;
  /** The most likely tokens and their log-probabilities, best first (with logprobs > 0). */
  top: Array<[number, number]>;
}

/** The next token given each member row's logits [V] (one row, or one per ensemble adapter). */
export function chooseToken(rows: Float32Array[], promptIds: readonly number[], output: readonly number[], s: Sampling, random: Generator): TokenChoice {
  const dist = rows.length === 1 ? rows[0] : meanLogProbs(rows);
  const scores = Float32Array.from(dist);
  if (s.repetition_penalty !== 1) repetitionPenalty(scores, [...promptIds, ...output], s.repetition_penalty);
  if (s.presence_penalty !== 0 || s.frequency_penalty !== 0) {
    const counts = new Map<number, number>();
    for (const id of output) counts.set(id, (counts.get(id) ?? 0) + 1);
    for (const [id, c] of counts) scores[id] -= s.frequency_penalty * c + s.presence_penalty;
  }
  for (const [id, bias] of s.logit_bias) scores[id] += bias;
  if (output.length < s.min_tokens) for (const id of s.stop_token_ids) scores[id] = -Infinity;
  let id: number;
  if (s.temperature === 0) id = argmax(scores);
  else {
    if (s.temperature !== 1) applyTemperature(scores, s.temperature);
    if (s.top_k > 0) topK(scores, s.top_k);
    if (s.top_p < 1) topP(scores, s.top_p);
    id = sample(scores, random);
  }
  if (s.logprobs === null) return { id, logprob: NaN, top: [] };
  const logp = logSoftmax(dist);
  return { id, logprob: logp[id], top: s.logprobs > 0 ? topEntries(logp, s.logprobs) : [] };
}

/** Mean over rows of log_softmax(row): the ensemble's scores (a product of experts, up to normalisation). */
export function meanLogProbs(rows: Float32Array[]): Float32Array {
  const out = new Float32Array(rows[0].length);
  for (const row of rows) {
    const lp = logSoftmax(row);
    for (let i = 0; i < out.length; i++) out[i] += lp[i] / rows.length;
  }
  return out;
}

export function logSoftmax(x: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of x) if (v > max) max = v;
  let sum = 0;
  for (const v of x) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return x.map((v) => v - lse);
}

function topEntries(logp: Float32Array, k: number): Array<[number, number]> {
  const best: Array<[number, number]> = [];
  for (let i = 0; i < logp.length; i++) {
    if (best.length < k || logp[i] > best[best.length - 1][1]) {
      best.push([i, logp[i]]);
      best.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
      if (best.length > k) best.pop();
    }
  }
  return best;
}
