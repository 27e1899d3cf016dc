/**
 * transformers' DataCollatorForLanguageModeling(mlm=False): pads a list of token-id sequences to the longest one
 * (tokenizer.pad, on the tokenizer's padding side), and sets labels = input_ids with every position whose id is the
 * pad id set to -100. That is the id, not the mask: where pad == eos, real EOS tokens get no label either, as in HF.
 * An example with TRL's `completion_mask` (prompt-completion data, completion_only_loss) also gets -100 wherever
 * that mask is 0, so the loss falls on the completion tokens only.
 */
import { OptionError, ShapeError } from '../errors.js';
import type { ForwardBatch } from '../models/model.js';

export interface CollatorOptions {
  pad_token_id: number;
  /** Default 'right', transformers' default padding side. */
  padding_side?: 'right' | 'left';
}

/** Token ids, or token ids with a completion_mask (1 on completion tokens, 0 on the prompt), as TRL tokenizes them. */
export type Example = number[] | CompletionExample;

export interface CompletionExample {
  input_ids: number[];
  completion_mask: number[];
}

export type Collator = (examples: Example[]) => ForwardBatch;

export function exampleIds(example: Example): number[] {
  return Array.isArray(example) ? example : example.input_ids;
}

export function dataCollatorForLanguageModeling(opts: CollatorOptions): Collator {
  const pad = opts.pad_token_id;
  if (!Number.isSafeInteger(pad) || pad < 0) throw new OptionError(`is ${pad}; expected a token id`, 'pad_token_id');
  const left = opts.padding_side === 'left';
  return (examples) => {
    if (examples.length === 0) throw new ShapeError('cannot collate an empty batch', 'examples');
    const T = Math.max(...examples.map((e) => exampleIds(e).length));
    const padded = (row: number[], fill: number, value: (x: number, t: number) => number): number[] => {
      const filler = new Array<number>(T - row.length).fill(fill);
      const body = row.map(value);
      return left ? [...filler, ...body] : [...body, ...filler];
    };
    const label = (e: Example) => (id: number, t: number) => (id === pad || (!Array.isArray(e) && e.completion_mask[t] === 0) ? -100 : id);
    const batch: ForwardBatch = {
      input_ids: examples.map((e) => padded(exampleIds(e), pad, (x) => x)),
      attention_mask: examples.map((e) => padded(exampleIds(e), 0, () => 1)),
      labels: examples.map((e) => padded(exampleIds(e), -100, label(e))),
    };
    // Where each completion starts, for adapters that put their virtual tokens there: only where there is one per
    // example (a chat that trains several assistant turns has no single place for them).
    if (examples.every((e) => !Array.isArray(e) && completionSpans(e.completion_mask) <= 1)) {
      batch.completion_start = (examples as CompletionExample[]).map((e) => {
        const first = e.completion_mask.indexOf(1);
        return (left ? T - e.input_ids.length : 0) + (first < 0 ? e.input_ids.length : first);
      });
    }
    return batch;
  };
}

/** The runs of 1 in a completion mask: one per completion (or trained assistant turn). */
export function completionSpans(mask: number[]): number {
  return mask.filter((m, t) => m === 1 && mask[t - 1] !== 1).length;
}
