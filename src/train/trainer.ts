/**
 * The training loop of transformers' Trainer (4.40) for one trainable tensor, the soft prompt:
 * - steps as trainingPlan() counts them;
 * - each micro-batch's gradient and loss are divided by gradient_accumulation_steps and summed, so a step's loss and
 *   gradient are the mean over its micro-batches; the accumulation counter runs across epochs as in 4.40, and an epoch
 *   shorter than one accumulation ends with a step;
 * - a step: clip the gradient norm (max_grad_norm), AdamW at the scheduled lr, then advance the schedule;
 * - logging every logging_steps: mean step loss since the last log (a NaN/inf loss counts as that mean, HF's
 *   logging_nan_inf_filter), grad_norm before clipping, the lr of the next step, plus tokens/s;
 * - evaluation: eval_loss is the mean over examples of their batch's loss (HF repeats each batch loss per example),
 *   eval_perplexity = exp(eval_loss) as run_clm.py reports it;
 * - train_loss in the summary: the sum of step losses / global_step.
 */
import { ShapeError } from '../errors.js';
import type { ForwardBatch, ForwardOptions, ForwardResult } from '../models/model.js';
import type { Collator } from '../data/collator.js';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, serializeAdapterConfig, serializeAdapterWeights } from '../peft/adapter.js';
import type { PromptTuningConfig } from '../peft/config.js';
import { Generator } from '../random.js';
import { AdamW, clipGradNorm, gradNorm } from './adamw.js';
import { trainingArguments, type TrainingArguments } from './args.js';
import { findExecutableBatchSize } from './batch-size.js';
import {
  checkpointFiles, checkpointName, lastCheckpoint, parseCheckpoint,
  type Checkpoint, type CheckpointStore, type LogEntry, type TrainerState,
} from './checkpoint.js';
import { lrLambda, warmupSteps } from './schedule.js';
import { batchSizeForBudget } from '../models/memory.js';

/** What the Trainer needs of a PeftModel: a forward pass with its live prompt, which the Trainer updates in place. */
export interface PromptTunedModel {
  forward(batch: ForwardBatch, opts?: Omit<ForwardOptions, 'prompt'>): Promise<ForwardResult>;
  /** [num_virtual_tokens * token_dim], the array forward reads. */
  prompt(): Float32Array;
  adapterConfig(): Readonly<PromptTuningConfig>;
  /** Estimated bytes of a training step on `batch` rows of `seq` tokens (weights included), for max_memory. */
  stepBytes?(batch: number, seq: number): number;
}

export interface TrainerCallbacks {
  on_train_begin?(state: Readonly<TrainerState>, num_examples: number): void;
  /** After each optimizer step, with that step's loss. */
  on_step_end?(state: Readonly<TrainerState>, loss: number): void;
  on_log?(entry: LogEntry): void;
  on_save?(name: string): void;
  /** auto_find_batch_size is starting over with a smaller batch. */
  on_batch_size_retry?(from: number, to: number, cause: Error): void;
}

export interface TrainerOptions {
  /** A PeftModel; its active prompt is trained in place. */
  model: PromptTunedModel;
  args?: Partial<TrainingArguments>;
  /** Token ids per example (already truncated to max_length). */
  train_dataset: number[][];
  eval_dataset?: number[][];
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

const f32 = Math.fround;

export class Trainer {
  readonly args: TrainingArguments;
  state: TrainerState | null = null;
  private readonly now: () => number;
  private lastCheckpointSaved: string | null = null;
  private lastEval: { step: number; metrics: Record<string, number> } | null = null;

  constructor(private readonly opts: TrainerOptions) {
    this.args = trainingArguments(opts.args);
    this.now = opts.now ?? (() => Date.now());
    if (opts.train_dataset.length === 0) throw new ShapeError('the training set is empty', 'train_dataset');
    if (opts.eval_dataset?.length === 0) throw new ShapeError('the evaluation set is empty', 'eval_dataset');
  }

