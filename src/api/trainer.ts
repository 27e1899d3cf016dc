/**
 * transformers' TrainingArguments, DataCollatorForLanguageModeling and Trainer over softprompt's training loop (HF
 * 4.40 semantics: AdamW, linear decay, clipping, accumulation, evaluation, checkpoints in output_dir, resume).
 */
import { OptionError, UnsupportedError } from '../errors.js';
import { dataCollatorForLanguageModeling, type Example } from '../data/collator.js';
import type { ForwardBatch } from '../models/model.js';
import { DirectoryCheckpointStore } from '../train/checkpoint-files.js';
import type { TrainerState } from '../train/checkpoint.js';
import { TRAINING_DEFAULTS, trainingArguments, type TrainingArguments as Args } from '../train/args.js';
import { Trainer as Loop, type TrainerCallbacks } from '../train/trainer.js';
import { Callable } from './callable.js';
import type { Dataset } from './datasets.js';
import type { PeftModel } from './peft.js';
import type { PreTrainedTokenizer } from './tokenizer.js';

/**
 * HF arguments accepted for a Python script's sake that change nothing here: softprompt always runs on the CPU,
 * reports to no tracker and keeps only the columns it reads.
 */
const NO_EFFECT = ['use_cpu', 'no_cuda', 'report_to', 'logging_dir', 'overwrite_output_dir', 'remove_unused_columns', 'disable_tqdm', 'do_train', 'do_eval'];
const KNOWN = new Set([...Object.keys(TRAINING_DEFAULTS), 'eval_strategy', 'eval_steps', 'max_memory', 'output_dir', ...NO_EFFECT]);

/** The fields `new TrainingArguments` takes: transformers' names (see TrainingArgumentsFields) and output_dir. */
export type TrainingArgumentsOptions = Partial<Args> & { output_dir?: string | null } & { [noEffect: string]: unknown };

/** transformers' TrainingArguments: its names and defaults, validated on construction; unknown names are refused. */
export class TrainingArguments {
  /** Checkpoints go to output_dir/checkpoint-<step>; without one, nothing is saved during training. */
  readonly output_dir: string | null;
  readonly args: Readonly<Args>;

  constructor(opts: TrainingArgumentsOptions = {}) {
    const unknown = Object.keys(opts).filter((k) => !KNOWN.has(k));
    if (unknown.length > 0) throw new OptionError(`is not a TrainingArguments field softprompt knows (known: ${[...KNOWN].sort().join(', ')})`, unknown[0]);
    const { output_dir = null, ...rest } = opts;
    const given = Object.fromEntries(Object.entries(rest).filter(([k]) => !NO_EFFECT.includes(k))) as Partial<Args>;
    this.output_dir = output_dir;
    this.args = trainingArguments(given);
  }
}

/** A collated batch: padded input_ids, attention_mask, and labels with -100 on padding. */
export interface PaddedFeatures extends ForwardBatch {
  attention_mask: number[][];
  labels: number[][];
}

/**
 * A tokenized example: a row with `input_ids` (one list, or the one-row list a tokenizer call returns), or the ids.
 * With TRL's `completion_mask` (1 on completion tokens; see `tokenize_prompt_completion`) only the completion is
 * labelled: completion_only_loss. Multitask prompt tuning reads each row's task from `task_ids` (PEFT's name) or
 * `task_id`.
 */
export type Features =
  | { input_ids: number[] | number[][]; completion_mask?: number[] | number[][]; task_ids?: number | number[]; task_id?: number }
  | number[];

export interface DataCollatorForLanguageModeling {
  (features: Features[]): PaddedFeatures;
}

/**
 * Pads a list of examples to the longest (on the tokenizer's padding side) and sets labels = input_ids with pad ids
 * set to -100. A tokenizer without a pad token pads with its EOS, as the CLI does.
 */
export class DataCollatorForLanguageModeling extends Callable<[Features[]], PaddedFeatures> {
  private readonly collate: (examples: Example[]) => ForwardBatch;

  constructor(opts: { tokenizer: PreTrainedTokenizer; mlm?: boolean }) {
    super();
    if (opts.mlm !== false) throw new UnsupportedError('masked language modelling is for encoder models; pass mlm: false', 'mlm');
    const { tokenizer } = opts;
    const pad = tokenizer.pad_token_id ?? tokenizer.eos_token_id;
    if (pad === null) throw new OptionError('the tokenizer has neither a pad nor an EOS token; set tokenizer.pad_token_id', 'tokenizer');
    this.collate = dataCollatorForLanguageModeling({ pad_token_id: pad, padding_side: tokenizer.padding_side });
  }

  protected _call(features: Features[]): PaddedFeatures {
    const batch = this.collate(features.map(exampleOf)) as PaddedFeatures;
    // As transformers' tokenizer.pad, other columns pass through: multitask prompt tuning's task per row.
    const tasks = taskIds(features, 'features');
    if (tasks) batch.task_ids = tasks;
    return batch;
  }

