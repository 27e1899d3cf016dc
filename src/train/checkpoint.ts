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

export type LogEntry = Record<string, number>;

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
  const state = parseJson(file(TRAINER_STATE), statePath) as TrainerState;
  const numbers: Array<keyof TrainerState> = [
    'global_step', 'epoch', 'max_steps', 'train_batch_size', 'epoch_index', 'micro_batches_in_epoch',
    'total_micro_batches', 'total_loss', 'loss_since_log', 'last_logged_step',
  ];
  for (const key of numbers) {
    if (typeof state?.[key] !== 'number') throw new FormatError(`"${key}" is missing or not a number`, statePath);
  }
  if (!Array.isArray(state.rng_state) || !Array.isArray(state.log_history)) {
    throw new FormatError('"rng_state" and "log_history" must be lists', statePath);
  }
  return { optimizer: { exp_avg, exp_avg_sq, step }, state };
}

function parseJson(bytes: Uint8Array, where: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new FormatError(`not valid JSON (${(e as Error).message})`, where);
  }
}
