/**
 * Checkpoints, as the HF Trainer lays them out: a directory `checkpoint-<global_step>/` holding
 * - the model's own files (TrainableModel.checkpointFiles(): PEFT's adapter_config.json + adapter_model.safetensors
 *   for prompt tuning, config.json + model.safetensors for full fine-tuning), holding the parameters at that step,
 * - `optimizer.safetensors`: AdamW's `exp_avg` and `exp_avg_sq` (F32, one per parameter) and metadata `step`,
 * - `trainer_state.json`: HF's TrainerState fields plus what an exact resume needs (where in the epoch the run was,
 *   the shuffling generator's state at the start of that epoch, the loss sums).
 * Files go through a CheckpointStore so this module stays platform-neutral; the store writes each checkpoint
 * atomically (all files or none).
 */
import { FormatError, MissingError } from '../errors.js';
import { Safetensors, checkFinite, serializeSafetensors } from '../weights/safetensors.js';
import type { AdamWState } from './adamw.js';

export interface CheckpointStore {
  /** Called before training starts when checkpoints will be written: fail now if they cannot be. */
  prepare?(): Promise<void>;
  /** Writes every file of checkpoint `name` so that it appears complete or not at all (replacing an older one). */
  write(name: string, files: Record<string, Uint8Array | string>): Promise<void>;
  read(name: string): Promise<Record<string, Uint8Array>>;
  /** Names of the checkpoints present. */
  list(): Promise<string[]>;
  /** Where checkpoint `name` lives, for messages. */
  describe(name: string): string;
}

/** One entry of log_history: loss, learning_rate, grad_norm, eval metrics, epoch, step. */
export type LogEntry = Record<string, number>;

/** transformers' TrainerState fields, plus what an exact resume needs. */
export interface TrainerState {
  global_step: number;
  /** Fractional: epochs completed plus the part of the current one. */
  epoch: number;
  max_steps: number;
  num_train_epochs: number;
  train_batch_size: number;
  logging_steps: number;
  eval_steps: number;
  save_steps: number;
  log_history: LogEntry[];
  /** The epoch (0-based) of the last optimizer step and the micro-batches of it consumed by then. */
  epoch_index: number;
  micro_batches_in_epoch: number;
  /** Micro-batches over the whole run: gradient accumulation counts across epoch boundaries, as in HF 4.40. */
  total_micro_batches: number;
  /** The shuffling generator's state when the current epoch's order was drawn. */
  rng_state: number[];
  /** Sum of the logged step losses (HF's _total_loss_scalar) and the part not yet logged. */
  total_loss: number;
  loss_since_log: number;
  last_logged_step: number;
  /**
   * Fingerprints of what the run trains (the model's config, the adapter config, the tokenized data), so a resume
   * with something else is refused; absent in checkpoints written before they were recorded.
   */
  run?: RunFingerprint;
}

/** Hashes naming what a run trains: a resume must match each one that both sides have. */
export interface RunFingerprint {
  model?: string;
  adapter_config?: string;
  data?: string;
}

export const TRAINER_STATE = 'trainer_state.json';
export const OPTIMIZER = 'optimizer.safetensors';
const PREFIX = 'checkpoint-';

export function checkpointName(step: number): string {
  return `${PREFIX}${step}`;
}

/** The checkpoint with the highest step (HF's get_last_checkpoint), or null. */
export function lastCheckpoint(names: string[]): string | null {
  const steps = names.map((n) => (new RegExp(`^${PREFIX}(\\d+)$`).exec(n))?.[1]).filter((s) => s !== undefined).map(Number);
  return steps.length === 0 ? null : checkpointName(Math.max(...steps));
}

/** The trainer's part of a checkpoint; the model reads its own files back (TrainableModel.parametersFrom). */
export interface Checkpoint {
  optimizer: AdamWState;
  state: TrainerState;
}

export function checkpointFiles(model: Record<string, Uint8Array | string>, c: Checkpoint): Record<string, Uint8Array | string> {
  const { exp_avg, exp_avg_sq, step } = c.optimizer;
  const optimizer = serializeSafetensors(
    [
      { name: 'exp_avg', shape: [exp_avg.length], data: exp_avg },
      { name: 'exp_avg_sq', shape: [exp_avg_sq.length], data: exp_avg_sq },
    ],
    { step: String(step) },
  );
  return { ...model, [OPTIMIZER]: optimizer, [TRAINER_STATE]: `${JSON.stringify(c.state, null, 2)}\n` };
}

