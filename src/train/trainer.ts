/**
 * The training loop of transformers' Trainer (4.40) for one flat trainable array (a TrainableModel: the soft prompt,
 * or every weight):
 * - steps as trainingPlan() (steps.ts) counts them;
 * - each micro-batch's gradient and loss are divided by gradient_accumulation_steps and summed, so a step's loss and
 *   gradient are the mean over its micro-batches; the accumulation counter runs across epochs as in 4.40, and an epoch
 *   shorter than one accumulation ends with a step;
 * - a step: clip the gradient norm (max_grad_norm), AdamW at the scheduled lr, then advance the schedule;
 * - a NaN/inf loss, gradient norm or updated parameter stops the run with a DivergenceError (where HF would filter the
 *   loss with logging_nan_inf_filter and go on training NaNs): that step is never checkpointed, so the last
 *   checkpoint written is the last good one;
 * - logging every logging_steps: mean step loss since the last log, grad_norm before clipping, the lr of the next
 *   step, plus tokens/s;
 * - evaluation: eval_loss is the mean over examples of their batch's loss (HF repeats each batch loss per example),
 *   eval_perplexity = exp(eval_loss) as run_clm.py reports it;
 * - train_loss in the summary: the sum of step losses / global_step.
 */
import { DivergenceError, FormatError, OptionError, ShapeError } from '../errors.js';
import { Fingerprint } from '../random.js';
import { exampleIds, type Collator, type Example } from '../data/collator.js';
import { Generator } from '../random.js';
import { AdamW, clipGradNorm, gradNorm } from './adamw.js';
import { trainingArguments, type TrainingArguments } from './args.js';
import { findExecutableBatchSize } from './batch-size.js';
import {
  checkpointFiles, checkpointName, lastCheckpoint, parseCheckpoint, OPTIMIZER,
  type Checkpoint, type CheckpointStore, type LogEntry, type RunFingerprint, type TrainerState,
} from './checkpoint.js';
import { heldOutLoss } from './evaluate.js';
import { lrLambda, warmupSteps } from './schedule.js';
import { addMicroBatchGrad, addStepLosses, round4, trainingLoss, trainingPlan } from './steps.js';
import type { TrainableModel } from './trainable.js';
import { batchSizeForBudget } from '../models/memory.js';

/** Events of a training run, named as transformers' TrainerCallback methods. */
export interface TrainerCallbacks {
  /** Before the first step, with the state (a resumed run's) and the number of training examples. */
  on_train_begin?(state: Readonly<TrainerState>, num_examples: number): void;
  /** After each optimizer step, with the loss of its last micro-batch. */
  on_step_end?(state: Readonly<TrainerState>, loss: number): void;
  /** Each log_history entry as it is logged. */
  on_log?(entry: LogEntry): void;
  /** After a checkpoint is written, with its name (checkpoint-<step>). */
  on_save?(name: string): void;
  /** auto_find_batch_size is starting over with a smaller batch. */
  on_batch_size_retry?(from: number, to: number, cause: Error): void;
}

export interface TrainerOptions {
  /** A PeftModel (its active prompt is trained in place) or a FullFineTuning (every weight). */
  model: TrainableModel;
  args?: Partial<TrainingArguments>;
  /** Token ids per example (already truncated to max_length), with a completion_mask for completion-only loss. */
  train_dataset: Example[];
  eval_dataset?: Example[];
  /** Multitask prompt tuning: each training example's task id (the batches' `task_ids`). */
  train_task_ids?: number[];
  eval_task_ids?: number[];
  data_collator: Collator;
  /** Where checkpoints go; without one nothing is saved. */
  checkpoints?: CheckpointStore;
  callbacks?: TrainerCallbacks;
  /** Milliseconds, for runtimes and tokens/s. */
  now?: () => number;
}

export interface TrainOptions {
  /** A checkpoint name in the store, or true for the latest one. */
  resume_from_checkpoint?: string | boolean;
  /** Stops after the current micro-batch: the partial step is dropped and the last completed one is checkpointed. */
  signal?: AbortSignal;
}

