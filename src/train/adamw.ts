/**
 * torch.optim.AdamW (torch 1.13, the single-tensor path the HF Trainer runs on CPU): decoupled weight decay first,
 * then the moment updates, bias corrections, and eps added to sqrt(v_hat), not to sqrt(v). Parameters and moments are
 * float32 like torch's; each elementwise op rounds to float32 where torch's kernel writes a float32 tensor, and the
 * scalars (lr / bias corrections) are Python floats (double), as in torch.
 */
export interface AdamWOptions {
  betas?: [number, number];
  eps?: number;
  weight_decay?: number;
}

export interface AdamWState {
  exp_avg: Float32Array;
  exp_avg_sq: Float32Array;
  /** Optimizer steps taken. */
  step: number;
}

const f32 = Math.fround;

export class AdamW {
  readonly betas: [number, number];
  readonly eps: number;
  readonly weight_decay: number;
  state: AdamWState;

  constructor(size: number, opts: AdamWOptions = {}) {
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weight_decay = opts.weight_decay ?? 0;
    this.state = { exp_avg: new Float32Array(size), exp_avg_sq: new Float32Array(size), step: 0 };
  }

  /** One update of `params` in place with gradient `grad` at learning rate `lr`. */
  step(params: Float32Array, grad: Float32Array, lr: number): void {
    const { exp_avg: m, exp_avg_sq: v } = this.state;
    const [beta1, beta2] = this.betas;
    const step = ++this.state.step;
    const decay = f32(1 - lr * this.weight_decay);
    const b1 = f32(beta1);
    const b2 = f32(beta2);
    const oneMinusB1 = f32(1 - beta1);
    const oneMinusB2 = f32(1 - beta2);
    const biasCorrection1 = 1 - beta1 ** step;
    const biasCorrection2Sqrt = f32(Math.sqrt(1 - beta2 ** step));
    const stepSize = f32(-(lr / biasCorrection1));
    const eps = f32(this.eps);
    for (let i = 0; i < params.length; i++) {
      const g = grad[i];
      if (this.weight_decay !== 0) params[i] = f32(params[i] * decay);
      m[i] = f32(f32(m[i] * b1) + f32(oneMinusB1 * g));
      v[i] = f32(f32(v[i] * b2) + f32(oneMinusB2 * f32(g * g)));
      const denom = f32(f32(f32(Math.sqrt(v[i])) / biasCorrection2Sqrt) + eps);
      params[i] = f32(params[i] + f32(stepSize * f32(m[i] / denom)));
    }
  }
}

/**
 * torch.nn.utils.clip_grad_norm_: scales `grad` in place by max_norm / (norm + 1e-6) when that is below 1 and returns
 * the total L2 norm from before clipping (what the Trainer logs as grad_norm).
 */
export function clipGradNorm(grad: Float32Array, maxNorm: number): number {
  const norm = gradNorm(grad);
  const coef = Math.min(f32(maxNorm / f32(norm + 1e-6)), 1);
  for (let i = 0; i < grad.length; i++) grad[i] = f32(grad[i] * coef);
  return norm;
}

/** The total L2 norm of the gradient (summed in double, returned as float32 like torch's norm). */
export function gradNorm(grad: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < grad.length; i++) sum += grad[i] * grad[i];
  return f32(Math.sqrt(sum));
}