  /** @internal The engine-level collator over plain id lists. */
  get examples(): (examples: Example[]) => ForwardBatch {
    return this.collate;
  }
}

/** What `new Trainer` takes, as transformers' Trainer. */
export interface TrainerOptions {
  /** A PeftModel from get_peft_model (or loaded with is_trainable): its active soft prompt is trained in place. */
  model: PeftModel;
  args: TrainingArguments;
  train_dataset: Dataset | Features[];
  eval_dataset?: Dataset | Features[];
  data_collator: DataCollatorForLanguageModeling;
  /** on_log, on_step_end, on_save, ... (softprompt's callback names follow HF's TrainerCallback events). */
  callbacks?: TrainerCallbacks;
}

/** What `train()` returns, as transformers' TrainOutput. */
export interface TrainOutput {
  global_step: number;
  training_loss: number;
  metrics: Record<string, number>;
}

/** transformers' Trainer for a PeftModel's active soft prompt. */
export class Trainer {
  readonly model: PeftModel;
  readonly args: TrainingArguments;
  private readonly loop: Loop;

  constructor(opts: TrainerOptions) {
    if (!opts.model.is_trainable) {
      throw new OptionError(`adapter "${opts.model.active_adapter}" was loaded for inference; load it with is_trainable: true to train it`, 'model');
    }
    this.model = opts.model;
    this.args = opts.args;
    const dir = opts.args.output_dir;
    this.loop = new Loop({
      model: opts.model.peft,
      args: opts.args.args,
      train_dataset: [...opts.train_dataset].map(exampleOf),
      eval_dataset: opts.eval_dataset && [...opts.eval_dataset].map(exampleOf),
      train_task_ids: taskIds([...opts.train_dataset], 'train_dataset'),
      eval_task_ids: opts.eval_dataset && taskIds([...opts.eval_dataset], 'eval_dataset'),
      data_collator: opts.data_collator.examples,
      checkpoints: dir === null ? undefined : new DirectoryCheckpointStore(dir),
      callbacks: opts.callbacks,
    });
  }

  /** Trains the active prompt; `resume_from_checkpoint`: true for output_dir's latest checkpoint, or a checkpoint name. */
  async train(opts: { resume_from_checkpoint?: string | boolean } = {}): Promise<TrainOutput> {
    const { global_step, training_loss, metrics } = await this.loop.train(opts);
    return { global_step, training_loss, metrics };
  }

  /** eval_loss (and eval_perplexity) of the current prompt on eval_dataset. */
  evaluate(): Promise<Record<string, number>> {
    return this.loop.evaluate();
  }

  /** Step, epoch and log_history of the run so far (null before train()). */
  get state(): Readonly<TrainerState> | null {
    return this.loop.state;
  }

  /** The adapter, as PEFT's save_pretrained writes it (default: output_dir). */
  async save_model(dir: string | null = this.args.output_dir): Promise<void> {
    if (dir === null) throw new OptionError('no directory given and no output_dir set', 'output_dir');
    await this.model.save_pretrained(dir);
  }
}

/**
 * Multitask prompt tuning's task per example, from a `task_ids` (as PEFT's examples name it) or `task_id` column;
 * undefined when no example has one.
 */
function taskIds(examples: Array<Features | Record<string, unknown>>, field: string): number[] | undefined {
  const of = (e: Features | Record<string, unknown>) => (Array.isArray(e) ? undefined : (e as Record<string, unknown>).task_ids ?? (e as Record<string, unknown>).task_id);
  if (examples.every((e) => of(e) === undefined)) return undefined;
  return examples.map((e, i) => {
    const v = of(e);
    const id = Array.isArray(v) && v.length === 1 ? v[0] : v;
    if (!Number.isSafeInteger(id) || (id as number) < 0) throw new OptionError(`example ${i} has task id ${JSON.stringify(v)}; expected an integer >= 0 in every example`, field);
    return id as number;
  });
}

function exampleOf(example: Features | Record<string, unknown>): Example {
  const ids = oneRow(Array.isArray(example) ? example : example?.input_ids);
  if (!Array.isArray(ids) || !ids.every((id) => Number.isSafeInteger(id))) {
    throw new OptionError('expected each example to have input_ids, a list of token ids (tokenize the dataset with map first)', 'train_dataset');
  }
  const mask = Array.isArray(example) ? undefined : oneRow(example?.completion_mask);
  if (mask === undefined) return ids as number[];
  if (!Array.isArray(mask) || mask.length !== ids.length || !mask.every((m) => m === 0 || m === 1)) {
    throw new OptionError('expected completion_mask to be 0s and 1s, one per input id', 'completion_mask');
  }
  return { input_ids: ids as number[], completion_mask: mask as number[] };
}

/** A list, or the one-row list of lists a tokenizer call returns, as one list. */
function oneRow(value: unknown): unknown {
  return Array.isArray(value) && value.length === 1 && Array.isArray(value[0]) ? value[0] : value;
}
