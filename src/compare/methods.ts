/**
 * The ways to adapt one frozen model to a task that `softprompt compare` measures, on the same split and the
 * same held-out targets (every token of each held-out text after its first), next to the untouched model:
 * - prompt engineering: a hand-written text prompt placed before each text, nothing trained, the prompt text stored;
 * - prompt tuning: n virtual tokens initialised from that text, trained with the Trainer, the PEFT adapter stored;
 * - P-tuning: n virtual tokens from PEFT's MLP encoder (hidden size = the model's), trained at prompt tuning's rate,
 *   its PEFT adapter (the encoder's output) stored;
 * - prefix tuning: n keys and values in every layer, trained directly at prompt tuning's rate, the PEFT adapter stored;
 * - fine-tuning: every weight trained with the same Trainer, a whole checkpoint stored (F32, as it trains).
 */
import { dataCollatorForLanguageModeling, exampleIds, type Collator } from '../data/collator.js';
import { ShapeError } from '../errors.js';
import type { PretrainedModel } from '../models/model.js';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../peft/adapter.js';
import { promptTuningConfig } from '../peft/config.js';
import { prefixTuningConfig, promptEncoderConfig } from '../peft/methods.js';
import { PeftModel } from '../peft/peft-model.js';
import type { TextTokenizer } from '../tokenizer/tokenizer.js';
import { heldOutLoss } from '../train/evaluate.js';
import { FullFineTuning } from '../train/finetune.js';
import { Trainer } from '../train/trainer.js';

export const METHODS = ['base model', 'prompt engineering', 'prompt tuning', 'P-tuning', 'prefix tuning', 'fine-tuning'] as const;
export type Method = (typeof METHODS)[number];

export interface CompareSettings {
  /** The hand-written prompt of prompt engineering, and the TEXT init of prompt tuning. */
  prompt: string;
  num_virtual_tokens: number;
  prompt_tuning_learning_rate: number;
  fine_tuning_learning_rate: number;
  num_train_epochs: number;
  per_device_train_batch_size: number;
  max_length: number;
}

export interface MethodResult {
  method: Method;
  trainable_params: number;
  /** What must be kept per task besides the shared base model. */
  bytes_per_task: number;
  train_seconds: number;
  held_out_loss: number;
}

const IGNORE = -100;

export async function runMethod(
  method: Method,
  model: PretrainedModel,
  tokenizer: TextTokenizer,
  data: { train: string[]; heldOut: string[] },
  s: CompareSettings,
): Promise<MethodResult> {
  const pad = tokenizer.pad_token_id ?? tokenizer.eos_token_id ?? 0;
  const encode = (texts: string[]) => texts.map((t) => tokenizer.encode(t).slice(0, s.max_length));
  const [train, heldOut] = [encode(data.train), encode(data.heldOut)];
  if (heldOut.some((ids) => ids.length < 2)) throw new ShapeError('every held-out text needs at least two tokens', 'dataset');
  const collator = dataCollatorForLanguageModeling({ pad_token_id: pad });
  const args = {
    num_train_epochs: s.num_train_epochs, per_device_train_batch_size: s.per_device_train_batch_size,
    save_strategy: 'no' as const, logging_steps: 1000,
  };

  if (method === 'base model') {
    const loss = await heldOutLoss(model, heldOut, collator);
    return { method, trainable_params: 0, bytes_per_task: 0, train_seconds: 0, held_out_loss: loss };
  }
  if (method === 'prompt engineering') {
    const prefix = tokenizer.encode(s.prompt);
    const loss = await heldOutLoss(model, heldOut.map((ids) => [...prefix, ...ids.slice(1)]), prefixCollator(prefix.length, pad));
    return { method, trainable_params: 0, bytes_per_task: new TextEncoder().encode(s.prompt).length, train_seconds: 0, held_out_loss: loss };
  }
  if (method === 'prompt tuning' || method === 'P-tuning' || method === 'prefix tuning') {
    const n = s.num_virtual_tokens;
    const config = method === 'P-tuning'
      ? promptEncoderConfig({ num_virtual_tokens: n }, model.config, model.source)
      : method === 'prefix tuning'
        ? prefixTuningConfig({ num_virtual_tokens: n }, model.config, model.source)
        : promptTuningConfig({ num_virtual_tokens: n, prompt_tuning_init: 'TEXT', prompt_tuning_init_text: s.prompt }, model.config, model.source);
    const peft = PeftModel.create(model, config, { tokenizer });
    const out = await new Trainer({ model: peft, args: { ...args, learning_rate: s.prompt_tuning_learning_rate }, train_dataset: train, data_collator: collator }).train();
    // What a task keeps is PEFT's adapter, not the checkpoint's copy of the encoder's weights.
    const files = await peft.checkpointFiles();
    return {
      method, trainable_params: peft.parameters().length, bytes_per_task: storedBytes({ [ADAPTER_CONFIG]: files[ADAPTER_CONFIG], [ADAPTER_WEIGHTS]: files[ADAPTER_WEIGHTS] }),
      train_seconds: out.metrics.train_runtime, held_out_loss: await heldOutLoss(peft, heldOut, collator),
    };
  }
  const tuning = FullFineTuning.of(model);
  const out = await new Trainer({ model: tuning, args: { ...args, learning_rate: s.fine_tuning_learning_rate }, train_dataset: train, data_collator: collator }).train();
  return {
    method, trainable_params: tuning.parameters().length, bytes_per_task: storedBytes(tuning.checkpointFiles()),
    train_seconds: out.metrics.train_runtime, held_out_loss: await heldOutLoss(tuning, heldOut, collator),
  };
}

/** The size of a trained model's own checkpoint files: what a task keeps besides the shared base model. */
export function storedBytes(files: Record<string, Uint8Array | string>): number {
  return Object.values(files).reduce((n, f) => n + (typeof f === 'string' ? new TextEncoder().encode(f).length : f.length), 0);
}

/** Pads on the right and gives the first `prefix` positions (the hand-written prompt) no label. */
function prefixCollator(prefix: number, pad: number): Collator {
  return (given) => {
    const examples = given.map(exampleIds);
    const T = Math.max(...examples.map((e) => e.length));
    const fill = (row: number[], value: number) => [...row, ...new Array<number>(T - row.length).fill(value)];
    return {
      input_ids: examples.map((e) => fill(e, pad)),
      attention_mask: examples.map((e) => fill(e.map(() => 1), 0)),
      labels: examples.map((e) => fill(e.map((id, i) => (i < prefix ? IGNORE : id)), IGNORE)),
    };
  };
}
