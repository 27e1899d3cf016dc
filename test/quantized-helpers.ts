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
