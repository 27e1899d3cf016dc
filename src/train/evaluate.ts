/** Held-out loss as HF's evaluate() reports it: each batch's mean token loss, averaged over examples. */
import type { Collator } from '../data/collator.js';
import type { ForwardBatch, ForwardOptions, ForwardResult } from '../models/model.js';

export type LossForward = (batch: ForwardBatch, opts: Omit<ForwardOptions, 'prompt'>) => Promise<ForwardResult>;

export async function heldOutLoss(forward: LossForward, examples: number[][], collator: Collator, batchSize = 8): Promise<number> {
  let weighted = 0;
  for (let b = 0; b < examples.length; b += batchSize) {
    const batch = examples.slice(b, b + batchSize);
    weighted += (await forward(collator(batch), { logits: false })).loss! * batch.length;
  }
  return weighted / examples.length;
}
