/**
 * lm-evaluation-harness's multiple-choice metrics from each doc's choice log-likelihoods:
 * - acc: the choice with the highest summed log-probability is the gold one (ties go to the first, as np.argmax);
 * - acc_norm: the same after dividing each log-likelihood by the length of its choice text (lm-eval's code divides by
 *   len(choice), characters; for ASCII choices that is the byte length);
 * - f1: macro-F1 over the classes (lm-eval's f1 is sklearn's f1_score; softprompt reports the macro average, which
 *   also means something for more than two classes), with per-class precision and recall and the confusion matrix;
 * - standard errors: acc and acc_norm by lm-eval's mean_stderr (sample standard deviation / sqrt(n)); f1 by a seeded
 *   bootstrap over docs (lm-eval bootstraps too; 1000 resamples here, lm-eval's default is 100000).
 */
import { Generator } from '../random.js';

export interface ChoiceScores {
  gold: number;
  /** Log-likelihood of each choice. */
  loglikelihoods: number[];
  choices: string[];
}

export interface ClassificationMetrics {
  acc: number;
  acc_stderr: number;
  acc_norm: number;
  acc_norm_stderr: number;
  f1: number;
  f1_stderr: number;
  /** Per class (choice text when every doc has the same choices, else the choice index). */
  per_class: Record<string, { precision: number; recall: number; f1: number; support: number }>;
  /** confusion[gold][predicted], counts, in the order of `labels`. */
  confusion: number[][];
  labels: string[];
  /** Share of docs whose gold is the most frequent class: what always answering it would score. */
  majority: number;
}

export function argmax(xs: number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

export function prediction(doc: ChoiceScores): number {
  return argmax(doc.loglikelihoods);
}

export function normalizedPrediction(doc: ChoiceScores): number {
  return argmax(doc.loglikelihoods.map((ll, i) => ll / doc.choices[i].length));
}

export function meanStderr(xs: number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1);
  return Math.sqrt(variance / n);
}

/** Macro-F1 of predictions against golds over classes 0..K-1 (a class never gold nor predicted is left out, as sklearn). */
export function macroF1(golds: number[], preds: number[], K: number): number {
  const scores = perClass(golds, preds, K).filter((c) => c.support > 0 || c.predicted > 0).map((c) => c.f1);
  return scores.length === 0 ? 0 : scores.reduce((a, b) => a + b, 0) / scores.length;
}

function perClass(golds: number[], preds: number[], K: number) {
  return Array.from({ length: K }, (_, k) => {
    let tp = 0;
    let predicted = 0;
    let support = 0;
    golds.forEach((g, i) => {
      if (preds[i] === k) predicted++;
      if (g === k) support++;
      if (g === k && preds[i] === k) tp++;
    });
    const precision = predicted === 0 ? 0 : tp / predicted;
    const recall = support === 0 ? 0 : tp / support;
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    return { precision, recall, f1, support, predicted };
  });
}

export function classificationMetrics(docs: ChoiceScores[], bootstrapIters = 1000, seed = 1234): ClassificationMetrics {
  const K = Math.max(...docs.map((d) => d.choices.length));
  const sameChoices = docs.every((d) => d.choices.join('\u0000') === docs[0].choices.join('\u0000'));
  const labels = sameChoices ? docs[0].choices : Array.from({ length: K }, (_, k) => String(k));
  const golds = docs.map((d) => d.gold);
  const preds = docs.map(prediction);
  const hits = docs.map((d, i) => (preds[i] === d.gold ? 1 : 0));
  const normHits = docs.map((d) => (normalizedPrediction(d) === d.gold ? 1 : 0));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const confusion = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  docs.forEach((d, i) => confusion[d.gold][preds[i]]++);
  const classes = perClass(golds, preds, K);
  const rnd = Generator.seeded(seed);
  const boot: number[] = [];
  for (let b = 0; b < bootstrapIters; b++) {
    const idx = docs.map(() => rnd.below(docs.length));
    boot.push(macroF1(idx.map((i) => golds[i]), idx.map((i) => preds[i]), K));
  }
  const counts = labels.map((_, k) => golds.filter((g) => g === k).length);
  return {
    acc: mean(hits),
    acc_stderr: meanStderr(hits),
    acc_norm: mean(normHits),
    acc_norm_stderr: meanStderr(normHits),
    f1: macroF1(golds, preds, K),
    f1_stderr: boot.length > 1 ? meanStderr(boot) * Math.sqrt(boot.length) : NaN,
    per_class: Object.fromEntries(labels.map((label, k) => [label, { precision: classes[k].precision, recall: classes[k].recall, f1: classes[k].f1, support: classes[k].support }])),
    confusion,
    labels,
    majority: Math.max(...counts) / docs.length,
  };
}
