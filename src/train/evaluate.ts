/** Held-out loss as HF's evaluate() reports it: each batch's mean token loss, averaged over examples. */
import type { Collator, Example } from '../data/collator.js';
import type { TrainableModel } from './trainable.js';

export async function heldOutLoss(
  model: Pick<TrainableModel, 'forward'>,
  examples: Example[],
  collator: Collator,
  batchSize = 8,
  /** Multitask prompt tuning: each example's task id. */
  taskIds?: number[],
): Promise<number> {
  let weighted = 0;
  for (let b = 0; b < examples.length; b += batchSize) {
    const batch = examples.slice(b, b + batchSize);
    const collated = collator(batch);
    if (taskIds) collated.task_ids = taskIds.slice(b, b + batchSize);
    weighted += (await model.forward(collated, { logits: false })).loss! * batch.length;
  }
  return weighted / examples.length;
}