export interface TrainOutput {
  global_step: number;
  training_loss: number;
  metrics: Record<string, number>;
  interrupted: boolean;
  /** The checkpoint that holds the run's last step, if one was written. */
  checkpoint: string | null;
}

/** A checkpoint to resume from: the trainer's part and the parameters the model read back from its own files. */
interface Resume extends Checkpoint {
  parameters: Float32Array;
}

/** What one run of the loop (one batch size) carries from micro-batch to micro-batch. */
interface Run {
  state: TrainerState;
  batchSize: number;
  maxSteps: number;
  numEpochs: number;
  schedule: (step: number) => number;
  evalStrategy: 'no' | 'steps' | 'epoch';
  parameters: Float32Array;
  optimizer: AdamW;
  generator: Generator;
  /** The unfinished step: its summed gradient and its micro-batches' losses, dropped if the run is interrupted. */
  grad: Float32Array;
  losses: number[];
  tokensSinceLog: number;
  tokensTotal: number;
  lastLogTime: number;
  startTime: number;
}

/** Where a step leaves the run in its epoch, for an exact resume. */
type StepPosition = Pick<TrainerState, 'epoch' | 'epoch_index' | 'micro_batches_in_epoch' | 'rng_state'>;

export class Trainer {
  readonly args: TrainingArguments;
  state: TrainerState | null = null;
  private readonly now: () => number;
  private lastCheckpointSaved: string | null = null;
  /** The checkpoint this run resumed from, the last good one until the run saves another. */
  private resumedFrom: string | null = null;
  private lastEval: { step: number; metrics: Record<string, number> } | null = null;

  constructor(private readonly opts: TrainerOptions) {
    this.args = trainingArguments(opts.args);
    this.now = opts.now ?? (() => Date.now());
    if (opts.train_dataset.length === 0) throw new ShapeError('the training set is empty', 'train_dataset');
    if (opts.eval_dataset?.length === 0) throw new ShapeError('the evaluation set is empty', 'eval_dataset');
    for (const [ids, data, field] of [[opts.train_task_ids, opts.train_dataset, 'train_task_ids'], [opts.eval_task_ids, opts.eval_dataset, 'eval_task_ids']] as const) {
      if (ids && ids.length !== data?.length) throw new ShapeError(`has ${ids.length} task ids for ${data?.length ?? 0} examples; expected one per example`, field);
    }
    this.checkSizes();
  }

  /**
   * Before any allocation: the longest example (with the prompt) must fit the model's positions, and one row of it a
   * step within max_memory, so an oversized example is a clear error instead of a RangeError or a length^2 bias.
   */
  private checkSizes(): void {
    const { model, train_dataset, eval_dataset } = this.opts;
    let longest = 0;
    for (const e of [...train_dataset, ...(eval_dataset ?? [])]) longest = Math.max(longest, exampleIds(e).length);
    model.checkSequenceLength?.(longest);
    const budget = this.args.max_memory;
    const bytes = model.stepBytes?.call(model, 1, longest);
    if (budget !== undefined && bytes !== undefined && bytes > budget) {
      const gb = (x: number) => `${(x / 1e9).toFixed(2)} GB`;
      throw new ShapeError(
        `the longest example (${longest} tokens) needs about ${gb(bytes)} for one training step, more than max_memory ${gb(budget)} (truncate examples with max_length)`,
        'train_dataset',
      );
    }
  }

