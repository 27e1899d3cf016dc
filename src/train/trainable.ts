/**
 * What the Trainer trains: one flat float32 array that the optimizer updates in place, a forward pass that returns the
 * loss and its gradient in that array's layout, and the files a checkpoint keeps of it. Prompt tuning (a PeftModel:
 * the active soft prompt, PEFT's adapter files) and full fine-tuning (FullFineTuning: every weight, config.json and
 * model.safetensors) both satisfy it, so one loop, optimizer and checkpoint format serve both.
 */
import type { ForwardBatch, ForwardOptions, ForwardResult } from '../models/model.js';

export type TrainForwardOptions = Pick<ForwardOptions, 'grad' | 'logits'>;

export interface TrainableModel {
  /** Every trainable value, flat: the array forward reads and the optimizer updates in place. */
  parameters(): Float32Array;
  /** With `grad`, `grad` is d(loss)/d(parameters()) in the same layout. */
  forward(batch: ForwardBatch, opts?: TrainForwardOptions): Promise<ForwardResult>;
  /** The model's own files in a checkpoint, holding parameters() exactly (P-tuning runs its encoder to write them). */
  checkpointFiles(): Record<string, Uint8Array | string> | Promise<Record<string, Uint8Array | string>>;
  /** The parameters that checkpointFiles() wrote, read back from a checkpoint's files (`where` names it in errors). */
  parametersFrom(files: Record<string, Uint8Array>, where: string): Float32Array;
  /** Estimated bytes of a training step on `batch` rows of `seq` tokens (weights included), for max_memory. */
  stepBytes?(batch: number, seq: number): number;
  /** Fingerprints of the model and the adapter config it trains, recorded in checkpoints so a resume can match them. */
  fingerprint?(): { model?: string; adapter_config?: string };
  /** Throws a ShapeError when an example of `tokens` tokens cannot be trained on (its positions exceed the model's). */
  checkSequenceLength?(tokens: number): void;
}