export function parseCheckpoint(files: Record<string, Uint8Array>, where: string): Checkpoint {
  const file = (name: string) => {
    const bytes = files[name];
    if (!bytes) throw new MissingError(`checkpoint has no ${name}`, where);
    return bytes;
  };
  const optimizerPath = `${where}/${OPTIMIZER}`;
  const optimizer = Safetensors.parse(file(OPTIMIZER), optimizerPath);
  const step = Number(optimizer.metadata.step);
  const exp_avg = Float32Array.from(optimizer.float32('exp_avg'));
  const exp_avg_sq = Float32Array.from(optimizer.float32('exp_avg_sq'));
  if (!Number.isSafeInteger(step) || step < 0) throw new FormatError('metadata "step" is not a step count', optimizerPath);
  checkFinite('exp_avg', exp_avg, 'not a usable checkpoint', optimizerPath);
  checkFinite('exp_avg_sq', exp_avg_sq, 'not a usable checkpoint', optimizerPath);
  if (exp_avg.length !== exp_avg_sq.length) {
    throw new FormatError(`exp_avg has ${exp_avg.length} values but exp_avg_sq ${exp_avg_sq.length}`, optimizerPath);
  }

  const statePath = `${where}/${TRAINER_STATE}`;
  const state = parseTrainerState(parseJson(file(TRAINER_STATE), statePath), statePath);
  if (step !== state.global_step) {
    throw new FormatError(`the optimizer has taken ${step} steps but trainer_state.json says global_step ${state.global_step}`, optimizerPath);
  }
  return { optimizer: { exp_avg, exp_avg_sq, step }, state };
}

/** trainer_state.json checked field by field: counts are non-negative integers that agree, losses finite. */
export function parseTrainerState(json: unknown, path: string): TrainerState {
  const bad = (message: string) => new FormatError(message, path);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad('expected a JSON object');
  const s = json as Record<string, unknown>;
  const count = (key: keyof TrainerState, min = 0) => {
    const v = s[key];
    if (!Number.isSafeInteger(v) || (v as number) < min) throw bad(`"${key}" is ${JSON.stringify(v)}; expected an integer >= ${min}`);
    return v as number;
  };
  const finite = (key: keyof TrainerState, min = -Infinity) => {
    const v = s[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) throw bad(`"${key}" is ${JSON.stringify(v)}; expected a finite number${min > -Infinity ? ` >= ${min}` : ''}`);
    return v;
  };
  const global_step = count('global_step');
  const max_steps = count('max_steps', 1);
  const num_train_epochs = finite('num_train_epochs', 0);
  const epoch = finite('epoch', 0);
  const epoch_index = count('epoch_index');
  if (global_step > max_steps) throw bad(`"global_step" ${global_step} is past "max_steps" ${max_steps}`);
  if (epoch > num_train_epochs + 1 || epoch_index > Math.max(num_train_epochs, epoch)) {
    throw bad(`"epoch" ${epoch} / "epoch_index" ${epoch_index} do not fit "num_train_epochs" ${num_train_epochs}`);
  }
  const last_logged_step = count('last_logged_step');
  if (last_logged_step > global_step) throw bad(`"last_logged_step" ${last_logged_step} is past "global_step" ${global_step}`);
  const total_micro_batches = count('total_micro_batches');
  if (total_micro_batches < global_step) throw bad(`"total_micro_batches" ${total_micro_batches} is fewer than the ${global_step} steps taken`);
  const rng = s.rng_state;
  if (!Array.isArray(rng) || rng.length !== 4 || rng.some((w) => !Number.isInteger(w) || w < 0 || w > 0xffffffff) || rng.every((w) => w === 0)) {
    throw bad(`"rng_state" is ${JSON.stringify(rng)?.slice(0, 80)}; expected 4 unsigned 32-bit integers, not all 0`);
  }
  const log = s.log_history;
  if (!Array.isArray(log) || !log.every((e) => typeof e === 'object' && e !== null && !Array.isArray(e) && Object.values(e).every((v) => typeof v === 'number'))) {
    throw bad('"log_history" must be a list of objects of numbers');
  }
  const run = s.run;
  if (run !== undefined && (typeof run !== 'object' || run === null || Array.isArray(run) || !Object.values(run).every((v) => typeof v === 'string'))) {
    throw bad('"run" must map names to fingerprint strings');
  }
  return {
    global_step, epoch, max_steps, num_train_epochs,
    train_batch_size: count('train_batch_size', 1),
    logging_steps: finite('logging_steps', 0),
    eval_steps: finite('eval_steps', 0),
    save_steps: finite('save_steps', 0),
    log_history: log as LogEntry[],
    epoch_index,
    micro_batches_in_epoch: count('micro_batches_in_epoch'),
    total_micro_batches,
    rng_state: rng as number[],
    total_loss: finite('total_loss'),
    loss_since_log: finite('loss_since_log'),
    last_logged_step,
    ...(run === undefined ? {} : { run: run as RunFingerprint }),
  };
}

function parseJson(bytes: Uint8Array, where: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new FormatError(`not valid JSON (${(e as Error).message})`, where);
  }
}
