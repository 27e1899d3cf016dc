/**
 * Reverse-mode autodiff as a graph transformation: appends the backward nodes for d(loss)/d(wrt) to the same graph
 * and returns the gradient tensors. Only nodes on a path from some `wrt` to the loss get rules applied, so
 * differentiating w.r.t. the prompt emits no weight gradients.
 */
import type { Node, Tensor } from './graph.js';
import { add, filledLike } from './ops.js';
import { NON_DIFFERENTIABLE, RULES } from './vjp.js';

const FLOAT = new Set(['float32', 'float16']);

export function gradients(loss: Tensor, wrt: Tensor[]): Tensor[] {
  const g = loss.graph;
  const dependsOnWrt = new Set<Tensor>(wrt);
  for (const node of g.nodes) {
    if (NON_DIFFERENTIABLE.has(node.op)) continue;
    if (node.inputs.some((t) => dependsOnWrt.has(t))) for (const o of node.outputs) if (FLOAT.has(o.dtype)) dependsOnWrt.add(o);
  }

  const lossNeeds = new Set<Tensor>([loss]);
  const onPath: Node[] = [];
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const node = g.nodes[i];
    if (!node.outputs.some((o) => lossNeeds.has(o) && dependsOnWrt.has(o))) continue;
    onPath.push(node);
    for (const t of node.inputs) lossNeeds.add(t);
  }

  // A scalar loss is seeded with a constant: seeding through Shape(loss) would make every backward node wait for the
  // whole forward pass, keeping all of its activations alive at once.
  const seed = loss.rank === 0 ? g.constant(Float32Array.of(1), []) : filledLike(loss, 1);
  const pending = new Map<Tensor, Tensor[]>([[loss, [seed]]]);
  const total = (t: Tensor): Tensor | null => {
    const parts = pending.get(t);
    if (!parts) return null;
    const sum = parts.reduce((a, b) => add(a, b));
    pending.set(t, [sum]);
    return sum;
  };

  for (const node of onPath) {
    const outGrads = node.outputs.map(total);
    if (outGrads.every((x) => x === null)) continue;
    const rule = RULES[node.op];
    if (!rule) throw new Error(`no gradient rule for op ${node.op}`);
    const need = node.inputs.map((t) => dependsOnWrt.has(t) && lossNeeds.has(t));
    const inGrads = rule(node, outGrads, need);
    node.inputs.forEach((t, i) => {
      const gi = inGrads[i];
      if (!need[i] || !gi) return;
      const list = pending.get(t);
      if (list) list.push(gi);
      else pending.set(t, [gi]);
    });
  }
  return wrt.map((w) => total(w) ?? filledLike(w, 0));
}
