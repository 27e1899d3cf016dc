/**
 * Training progress for `softprompt train`, on stderr so stdout keeps the summary: on a terminal a bar with the step,
 * loss, learning rate and ETA; otherwise (logs, CI) one plain line per log, evaluation, checkpoint and retry.
 */
import cliProgress from 'cli-progress';
import type { LogEntry } from '../train/checkpoint.js';
import type { TrainerCallbacks } from '../train/trainer.js';

export interface TrainProgress {
  callbacks: TrainerCallbacks;
  stop(): void;
}

export function trainProgress(stream: NodeJS.WriteStream = process.stderr): TrainProgress {
  return stream.isTTY ? barProgress(stream) : lineProgress(stream);
}

function barProgress(stream: NodeJS.WriteStream): TrainProgress {
  const bar = new cliProgress.SingleBar(
    { stream, format: 'train [{bar}] {value}/{total} steps | loss {loss} | lr {lr} | ETA {eta_formatted}', hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  return {
    callbacks: {
      on_train_begin: (state) => bar.start(state.max_steps, state.global_step, { loss: '-', lr: '-' }),
      on_step_end: (state, loss) => bar.update(state.global_step, { loss: loss.toFixed(4) }),
      on_log: (e) => {
        if ('learning_rate' in e) bar.update({ lr: e.learning_rate.toExponential(2) });
      },
      on_batch_size_retry: (from, to, cause) => {
        bar.stop();
        stream.write(retryLine(from, to, cause));
      },
    },
    stop: () => bar.stop(),
  };
}

function lineProgress(stream: NodeJS.WriteStream): TrainProgress {
  let start = Date.now();
  let firstStep = 0;
  let maxSteps = 0;
  const eta = (step: number) => {
    const perStep = (Date.now() - start) / Math.max(step - firstStep, 1);
    return `${Math.round((perStep * (maxSteps - step)) / 1000)}s`;
  };
  const line = (e: LogEntry) => {
    const where = `step ${e.step}/${maxSteps} (epoch ${e.epoch.toFixed(2)})`;
    if ('eval_loss' in e) return `${where}: eval_loss ${e.eval_loss.toFixed(4)}, perplexity ${e.eval_perplexity.toFixed(3)}`;
    const tokens = `${Math.round(e.tokens_per_second)} tokens/s`;
    return `${where}: loss ${e.loss}, lr ${e.learning_rate.toExponential(3)}, grad_norm ${e.grad_norm.toFixed(4)}, ${tokens}, ETA ${eta(e.step)}`;
  };
  return {
    callbacks: {
      on_train_begin: (state, examples) => {
        start = Date.now();
        firstStep = state.global_step;
        maxSteps = state.max_steps;
        const from = state.global_step > 0 ? `, resuming at step ${state.global_step}` : '';
        stream.write(`training on ${examples} examples: ${state.max_steps} steps, batch size ${state.train_batch_size}${from}\n`);
      },
      on_log: (e) => {
        if ('loss' in e || 'eval_loss' in e) stream.write(`${line(e)}\n`);
      },
      on_save: (name) => stream.write(`saved ${name}\n`),
      on_batch_size_retry: (from, to, cause) => stream.write(retryLine(from, to, cause)),
    },
    stop: () => {},
  };
}

function retryLine(from: number, to: number, cause: Error): string {
  return `batch size ${from} does not fit (${cause.message}); using ${to}\n`;
}
