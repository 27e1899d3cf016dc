/** Parameter counts as PEFT's get_nb_trainable_parameters / print_trainable_parameters (0.10) report them. */
import type { ModelConfig } from '../models/config.js';
import { architectureWeights } from '../models/graphs.js';
import { pythonFloatRepr } from './python.js';
import { elementCount } from '../shape.js';

export interface ParameterCounts {
  trainable: number;
  /** Base model parameters plus every adapter's prompt. */
  all: number;
  /** 100 * trainable / all */
  percent: number;
}

/**
 * The base model's parameters, as torch's named_parameters() sees them: every weight the architecture declares,
 * tied ones (lm_head = embeddings) once, buffers that checkpoints sometimes carry (GPT-2's attn.bias, Llama's
 * rotary inv_freq) not at all. Counted from the declared shapes, so no weights need loading.
 */
export function countBaseParameters(cfg: ModelConfig): number {
  let total = 0;
  for (const shape of architectureWeights(cfg).values()) total += elementCount(shape);
  return total;
}

export function parameterCounts(trainable: number, all: number): ParameterCounts {
  return { trainable, all, percent: (100 * trainable) / all };
}

/** `trainable params: 4,096 || all params: 559,218,688 || trainable%: 0.0007324504863471229` */
export function formatParameterCounts({ trainable, all, percent }: ParameterCounts): string {
  const grouped = (x: number) => x.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `trainable params: ${grouped(trainable)} || all params: ${grouped(all)} || trainable%: ${pythonFloatRepr(percent)}`;
}