  async train(train: TrainOptions = {}): Promise<TrainOutput> {
    if (this.args.save_strategy !== 'no') await this.opts.checkpoints?.prepare?.();
    const resume = await this.loadResume(train.resume_from_checkpoint);
    const parameters = this.opts.model.parameters();
    const initial = Float32Array.from(parameters);
    let start = resume?.state.train_batch_size ?? this.args.per_device_train_batch_size;
    if (!this.args.auto_find_batch_size) return this.innerLoop(start, resume, train.signal);
    start = this.batchSizeForMemory(start);
    return findExecutableBatchSize(
      start,
      (batchSize) => {
        // A retry starts the run over, as HF's does: the parameters as given (or as the checkpoint holds them).
        parameters.set(resume?.parameters ?? initial);
        return this.innerLoop(batchSize, resume, train.signal);
      },
      this.opts.callbacks?.on_batch_size_retry,
    );
  }

  /** The largest halving of `start` whose estimated step fits max_memory (longest example, padded, with its prompt). */
  private batchSizeForMemory(start: number): number {
    const { max_memory } = this.args;
    const estimate = this.opts.model.stepBytes;
    if (max_memory === undefined || !estimate) return start;
    const seq = Math.max(...this.opts.train_dataset.map((e) => exampleIds(e).length));
    const bytes = (batch: number) => estimate.call(this.opts.model, batch, seq);
    const chosen = batchSizeForBudget(start, (batch) => bytes(batch) <= max_memory);
    if (chosen < start) {
      const gb = (x: number) => `${(x / 1e9).toFixed(2)} GB`;
      const cause = new Error(`a step at batch size ${start} needs about ${gb(bytes(start))}; max_memory is ${gb(max_memory)}`);
      this.opts.callbacks?.on_batch_size_retry?.(start, chosen, cause);
    }
    return chosen;
  }

  private async loadResume(from: string | boolean | undefined): Promise<Resume | null> {
    if (from === undefined || from === false) return null;
    const store = this.opts.checkpoints;
    if (!store) throw new ShapeError('resuming needs a checkpoint store', 'resume_from_checkpoint');
    const name = from === true ? lastCheckpoint(await store.list()) : from;
    if (name === null) return null;
    this.resumedFrom = name;
    const where = store.describe(name);
    const files = await store.read(name);
    const checkpoint = parseCheckpoint(files, where);
    this.checkSameRun(checkpoint.state.run, where);
    const parameters = this.opts.model.parametersFrom(files, where);
    const size = this.opts.model.parameters().length;
    if (parameters.length !== size) throw new ShapeError(`holds ${parameters.length} parameters; this run trains ${size}`, where);
    const moments = checkpoint.optimizer.exp_avg.length;
    if (moments !== size) throw new FormatError(`holds moments for ${moments} parameters; this run trains ${size}`, `${where}/${OPTIMIZER}`);
    return { ...checkpoint, parameters };
  }

  /** What this run trains, for its checkpoints: the model's fingerprints and the training data's. */
  private runFingerprint(): RunFingerprint {
    const data = new Fingerprint();
    for (const example of this.opts.train_dataset) {
      const ids = exampleIds(example);
      data.number(ids.length);
      for (const id of ids) data.number(id);
      // Which tokens carry the loss is part of the data too.
      if (!Array.isArray(example)) for (const m of example.completion_mask) data.number(m);
    }
    // And so is each example's task (multitask prompt tuning).
    if (this.opts.train_task_ids) {
      data.string('task_ids');
      for (const t of this.opts.train_task_ids) data.number(t);
    }
    return { ...this.opts.model.fingerprint?.(), data: data.digest() };
  }

  /** A checkpoint from a run on another model, adapter config or data is refused, naming which differs. */
  private checkSameRun(saved: RunFingerprint | undefined, where: string): void {
    if (!saved) return;
    const current = this.runFingerprint();
    const names = { model: "model (its config.json)", adapter_config: 'adapter config', data: 'training data' } as const;
    const differ = (Object.keys(names) as Array<keyof RunFingerprint>).filter((k) => saved[k] !== undefined && current[k] !== undefined && saved[k] !== current[k]);
    if (differ.length > 0) {
      throw new OptionError(
        `was written by a run with a different ${differ.map((k) => names[k]).join(', ')}; resume with the same ones, or train into another output_dir`,
        where,
      );
    }
  }

