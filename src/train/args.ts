/**
 * TrainingArguments: the subset of transformers' TrainingArguments (4.40) that prompt tuning uses, with its names and
 * defaults, validated once so the training loop can trust every value.
 */
import { OptionError } from '../errors.js';
import { SCHEDULER_TYPES, type SchedulerType } from './schedule.js';

/** When to evaluate or save: never, every N steps, or every epoch. */
export type IntervalStrategy = 'no' | 'steps' | 'epoch';

/** The TrainingArguments fields softprompt implements, with transformers' names and defaults. */
export interface TrainingArguments {
  learning_rate: number;
  num_train_epochs: number;
  /** > 0 overrides num_train_epochs. */
  max_steps: number;
  per_device_train_batch_size: number;
  per_device_eval_batch_size: number;
  gradient_accumulation_steps: number;
  weight_decay: number;
  adam_beta1: number;
  adam_beta2: number;
  adam_epsilon: number;
  /** 0 turns clipping off. */
  max_grad_norm: number;
  lr_scheduler_type: SchedulerType;
  warmup_steps: number;
  /** Used only when warmup_steps is 0. */
  warmup_ratio: number;
  seed: number;
  /** Below 1: a fraction of the total steps, as in HF. */
  logging_steps: number;
  logging_first_step: boolean;
  /** Default: 'steps' when eval_steps is set, else 'epoch' when there is an eval set (HF's default is 'no'). */
  eval_strategy?: IntervalStrategy;
  /** Default: logging_steps. */
  eval_steps?: number;
  save_strategy: IntervalStrategy;
  save_steps: number;
  auto_find_batch_size: boolean;
  /**
   * Bytes a training step may use. With auto_find_batch_size the batch starts at the largest halving of
   * per_device_train_batch_size whose estimated step fits (before any out-of-memory retry). Not an HF argument.
   */
  max_memory?: number;
}

export const TRAINING_DEFAULTS: TrainingArguments = {
  learning_rate: 5e-5,
  num_train_epochs: 3,
  max_steps: -1,
  per_device_train_batch_size: 8,
  per_device_eval_batch_size: 8,
  gradient_accumulation_steps: 1,
  weight_decay: 0,
  adam_beta1: 0.9,
  adam_beta2: 0.999,
  adam_epsilon: 1e-8,
  max_grad_norm: 1,
  lr_scheduler_type: 'linear',
  warmup_steps: 0,
  warmup_ratio: 0,
  seed: 42,
  logging_steps: 500,
  logging_first_step: false,
  save_strategy: 'steps',
  save_steps: 500,
  auto_find_batch_size: false,
};

const STRATEGIES: readonly IntervalStrategy[] = ['no', 'steps', 'epoch'];

/** Fills in HF's defaults and rejects values HF would reject (or silently misuse, like a NaN learning rate). */
export function trainingArguments(given: Partial<TrainingArguments> = {}): TrainingArguments {
  const args: TrainingArguments = { ...TRAINING_DEFAULTS };
  for (const [key, value] of Object.entries(given)) {
    if (value !== undefined) (args as unknown as Record<string, unknown>)[key] = value;
  }
  const number = (key: keyof TrainingArguments, ok: (x: number) => boolean, expected: string) => {
    const x = args[key];
    if (typeof x !== 'number' || Number.isNaN(x) || !ok(x)) throw new OptionError(`is ${x}; expected ${expected}`, key);
  };
  const positiveInt = (x: number) => Number.isSafeInteger(x) && x >= 1;
  number('learning_rate', (x) => Number.isFinite(x) && x >= 0, 'a finite number >= 0');
  if (args.max_memory !== undefined) number('max_memory', (x) => Number.isFinite(x) && x > 0, 'a number of bytes > 0');
  number('max_steps', (x) => Number.isSafeInteger(x), 'an integer (> 0 to set the number of steps, -1 to use num_train_epochs)');
  if (args.max_steps <= 0) number('num_train_epochs', (x) => Number.isFinite(x) && x > 0, 'a number > 0 (or set max_steps)');
  for (const key of ['per_device_train_batch_size', 'per_device_eval_batch_size', 'gradient_accumulation_steps'] as const) {
    number(key, positiveInt, 'an integer >= 1');
  }
  number('weight_decay', (x) => Number.isFinite(x) && x >= 0, 'a finite number >= 0');
  number('adam_beta1', (x) => x >= 0 && x < 1, 'a number in [0, 1)');
  number('adam_beta2', (x) => x >= 0 && x < 1, 'a number in [0, 1)');
  number('adam_epsilon', (x) => Number.isFinite(x) && x >= 0, 'a finite number >= 0');
  number('max_grad_norm', (x) => x >= 0, 'a number >= 0 (0 turns clipping off)');
  number('warmup_steps', (x) => Number.isSafeInteger(x) && x >= 0, 'an integer >= 0');
  number('warmup_ratio', (x) => x >= 0 && x <= 1, 'a number in [0, 1]');
  number('seed', (x) => Number.isSafeInteger(x), 'an integer');
  const interval = (x: number) => x > 0 && (x < 1 || Number.isSafeInteger(x));
  number('logging_steps', interval, 'an integer >= 1 or a fraction of the total steps in (0, 1)');
  number('save_steps', interval, 'an integer >= 1 or a fraction of the total steps in (0, 1)');
  if (args.eval_steps !== undefined) number('eval_steps', interval, 'an integer >= 1 or a fraction of the total steps in (0, 1)');
  if (!SCHEDULER_TYPES.includes(args.lr_scheduler_type)) {
    throw new OptionError(`is ${JSON.stringify(args.lr_scheduler_type)}; expected one of ${SCHEDULER_TYPES.join(', ')}`, 'lr_scheduler_type');
  }
  for (const key of ['eval_strategy', 'save_strategy'] as const) {
    const value = args[key];
    if (value !== undefined && !STRATEGIES.includes(value)) {
      throw new OptionError(`is ${JSON.stringify(value)}; expected one of ${STRATEGIES.join(', ')}`, key);
    }
  }
  return args;
}
