/**
 * Task mode's recipe: what prompt-completion data (the loss on the completion) is trained with where nothing else is
 * said. `softprompt train` takes these for the flags left unset and `softprompt compare` trains its task rows with
 * them, so a change here moves both. Measured on the default model with a sweep (docs/compare.md, "The recipe"):
 * HF's learning rate of 5e-5 barely moves a prompt, and virtual tokens in front of the input hardly reach the answer
 * in a small model; right before the answer they read the whole input and set the answer's first token. The sweep
 * tuned prompt tuning: TASK_DEFAULT_KEYS says which of these each method takes.
 */
import type { PeftType } from '../peft/methods.js';
import { optimizerStepsPerEpoch } from './steps.js';

export const TASK_DEFAULTS = {
  num_train_epochs: 10,
  /** A task run is a few hundred steps: HF's 500 would log nothing, and loss_curve.svg would have no points. */
  logging_steps: 10,
  num_virtual_tokens: 8,
  prompt_tuning_init: 'SAMPLE_VOCAB',
  virtual_tokens_position: 'before_completion',
} as const;

/**
 * The task-mode defaults each method takes. Multitask prompts are prompt rows too, but start from RANDOM or TEXT only;
 * a prefix is every layer's past keys/values, always in front.
 */
export const TASK_DEFAULT_KEYS: Record<PeftType, ReadonlyArray<keyof typeof TASK_DEFAULTS>> = {
  PROMPT_TUNING: ['num_train_epochs', 'logging_steps', 'num_virtual_tokens', 'prompt_tuning_init', 'virtual_tokens_position'],
  MULTITASK_PROMPT_TUNING: ['num_train_epochs', 'logging_steps', 'num_virtual_tokens', 'virtual_tokens_position'],
  P_TUNING: ['num_train_epochs', 'logging_steps', 'num_virtual_tokens', 'virtual_tokens_position'],
  PREFIX_TUNING: ['num_train_epochs', 'logging_steps', 'num_virtual_tokens'],
};

/**
 * Task mode's learning rate per method (HF's 5e-5 leaves every one of them at the majority class in 320 steps).
 * Balanced SMS spam, 10 epochs (docs/compare.md): prompt tuning 0.03; a prefix the same, 0.84 (5e-5: 0.50); P-tuning's
 * prompt is an MLP's output, whose weights take a smaller step: 1e-3 0.915, 0.03 0.50. Multitask prompts are
 * prompt rows, unmeasured, at prompt tuning's rate.
 */
export const TASK_LEARNING_RATES: Record<PeftType, number> = {
  PROMPT_TUNING: 0.03,
  MULTITASK_PROMPT_TUNING: 0.03,
  P_TUNING: 1e-3,
  PREFIX_TUNING: 0.03,
};

/**
 * Full fine-tuning's learning rate on tasks (`softprompt compare` trains it with the epochs above): every weight moves,
 * so it takes a far smaller step than a prompt. Swept on SMS spam, 192 training rows scored on the other 64
 * (docs/compare.md): 1e-4 and 3e-4 tied at 0.969, 1e-3 0.953.
 */
export const TASK_FINE_TUNING_LEARNING_RATE = 3e-4;

/**
 * A prompt needs a few hundred optimizer steps whatever the data's size: on SMS spam, 16 rows for 10 epochs (20 steps)
 * stayed at the majority class, and the same 16 rows for 320 steps reached 0.88 (docs/compare.md, learning curve).
 */
export const TASK_MIN_STEPS = 300;

/** Task mode's epochs when none are given: TASK_DEFAULTS' 10, or as many more as TASK_MIN_STEPS optimizer steps take. */
export function taskEpochs(examples: number, batchSize: number, gradientAccumulationSteps = 1): number {
  const perEpoch = optimizerStepsPerEpoch(examples, batchSize, gradientAccumulationSteps);
  return Math.max(TASK_DEFAULTS.num_train_epochs, Math.ceil(TASK_MIN_STEPS / perEpoch));
}