  private async innerLoop(batchSize: number, resume: Resume | null, signal?: AbortSignal): Promise<TrainOutput> {
    const run = this.beginRun(batchSize, resume);
    const { state } = run;
    for (let epoch = state.epoch_index; epoch < run.numEpochs && state.global_step < run.maxSteps; epoch++) {
      const skip = resume && epoch === resume.state.epoch_index ? resume.state.micro_batches_in_epoch : 0;
      if (!(await this.trainEpoch(run, epoch, skip, signal))) return this.endInterrupted(run);
      if (run.evalStrategy === 'epoch') await this.evaluate();
      if (this.args.save_strategy === 'epoch') await this.save(run.optimizer);
    }
    return this.end(run);
  }

  /** A fresh state and optimizer, or the checkpoint's (copied: an auto_find_batch_size retry starts from it again). */
  private beginRun(batchSize: number, resume: Resume | null): Run {
    const { args, opts } = this;
    this.lastCheckpointSaved = null;
    this.lastEval = null;
    const { maxSteps, numEpochs } = trainingPlan(opts.train_dataset.length, batchSize, args);
    const every = (x: number) => (x < 1 ? Math.ceil(maxSteps * x) : x);
    const parameters = opts.model.parameters();
    const optimizer = new AdamW(parameters.length, {
      betas: [args.adam_beta1, args.adam_beta2], eps: args.adam_epsilon, weight_decay: args.weight_decay,
    });
    let generator = Generator.seeded(args.seed);
    const state: TrainerState = {
      global_step: 0, epoch: 0, max_steps: maxSteps, num_train_epochs: numEpochs, train_batch_size: batchSize,
      logging_steps: every(args.logging_steps), eval_steps: every(args.eval_steps ?? args.logging_steps),
      save_steps: every(args.save_steps), log_history: [], epoch_index: 0, micro_batches_in_epoch: 0,
      total_micro_batches: 0, rng_state: generator.state(), total_loss: 0, loss_since_log: 0, last_logged_step: 0,
      run: this.runFingerprint(),
    };
    if (resume) {
      parameters.set(resume.parameters);
      optimizer.state = structuredClone(resume.optimizer);
      Object.assign(state, structuredClone(resume.state), { max_steps: maxSteps, num_train_epochs: numEpochs, train_batch_size: batchSize, run: state.run });
      generator = Generator.fromState(state.rng_state);
    }
    this.state = state;
    opts.callbacks?.on_train_begin?.(state, opts.train_dataset.length);
    const startTime = this.now();
    return {
      state, batchSize, maxSteps, numEpochs,
      schedule: lrLambda(args.lr_scheduler_type, warmupSteps(maxSteps, args.warmup_steps, args.warmup_ratio), maxSteps),
      evalStrategy: args.eval_strategy ?? (args.eval_steps !== undefined ? 'steps' : opts.eval_dataset ? 'epoch' : 'no'),
      parameters, optimizer, generator, grad: new Float32Array(parameters.length), losses: [],
      tokensSinceLog: 0, tokensTotal: 0, lastLogTime: startTime, startTime,
    };
  }

  /** The epoch's micro-batches from `skip` on, with a step after every accumulation of them; false if interrupted. */
  private async trainEpoch(run: Run, epoch: number, skip: number, signal?: AbortSignal): Promise<boolean> {
    const data = this.opts.train_dataset;
    const accumulation = this.args.gradient_accumulation_steps;
    const rng_state = run.generator.state();
    const order = run.generator.permutation(data.length);
    const batches = Array.from({ length: Math.ceil(data.length / run.batchSize) }, (_, b) => order.slice(b * run.batchSize, (b + 1) * run.batchSize));
    for (let i = skip; i < batches.length; i++) {
      if (signal?.aborted) return false;
      await this.accumulate(run, batches[i].map((j) => data[j]), this.opts.train_task_ids && batches[i].map((j) => this.opts.train_task_ids![j]));
      const micro = run.state.total_micro_batches + run.losses.length;
      const lastOfShortEpoch = batches.length <= accumulation && i === batches.length - 1;
      if (micro % accumulation !== 0 && !lastOfShortEpoch) continue;
      await this.step(run, { epoch: epoch + (i + 1) / batches.length, epoch_index: epoch, micro_batches_in_epoch: i + 1, rng_state });
      if (run.state.global_step >= run.maxSteps) break;
    }
    return true;
  }