  async train(train: TrainOptions = {}): Promise<TrainOutput> {
    const resume = await this.loadResume(train.resume_from_checkpoint);
    const prompt = this.opts.model.prompt();
    const initial = Float32Array.from(prompt);
    let start = resume?.state.train_batch_size ?? this.args.per_device_train_batch_size;
    if (!this.args.auto_find_batch_size) return this.innerLoop(start, resume, train.signal);
    start = this.batchSizeForMemory(start);
    return findExecutableBatchSize(
      start,
      (batchSize) => {
        // A retry starts the run over, as HF's does: the prompt as it was given (or as the checkpoint holds it).
        prompt.set(resume?.prompt ?? initial);
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
    const seq = Math.max(...this.opts.train_dataset.map((e) => e.length));
    const bytes = (batch: number) => estimate.call(this.opts.model, batch, seq);
    const chosen = batchSizeForBudget(start, (batch) => bytes(batch) <= max_memory);
    if (chosen < start) {
      const gb = (x: number) => `${(x / 1e9).toFixed(2)} GB`;
      const cause = new Error(`a step at batch size ${start} needs about ${gb(bytes(start))}; max_memory is ${gb(max_memory)}`);
      this.opts.callbacks?.on_batch_size_retry?.(start, chosen, cause);
    }
    return chosen;
  }

  private async loadResume(from: string | boolean | undefined): Promise<Checkpoint | null> {
    if (from === undefined || from === false) return null;
    const store = this.opts.checkpoints;
    if (!store) throw new ShapeError('resuming needs a checkpoint store', 'resume_from_checkpoint');
    const name = from === true ? lastCheckpoint(await store.list()) : from;
    if (name === null) return null;
    const checkpoint = parseCheckpoint(await store.read(name), store.describe(name));
    const size = this.opts.model.prompt().length;
    if (checkpoint.prompt.length !== size) {
      throw new ShapeError(`holds a prompt of ${checkpoint.prompt.length} values; this run trains ${size}`, store.describe(name));
    }
    return checkpoint;
  }

  private async innerLoop(batchSize: number, resume: Checkpoint | null, signal?: AbortSignal): Promise<TrainOutput> {
    const { args, opts } = this;
    this.lastCheckpointSaved = null;
    this.lastEval = null;
    const data = opts.train_dataset;
    const accumulation = args.gradient_accumulation_steps;
    const { maxSteps, numEpochs } = trainingPlan(data.length, batchSize, args);
    const every = (x: number) => (x < 1 ? Math.ceil(maxSteps * x) : x);
    const evalStrategy = args.eval_strategy ?? (args.eval_steps !== undefined ? 'steps' : opts.eval_dataset ? 'epoch' : 'no');
    const schedule = lrLambda(args.lr_scheduler_type, warmupSteps(maxSteps, args.warmup_steps, args.warmup_ratio), maxSteps);

    const prompt = opts.model.prompt();
    const optimizer = new AdamW(prompt.length, {
      betas: [args.adam_beta1, args.adam_beta2], eps: args.adam_epsilon, weight_decay: args.weight_decay,
    });
    let generator = Generator.seeded(args.seed);
    const state: TrainerState = {
      global_step: 0, epoch: 0, max_steps: maxSteps, num_train_epochs: numEpochs, train_batch_size: batchSize,
      logging_steps: every(args.logging_steps), eval_steps: every(args.eval_steps ?? args.logging_steps),
      save_steps: every(args.save_steps), log_history: [], epoch_index: 0, micro_batches_in_epoch: 0,
      total_micro_batches: 0, rng_state: generator.state(), total_loss: 0, loss_since_log: 0, last_logged_step: 0,
    };
    if (resume) {
      // Copies: an auto_find_batch_size retry must start again from the checkpoint as it was read.
      prompt.set(resume.prompt);
      optimizer.state = structuredClone(resume.optimizer);
      Object.assign(state, structuredClone(resume.state), { max_steps: maxSteps, num_train_epochs: numEpochs, train_batch_size: batchSize });
      generator = Generator.fromState(state.rng_state);
    }
    this.state = state;
    opts.callbacks?.on_train_begin?.(state, data.length);

    const startTime = this.now();
    const grad = new Float32Array(prompt.length);
    let lossSinceLog = state.loss_since_log;
    let tokensSinceLog = 0;
    let tokensTotal = 0;
    let lastLogTime = startTime;
    let micro = state.total_micro_batches;
    let interrupted = false;

    for (let epoch = state.epoch_index; epoch < numEpochs && !interrupted && state.global_step < maxSteps; epoch++) {
      const epochRng = generator.state();
      const order = generator.permutation(data.length);
      const batches = Array.from({ length: Math.ceil(data.length / batchSize) }, (_, b) => order.slice(b * batchSize, (b + 1) * batchSize));
      const skip = resume && epoch === resume.state.epoch_index ? resume.state.micro_batches_in_epoch : 0;
      for (let i = skip; i < batches.length; i++) {
        if (signal?.aborted) {
          interrupted = true;
          break;
        }
        const batch = opts.data_collator(batches[i].map((j) => data[j]));
        const out = await opts.model.forward(batch, { grad: true, logits: false });
        const g = out.grad as Float32Array;
        for (let k = 0; k < grad.length; k++) grad[k] = f32(grad[k] + f32(g[k] / accumulation));
        const stepLoss = f32(out.loss! / accumulation);
        const stepsSinceLog = 1 + state.global_step - state.last_logged_step;
        lossSinceLog = f32(lossSinceLog + (Number.isFinite(stepLoss) ? stepLoss : f32(lossSinceLog / stepsSinceLog)));
        const tokens = (batch.attention_mask ?? batch.input_ids.map((row) => row.map(() => 1))).flat().reduce((a, b) => a + b, 0);
        tokensSinceLog += tokens;
        tokensTotal += tokens;
        micro++;

        const lastOfShortEpoch = batches.length <= accumulation && i === batches.length - 1;
        if (micro % accumulation !== 0 && !lastOfShortEpoch) continue;

        const norm = args.max_grad_norm > 0 ? clipGradNorm(grad, args.max_grad_norm) : gradNorm(grad);
        optimizer.step(prompt, grad, args.learning_rate * schedule(state.global_step));
        grad.fill(0);
        Object.assign(state, {
          global_step: state.global_step + 1, epoch: epoch + (i + 1) / batches.length, epoch_index: epoch,
          micro_batches_in_epoch: i + 1, total_micro_batches: micro, rng_state: epochRng, loss_since_log: lossSinceLog,
        });
        opts.callbacks?.on_step_end?.(state, out.loss!);

        const step = state.global_step;
        if ((step === 1 && args.logging_first_step) || step % state.logging_steps === 0) {
          const now = this.now();
          this.log({
            loss: round4(lossSinceLog / (step - state.last_logged_step)),
            grad_norm: norm,
            learning_rate: args.learning_rate * schedule(step),
            tokens_per_second: tokensSinceLog / Math.max((now - lastLogTime) / 1000, 1e-9),
          });
          state.total_loss += lossSinceLog;
          state.loss_since_log = lossSinceLog = 0;
          state.last_logged_step = step;
          tokensSinceLog = 0;
          lastLogTime = now;
        }
        if (evalStrategy === 'steps' && step % state.eval_steps === 0) await this.evaluate();
        if (args.save_strategy !== 'no' && (step % state.save_steps === 0 || step >= maxSteps)) await this.save(optimizer);
        if (step >= maxSteps) break;
      }
      if (interrupted) break;
      if (evalStrategy === 'epoch') await this.evaluate();
      if (args.save_strategy === 'epoch') await this.save(optimizer);
    }

    const runtime = (this.now() - startTime) / 1000;
    if (interrupted) {
      // The micro-batches of the unfinished step are dropped: the state still describes the last finished step.
      if (state.global_step > 0) await this.save(optimizer);
      const training_loss = (state.total_loss + state.loss_since_log) / Math.max(state.global_step, 0.001);
      return { global_step: state.global_step, training_loss, metrics: {}, interrupted, checkpoint: this.lastCheckpointSaved };
    }
    const training_loss = (state.total_loss + lossSinceLog) / Math.max(state.global_step, 0.001);
    const metrics: Record<string, number> = {
      train_runtime: runtime,
      train_samples_per_second: (args.max_steps > 0 ? maxSteps * batchSize * accumulation : data.length * args.num_train_epochs) / runtime,
      train_steps_per_second: state.global_step / runtime,
      train_tokens_per_second: tokensTotal / runtime,
      train_loss: training_loss,
      epoch: state.epoch,
    };
    state.log_history.push({ ...metrics, step: state.global_step });
    if (opts.eval_dataset) Object.assign(metrics, await this.finalEvaluation(state.global_step));
    return { global_step: state.global_step, training_loss, metrics, interrupted, checkpoint: this.lastCheckpointSaved };
  }

  /** Loss and perplexity of the current prompt on eval_dataset, logged like HF's evaluate(). */
  async evaluate(): Promise<Record<string, number>> {
    const data = this.opts.eval_dataset;
    if (!data) throw new ShapeError('no evaluation set was given', 'eval_dataset');
    const start = this.now();
    const size = this.args.per_device_eval_batch_size;
    let weighted = 0;
    for (let b = 0; b < data.length; b += size) {
      const examples = data.slice(b, b + size);
      const out = await this.opts.model.forward(this.opts.data_collator(examples), { logits: false });
      weighted += out.loss! * examples.length;
    }
    const eval_loss = weighted / data.length;
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
    const config = this.opts.model.adapterConfig();
    const adapter = {
      [ADAPTER_CONFIG]: serializeAdapterConfig(config),
      [ADAPTER_WEIGHTS]: serializeAdapterWeights(config, this.opts.model.prompt()),
    };
    await store.write(name, checkpointFiles(adapter, { optimizer: optimizer.state, state }));
    this.lastCheckpointSaved = name;
    this.opts.callbacks?.on_save?.(name);
  }
}

/**
 * HF's step arithmetic: ceil(N / batch) micro-batches per epoch (the last batch may be short), floor(that /
 * gradient_accumulation_steps) optimizer steps per epoch but at least 1, max_steps = ceil(num_train_epochs * steps per
 * epoch) unless max_steps > 0 is given, and as many epochs as those steps need.
 */
export function trainingPlan(examples: number, batchSize: number, args: TrainingArguments): { maxSteps: number; numEpochs: number } {
  const stepsPerEpoch = Math.max(Math.floor(Math.ceil(examples / batchSize) / args.gradient_accumulation_steps), 1);
  if (args.max_steps > 0) return { maxSteps: args.max_steps, numEpochs: Math.ceil(args.max_steps / stepsPerEpoch) };
  return { maxSteps: Math.ceil(args.num_train_epochs * stepsPerEpoch), numEpochs: Math.ceil(args.num_train_epochs) };
}

/** Python's round(x, 4) (the logged loss); the two differ only on exact binary ties, which floats almost never hit. */
function round4(x: number): number {
  return Number(x.toFixed(4));
}
