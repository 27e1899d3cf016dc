/**
 * transformers' DataCollatorForLanguageModeling(mlm=False): pads a list of token-id sequences to the longest one
 * (tokenizer.pad, on the tokenizer's padding side), and sets labels = input_ids with every position whose id is the
 * pad id set to -100. That is the id, not the mask: where pad == eos, real EOS tokens get no label either, as in HF.
 */
import { OptionError, ShapeError } from '../errors.js';
import type { ForwardBatch } from '../models/model.js';

export interface CollatorOptions {
  pad_token_id: number;
  /** Default 'right', transformers' default padding side. */
  padding_side?: 'right' | 'left';
}

export type Collator = (examples: number[][]) => ForwardBatch;

export function dataCollatorForLanguageModeling(opts: CollatorOptions): Collator {
  const pad = opts.pad_token_id;
  if (!Number.isSafeInteger(pad) || pad < 0) throw new OptionError(`is ${pad}; expected a token id`, 'pad_token_id');
  const left = opts.padding_side === 'left';
  return (examples) => {
    if (examples.length === 0) throw new ShapeError('cannot collate an empty batch', 'examples');
    const T = Math.max(...examples.map((e) => e.length));
    const padded = (row: number[], fill: number, value: (x: number) => number): number[] => {
      const filler = new Array<number>(T - row.length).fill(fill);
      const body = row.map(value);
      return left ? [...filler, ...body] : [...body, ...filler];
    };
    const input_ids = examples.map((e) => padded(e, pad, (x) => x));
    return {
      input_ids,
      attention_mask: examples.map((e) => padded(e, 0, () => 1)),
      labels: input_ids.map((row) => row.map((id) => (id === pad ? -100 : id))),
    };
  };
}