  /** One micro-batch: its gradient / gradient_accumulation_steps joins the step's, its loss waits for the step. */
  private async accumulate(run: Run, examples: Example[], taskIds?: number[]): Promise<void> {
    const batch = this.opts.data_collator(examples);
    if (taskIds) batch.task_ids = taskIds;
    const out = await this.opts.model.forward(batch, { grad: true, logits: false });
    if (!Number.isFinite(out.loss)) throw this.diverged(run, `the loss is ${out.loss}`);
    addMicroBatchGrad(run.grad, out.grad as Float32Array, this.args.gradient_accumulation_steps);
    run.losses.push(out.loss!);
    const tokens = (batch.attention_mask ?? batch.input_ids.map((row) => row.map(() => 1))).flat().reduce((a, b) => a + b, 0);
    run.tokensSinceLog += tokens;
    run.tokensTotal += tokens;
  }

  /** Clip, AdamW at the scheduled lr, then log, evaluate and save as their strategies say. */
  private async step(run: Run, position: StepPosition): Promise<void> {
    const { args } = this;
    const { state } = run;
    const norm = args.max_grad_norm > 0 ? clipGradNorm(run.grad, args.max_grad_norm) : gradNorm(run.grad);
    if (!Number.isFinite(norm)) throw this.diverged(run, `the gradient norm is ${norm}`);
    run.optimizer.step(run.parameters, run.grad, args.learning_rate * run.schedule(state.global_step));
    const bad = firstNonFinite(run.parameters);
    if (bad >= 0) throw this.diverged(run, `the update made parameter ${bad} ${run.parameters[bad]} (not finite)`);
    run.grad.fill(0);
    const losses = run.losses.splice(0);
    Object.assign(state, position, {
      loss_since_log: addStepLosses(state, losses, args.gradient_accumulation_steps),
      global_step: state.global_step + 1,
      total_micro_batches: state.total_micro_batches + losses.length,
    });
    this.opts.callbacks?.on_step_end?.(state, losses[losses.length - 1]);

    const step = state.global_step;
    if ((step === 1 && args.logging_first_step) || step % state.logging_steps === 0) this.logStep(run, norm);
    if (run.evalStrategy === 'steps' && step % state.eval_steps === 0) await this.evaluate();
    if (args.save_strategy !== 'no' && (step % state.save_steps === 0 || step >= run.maxSteps)) await this.save(run.optimizer);
  }

  /** The mean step loss since the last log, the norm before clipping, the next step's lr and tokens/s since the last log. */
  private logStep(run: Run, grad_norm: number): void {
    const { state } = run;
    const step = state.global_step;
    const now = this.now();
    this.log({
      loss: round4(state.loss_since_log / (step - state.last_logged_step)),
      grad_norm,
      learning_rate: this.args.learning_rate * run.schedule(step),
      tokens_per_second: run.tokensSinceLog / Math.max((now - run.lastLogTime) / 1000, 1e-9),
    });
    state.total_loss += state.loss_since_log;
    state.loss_since_log = 0;
    state.last_logged_step = step;
    run.tokensSinceLog = 0;
    run.lastLogTime = now;
  }

