/** HF Trainer's (4.40) arithmetic of steps and losses, as the loop in trainer.ts applies it. */
import type { TrainingArguments } from './args.js';
import type { TrainerState } from './checkpoint.js';

const f32 = Math.fround;

/** The step's gradient += a micro-batch's / gradient_accumulation_steps, in float32 as torch accumulates .grad. */
export function addMicroBatchGrad(sum: Float32Array, grad: Float32Array, accumulation: number): void {
  for (let k = 0; k < sum.length; k++) sum[k] = f32(sum[k] + f32(grad[k] / accumulation));
}

/**
 * The loss since the last log plus a step's micro-batch losses, each divided by gradient_accumulation_steps and added
 * in float32 in order, as HF's tr_loss adds them; a NaN/inf one adds the mean step loss so far instead (HF's
 * logging_nan_inf_filter, whose "so far" includes the step's earlier micro-batches).
 */
export function addStepLosses(state: Readonly<TrainerState>, losses: number[], accumulation: number): number {
  const stepsSinceLog = 1 + state.global_step - state.last_logged_step;
  let sum = state.loss_since_log;
  for (const loss of losses) {
    const part = f32(loss / accumulation);
    sum = f32(sum + (Number.isFinite(part) ? part : f32(sum / stepsSinceLog)));
  }
  return sum;
}

/** train_loss: every step loss, logged or not, over the steps taken. */
export function trainingLoss(state: Readonly<TrainerState>): number {
  return (state.total_loss + state.loss_since_log) / Math.max(state.global_step, 0.001);
}

/**
 * HF's step arithmetic: optimizerStepsPerEpoch (the last batch may be short), max_steps = ceil(num_train_epochs * steps per
 * epoch) unless max_steps > 0 is given, and as many epochs as those steps need.
 */
export function trainingPlan(examples: number, batchSize: number, args: TrainingArguments): { maxSteps: number; numEpochs: number } {
  const stepsPerEpoch = optimizerStepsPerEpoch(examples, batchSize, args.gradient_accumulation_steps);
  if (args.max_steps > 0) return { maxSteps: args.max_steps, numEpochs: Math.ceil(args.max_steps / stepsPerEpoch) };
  return { maxSteps: Math.ceil(args.num_train_epochs * stepsPerEpoch), numEpochs: Math.ceil(args.num_train_epochs) };
}

/** HF's optimizer steps per epoch: floor(ceil(N / batch) / gradient_accumulation_steps), at least 1. */
export function optimizerStepsPerEpoch(examples: number, batchSize: number, gradientAccumulationSteps: number): number {
  return Math.max(Math.floor(Math.ceil(examples / batchSize) / gradientAccumulationSteps), 1);
}

/** Python's round(x, 4) (the logged loss); the two differ only on exact binary ties, which floats almost never hit. */
export function round4(x: number): number {
  return Number(x.toFixed(4));
}
