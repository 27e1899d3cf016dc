/**
 * transformers' logits processors and warpers on one row's scores [V], in place and in transformers' order:
 * repetition penalty, no-repeat n-grams, then (sampling only) temperature, top-k, top-p. Then the choice: argmax
 * (the first maximum, as torch.argmax) or a draw from the softmax.
 */
import type { Generator } from '../random.js';

/** RepetitionPenaltyLogitsProcessor: every id in `ids` gets its score divided by `penalty` if positive, else multiplied. */
export function repetitionPenalty(scores: Float32Array, ids: readonly number[], penalty: number): void {
  for (const id of new Set(ids)) {
    const s = scores[id];
    scores[id] = s < 0 ? s * penalty : s / penalty;
  }
}

/** NoRepeatNGramLogitsProcessor: bans each token that would complete an n-gram already present in `ids`. */
export function noRepeatNgram(scores: Float32Array, ids: readonly number[], n: number): void {
  const len = ids.length;
  if (len + 1 < n) return;
  const start = len + 1 - n;
  for (let i = 0; i + n <= len; i++) {
    let same = true;
    for (let j = 0; j < n - 1 && same; j++) same = ids[i + j] === ids[start + j];
    if (same) scores[ids[i + n - 1]] = -Infinity;
  }
}

export function temperature(scores: Float32Array, t: number): void {
  for (let i = 0; i < scores.length; i++) scores[i] /= t;
}

/** TopKLogitsWarper: keeps the scores >= the k-th largest (ties included). */
export function topK(scores: Float32Array, k: number): void {
  if (k >= scores.length) return;
  const kth = kthLargest(scores, k);
  for (let i = 0; i < scores.length; i++) if (scores[i] < kth) scores[i] = -Infinity;
}

/** With a min-heap of the k largest so far: O(V log k), where sorting a 250k vocabulary took ~30 ms a step. */
function kthLargest(x: Float32Array, k: number): number {
  const heap = new Float32Array(k);
  let size = 0;
  for (const v of x) {
    if (size < k) {
      let i = size++;
      for (; i > 0 && heap[(i - 1) >> 1] > v; i = (i - 1) >> 1) heap[i] = heap[(i - 1) >> 1];
      heap[i] = v;
    } else if (v > heap[0]) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= k) break;
        const c = l + 1 < k && heap[l + 1] < heap[l] ? l + 1 : l;
        if (heap[c] >= v) break;
        heap[i] = heap[c];
        i = c;
      }
      heap[i] = v;
    }
  }
  return heap[0];
}

/**
 * TopPLogitsWarper: sorted ascending, drops the tokens whose cumulative probability stays <= 1 - p, always keeping
 * the most likely one.
 */
export function topP(scores: Float32Array, p: number): void {
  const live = [];
  for (let i = 0; i < scores.length; i++) if (scores[i] !== -Infinity) live.push(i);
  live.sort((a, b) => scores[a] - scores[b]);
  const probs = softmax(Float32Array.from(live, (i) => scores[i]));
  let cumulative = 0;
  for (let j = 0; j < live.length - 1; j++) {
    cumulative += probs[j];
    if (cumulative > 1 - p) break;
    scores[live[j]] = -Infinity;
  }
}

export function argmax(scores: Float32Array): number {
  let best = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i] > scores[best]) best = i;
  return best;
}

/** A draw from softmax(scores). */
export function sample(scores: Float32Array, random: Generator): number {
  const probs = softmax(scores);
  let r = random.uniform();
  let last = 0;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] === 0) continue;
    last = i;
    r -= probs[i];
    if (r < 0) return i;
  }
  return last; // rounding left r a hair above 0: the last possible token
}

function softmax(x: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of x) if (v > max) max = v;
  const out = new Float64Array(x.length);
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += out[i] = Math.exp(x[i] - max);
  for (let i = 0; i < x.length; i++) out[i] /= sum;
  return out;
}
