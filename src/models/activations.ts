/**
 * MLP activations by the names Hugging Face configs give them (`hidden_act`, `hidden_activation`,
 * `activation_function`). A name softprompt does not implement is refused when the config is read, never replaced.
 */
import { UnsupportedError } from '../errors.js';
import type { Tensor } from '../graph/graph.js';
import { gelu, geluTanh, mul, relu, swiGlu } from '../graph/ops.js';

/** Elementwise activations. gelu_fast is the same tanh formula (0.7978845608 = sqrt(2/pi)); gelu is the exact (erf) one. */
const ACTIVATIONS: Record<string, (x: Tensor) => Tensor> = {
  gelu,
  relu,
  gelu_new: geluTanh,
  gelu_pytorch_tanh: geluTanh,
  gelu_fast: geluTanh,
};

/** Gated MLPs whose activation is fused with the gate product (one op, whose rule keeps fewer tensors). */
const FUSED_GATES: Record<string, (gate: Tensor, up: Tensor) => Tensor> = {
  silu: swiGlu,
  swish: swiGlu,
};

/** `name` as read from `field` of config.json, checked to be one the model can run (`gated`: used as act(gate) * up). */
export function checkActivation(name: string, field: string, source: string, gated: boolean): string {
  const known = [...Object.keys(ACTIVATIONS), ...(gated ? Object.keys(FUSED_GATES) : [])];
  if (!known.includes(name)) {
    throw new UnsupportedError(`${field} is ${JSON.stringify(name)}, which softprompt does not implement (supported here: ${known.join(', ')})`, source);
  }
  return name;
}

export function activation(name: string): (x: Tensor) => Tensor {
  const f = ACTIVATIONS[name];
  if (!f) throw new UnsupportedError(`activation ${JSON.stringify(name)} is not implemented`, 'hidden_act');
  return f;
}

/** act(gate) * up, fused where an op exists for it. */
export function gatedActivation(name: string, gate: Tensor, up: Tensor): Tensor {
  const fused = FUSED_GATES[name];
  return fused ? fused(gate, up) : mul(activation(name)(gate), up);
}