  /** The error that stops a diverged run: which step, what went non-finite, and where the last good state is. */
  private diverged(run: Run, what: string): DivergenceError {
    const last = this.lastCheckpointSaved ?? this.resumedFrom;
    const kept = last && this.opts.checkpoints
      ? `the last good checkpoint is ${this.opts.checkpoints.describe(last)}`
      : 'no checkpoint was written';
    return new DivergenceError(
      `${what}: training diverged (try a lower learning_rate, or max_grad_norm > 0); nothing of this step was saved, ${kept}`,
      `step ${run.state.global_step + 1}`,
    );
  }

  /** The unfinished step's micro-batches are dropped: the state and checkpoint describe the last finished step. */
  private async endInterrupted(run: Run): Promise<TrainOutput> {
    const { state } = run;
    if (state.global_step > 0) await this.save(run.optimizer);
    return { global_step: state.global_step, training_loss: trainingLoss(state), metrics: {}, interrupted: true, checkpoint: this.lastCheckpointSaved };
  }

  /** The summary HF logs at the end of train(), plus the final evaluation's metrics. */
  private async end(run: Run): Promise<TrainOutput> {
    const { args, opts } = this;
    const { state } = run;
    const runtime = (this.now() - run.startTime) / 1000;
    const samples = args.max_steps > 0
      ? run.maxSteps * run.batchSize * args.gradient_accumulation_steps
      : opts.train_dataset.length * args.num_train_epochs;
    const training_loss = trainingLoss(state);
    // A resumed run that had already finished takes no step in ~0 s: its rates are 0, not 0/0.
    const rate = (count: number) => (count > 0 && runtime > 0 ? count / runtime : 0);
    const metrics: Record<string, number> = {
      train_runtime: runtime,
      train_samples_per_second: rate(samples),
      train_steps_per_second: rate(state.global_step),
      train_tokens_per_second: rate(run.tokensTotal),
      train_loss: training_loss,
      epoch: state.epoch,
    };
    state.log_history.push({ ...metrics, step: state.global_step });
    if (opts.eval_dataset) Object.assign(metrics, await this.finalEvaluation(state.global_step));
    return { global_step: state.global_step, training_loss, metrics, interrupted: false, checkpoint: this.lastCheckpointSaved };
  }

  /** Loss and perplexity of the current parameters on eval_dataset, logged like HF's evaluate(). */
  async evaluate(): Promise<Record<string, number>> {
    const data = this.opts.eval_dataset;
    if (!data) throw new ShapeError('no evaluation set was given', 'eval_dataset');
    const start = this.now();
    const eval_loss = await heldOutLoss(this.opts.model, data, this.opts.data_collator, this.args.per_device_eval_batch_size, this.opts.eval_task_ids);
    const metrics = { eval_loss, eval_perplexity: Math.exp(eval_loss), eval_runtime: (this.now() - start) / 1000 };
    if (this.state) {
      this.log(metrics);
      this.lastEval = { step: this.state.global_step, metrics };
    }
    return metrics;
  }

  /** The summary's eval metrics: the evaluation of the last step if the loop just ran one, else a new one. */
  private async finalEvaluation(step: number): Promise<Record<string, number>> {
    return this.lastEval?.step === step ? this.lastEval.metrics : this.evaluate();
  }

  private log(entry: LogEntry): void {
    const state = this.state!;
    const full = { ...entry, epoch: state.epoch, step: state.global_step };
    state.log_history.push(full);
    this.opts.callbacks?.on_log?.(full);
  }

  private async save(optimizer: AdamW): Promise<void> {
    const store = this.opts.checkpoints;
    if (!store) return;
    const state = this.state!;
    const name = checkpointName(state.global_step);
    if (name === this.lastCheckpointSaved) return;
    await store.write(name, checkpointFiles(await this.opts.model.checkpointFiles(), { optimizer: optimizer.state, state }));
    this.lastCheckpointSaved = name;
    this.opts.callbacks?.on_save?.(name);
  }
}

/** The index of the first NaN or infinite value, or -1. */
function firstNonFinite(values: Float32Array): number {
  for (let i = 0; i < values.length; i++) if (values[i] - values[i] !== 0) return i;
  return -1;
}
