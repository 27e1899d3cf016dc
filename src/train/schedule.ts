/**
 * Learning-rate schedules as transformers' `get_scheduler` builds them (optimization.py): a multiplier of the base
 * rate as a function of the number of optimizer steps already taken. torch's LambdaLR evaluates it at 0 on creation
 * and after each optimizer step, so optimizer step k (1-based) runs with lr * lambda(k - 1): the first step uses the
 * full rate without warmup and 0 with it.
 */
export type SchedulerType = 'linear' | 'cosine' | 'constant' | 'constant_with_warmup';
export const SCHEDULER_TYPES: readonly SchedulerType[] = ['linear', 'cosine', 'constant', 'constant_with_warmup'];

export function lrLambda(type: SchedulerType, warmupSteps: number, totalSteps: number): (step: number) => number {
  const warmup = (step: number) => step / Math.max(1, warmupSteps);
  switch (type) {
    case 'constant':
      // HF's "constant" ignores warmup; "constant_with_warmup" is the one that ramps.
      return () => 1;
    case 'constant_with_warmup':
      return (step) => (step < warmupSteps ? warmup(step) : 1);
    case 'linear':
      return (step) =>
        step < warmupSteps ? warmup(step) : Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
    case 'cosine':
      return (step) => {
        if (step < warmupSteps) return warmup(step);
        const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
        // num_cycles 0.5: half a cosine wave, from 1 down to 0.
        return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 2 * 0.5 * progress)));
      };
  }
}

/** HF's TrainingArguments.get_warmup_steps: warmup_steps wins; otherwise a ratio of the total, rounded up. */
export function warmupSteps(totalSteps: number, warmup_steps: number, warmup_ratio: number): number {
  return warmup_steps > 0 ? warmup_steps : Math.ceil(totalSteps * warmup_ratio);
}
