/**
 * A tiny dataflow graph: tensors with a static rank and symbolic dims, nodes named after the ONNX op they export to.
 * Nodes are appended in construction order, which is therefore a topological order; autodiff and export rely on it.
 */

export type DType = 'float32' | 'float16' | 'int64' | 'int32' | 'bool';
/** A dimension: a number, a named symbol shared across tensors ('batch', 'seq'), or '?' when unknown. */
export type Dim = number | string;
/** Numbers are ints except the float attributes listed in onnx.ts; `{ tensor }` is a 1-element float tensor. */
export type AttrValue = number | string | number[] | { tensor: number };
export type ConstData = Float32Array | BigInt64Array | Int32Array | Uint8Array;

export class Tensor {
  constructor(
    readonly graph: Graph,
    readonly name: string,
    readonly dtype: DType,
    readonly shape: Dim[],
    readonly producer: Node | null,
  ) {}

  get rank(): number {
    return this.shape.length;
  }
}

export interface Node {
  op: string;
  inputs: Tensor[];
  outputs: Tensor[];
  attrs: Record<string, AttrValue>;
}

export interface OutputSpec {
  dtype: DType;
  shape: Dim[];
}

export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: Tensor[] = [];
  readonly constants = new Map<Tensor, ConstData>();
  private counter = 0;
  /** Input names, so declaring one stays O(1) (a model with 10^5 layers declares ~10^6 of them). */
  private readonly inputNames = new Set<string>();

  input(name: string, dtype: DType, shape: Dim[]): Tensor {
    if (this.inputNames.has(name)) throw new Error(`graph input '${name}' declared twice`);
    const t = new Tensor(this, name, dtype, shape, null);
    this.inputs.push(t);
    this.inputNames.add(name);
    return t;
  }

  constant(data: ConstData, shape: number[]): Tensor {
    const dtype: DType =
      data instanceof Float32Array ? 'float32' : data instanceof BigInt64Array ? 'int64' : data instanceof Int32Array ? 'int32' : 'bool';
    const t = new Tensor(this, this.freshName('const'), dtype, shape, null);
    this.constants.set(t, data);
    return t;
  }

  node(op: string, inputs: Tensor[], attrs: Record<string, AttrValue>, outputs: OutputSpec[]): Tensor[] {
    for (const t of inputs) if (t.graph !== this) throw new Error(`${op}: input ${t.name} belongs to another graph`);
    const node: Node = { op, inputs, outputs: [], attrs };
    node.outputs = outputs.map((o) => new Tensor(this, this.freshName(op), o.dtype, o.shape, node));
    this.nodes.push(node);
    return node.outputs;
  }

  private freshName(prefix: string): string {
    return `${prefix}_${this.counter++}`;
  }
}
