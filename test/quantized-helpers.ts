// Perplexity on held-out text and greedy continuations, for comparing a model's dtypes (quantized-quality.test.ts, bench).
import { readFileSync } from 'node:fs';
import type { PretrainedModel } from '../src/models/model.js';
import type { TextTokenizer } from '../src/tokenizer/tokenizer.js';
import { generate } from '../src/generate/generate.js';
import { reservedPassages } from '../src/data/corpora.js';

/** exp of the mean next-token loss over every predicted token of the texts (each cut to `maxTokens`). */
export async function perplexity(model: PretrainedModel, tokenizer: TextTokenizer, texts: string[], maxTokens = 128): Promise<number> {
  let total = 0;
  let count = 0;
  for (const text of texts) {
    const ids = tokenizer.encode(text).slice(0, maxTokens);
    if (ids.length < 2) continue;
    const { loss } = await model.forward({ input_ids: [ids], labels: [ids] }, { logits: false });
    total += loss! * (ids.length - 1);
    count += ids.length - 1;
  }
  return Math.exp(total / count);
}

export async function greedy(model: PretrainedModel, tokenizer: TextTokenizer, prompt: string, newTokens: number): Promise<number[]> {
  const input_ids = [tokenizer.encode(prompt)];
  const out = await generate(model, null, { input_ids, max_new_tokens: newTokens, eos_token_id: null });
  return out.sequences[0].slice(input_ids[0].length);
}

/** The default model's held-out text: passages of the Moby Dick chapters it never saw. */
export const defaultModelTexts = (n = 24) => reservedPassages('moby-dick').slice(0, n);
/** stories260K's: the fixture's prompt-tuning texts, which are not TinyStories. */
export const storiesTexts = (path: string, n = 40) => (JSON.parse(readFileSync(path, 'utf8')) as string[]).slice(0, n);
/** The seed article's generation prompt. */
export const SEED_PROMPT = 'I want you to act as a logistician. ';

/**
 * A short prompt-tuning run (torch AdamW, constant lr) on `texts` as one batch, from a fixed random prompt: the
 * per-step losses and the first step's gradient.
 */
export async function shortPromptTuning(
  model: PretrainedModel,
  tokenizer: TextTokenizer,
  texts: string[],
  opts: { virtual: number; steps: number; lr: number; maxTokens?: number },
): Promise<{ losses: number[]; firstGrad: Float32Array }> {
  const rows = texts.map((t) => tokenizer.encode(t).slice(0, opts.maxTokens ?? 32));
  const T = Math.max(...rows.map((r) => r.length));
  const pad = 0;
  const input_ids = rows.map((r) => [...r, ...new Array(T - r.length).fill(pad)]);
  const attention_mask = rows.map((r) => input_ids[0].map((_, i) => (i < r.length ? 1 : 0)));
  const labels = rows.map((r, b) => input_ids[b].map((id, i) => (i < r.length ? id : -100)));
  const H = model.config.hiddenSize;
  let s = 12345;
  const prompt = Float32Array.from({ length: opts.virtual * H }, () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5) * 0.5);
  const m = new Float32Array(prompt.length);
  const v = new Float32Array(prompt.length);
  const losses: number[] = [];
  let firstGrad: Float32Array | null = null;
  for (let k = 1; k <= opts.steps; k++) {
    const { loss, grad } = await model.forward({ input_ids, attention_mask, labels }, { prompt, grad: true, logits: false });
    const g = grad as Float32Array;
    firstGrad ??= g.slice();
    losses.push(loss!);
    for (let i = 0; i < g.length; i++) {
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
      prompt[i] -= (opts.lr * (m[i] / (1 - 0.9 ** k))) / (Math.sqrt(v[i] / (1 - 0.999 ** k)) + 1e-8);
    }
  }
  return { losses, firstGrad: firstGrad! };
}

export function cosine(a: Float32Array, b: Float32Array): number {
  let [ab, aa, bb] = [0, 0, 0];
  for (let i = 0; i < a.length; i++) [ab, aa, bb] = [ab + a[i] * b[i], aa + a[i] * a[i], bb + b[i] * b[i]];
  return ab / Math.sqrt(aa * bb);
}
