/**
 * ONNX export: a ModelProto (IR 9, default domain opset 20: Gelu, and reduction axes as inputs) holding only the nodes the requested outputs need.
 * Graph inputs that no kept node reads are dropped too; callers feed a session only the inputs it declares.
 * Symbolic dims become `dimParam`, unknown ones stay unset.
 */
import onnxProto from 'onnx-proto';
import type { AttrValue, Dim, Graph, Node, Tensor } from './graph.js';
import { ONNX_DTYPE, type QuantizedStorage } from './ops.js';

const { onnx } = onnxProto;
const FLOAT_ATTRS = new Set(['epsilon', 'alpha', 'beta']);
const AttrType = onnx.AttributeProto.AttributeType;

function attribute(name: string, value: AttrValue): onnxProto.onnx.IAttributeProto {
  if (typeof value === 'string') return { name, type: AttrType.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: AttrType.INTS, ints: value };
  if (typeof value === 'object') {
    const t = { dims: [1], dataType: ONNX_DTYPE.float32, floatData: [value.tensor] };
    return { name, type: AttrType.TENSOR, t };
  }
  return FLOAT_ATTRS.has(name) ? { name, type: AttrType.FLOAT, f: value } : { name, type: AttrType.INT, i: value };
}

function valueInfo(t: Tensor, name = t.name): onnxProto.onnx.IValueInfoProto {
  const dim = t.shape.map((d: Dim) => (typeof d === 'number' ? { dimValue: d } : d === '?' ? {} : { dimParam: d }));
  return { name, type: { tensorType: { elemType: ONNX_DTYPE[t.dtype], shape: { dim } } } };
}

function rawBytes(data: ArrayBufferView): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** log-sum-exp over the last axis as x[..., 0] - LogSoftmax(x)[..., 0]: exact, and on a vectorised kernel. */
function expandLogSumExp(n: Node, name: string, initializers: onnxProto.onnx.ITensorProto[]): onnxProto.onnx.INodeProto[] {
  const x = n.inputs[0].name;
  const zero = `${name}_zero`;
  initializers.push({ name: zero, dims: [1], dataType: ONNX_DTYPE.int64, rawData: rawBytes(BigInt64Array.of(0n)) });
  const axis = attribute('axis', n.inputs[0].rank - 1);
  return [
    { name: `${name}_logsoftmax`, opType: 'LogSoftmax', input: [x], output: [`${name}_ls`], attribute: [axis] },
    { name: `${name}_x0`, opType: 'Gather', input: [x, zero], output: [`${name}_x0`], attribute: [axis] },
    { name: `${name}_ls0`, opType: 'Gather', input: [`${name}_ls`, zero], output: [`${name}_ls0`], attribute: [axis] },
    { name, opType: 'Sub', input: [`${name}_x0`, `${name}_ls0`], output: [n.outputs[0].name] },
  ];
}

/** silu(gate) * up as Sigmoid, Mul, Mul. */
function expandSwiGlu(n: Node, name: string): onnxProto.onnx.INodeProto[] {
  const [gate, up] = n.inputs.map((t) => t.name);
  return [
    { name: `${name}_sigmoid`, opType: 'Sigmoid', input: [gate], output: [`${name}_s`] },
    { name: `${name}_silu`, opType: 'Mul', input: [gate, `${name}_s`], output: [`${name}_silu`] },
    { name, opType: 'Mul', input: [`${name}_silu`, up], output: [n.outputs[0].name] },
  ];
}

type Expansion = (n: Node, name: string, initializers: onnxProto.onnx.ITensorProto[]) => onnxProto.onnx.INodeProto[];

/** Graph ops that are not ONNX ops, and the ONNX nodes each exports as. */
const EXPANSIONS: Record<string, Expansion> = {
  LogSumExp: expandLogSumExp,
  SwiGlu: expandSwiGlu,
  MatMulTransB: (n, name) => [{
    name, opType: 'FusedMatMul', domain: MS, input: n.inputs.map((t) => t.name), output: [n.outputs[0].name],
    attribute: [{ name: 'transB', type: AttrType.INT, i: 1 }],
  }],
  WithGradient: (n, name) => [{ name, opType: 'Identity', input: [n.inputs[0].name], output: [n.outputs[0].name] }],
};

/**
 * The inputs a node's exported form reads: WithGradient's gradient is read only by the backward nodes that use it, and
 * a quantized weight is read from its stored tensors, not from the QuantizedWeight placeholder.
 */
function readInputs(node: Node): Tensor[] {
  const inputs = node.op === 'WithGradient' ? node.inputs.slice(0, 1) : node.inputs;
  return inputs.some((t) => t.producer?.op === 'QuantizedWeight') ? inputs.filter((t) => t.producer?.op !== 'QuantizedWeight') : inputs;
}

/** Bytes of a stored tensor: inline, or a range of a file next to the exported model (onnxruntime maps it). */
export type StoredBytes = { data: Uint8Array } | { location: string; offset: number; length: number };

/**
 * A weight [rows, cols] quantized along its reduction axis in one orientation: 'rows' quantizes W itself (blocks
 * along each row: x W^T and row gathers), 'cols' quantizes W^T (x W). `n` x `k` is the quantized matrix's shape.
 */
export interface StoredQuantized {
  n: number;
  k: number;
  data: StoredBytes;
  scales: StoredBytes;
  zeroPoints?: StoredBytes;
}

/** The stored tensors of the quantized weights a graph reads, declared once each as initializers. */
class QuantizedInitializers {
  private readonly declared = new Set<string>();
  constructor(
    private readonly lookup: ExportOptions['quantized'],
    private readonly initializers: onnxProto.onnx.ITensorProto[],
  ) {}

  /** Initializer names for weight `w` in `layout`, shaped for MatMulNBits (`gather` false) or GatherBlockQuantized. */
  names(w: Node, layout: 'rows' | 'cols', gather: boolean): { data: string; scales: string; zeroPoints?: string; stored: StoredQuantized } {
    const name = w.attrs.name as string;
    const stored = this.lookup?.(name, layout);
    if (!stored) throw new Error(`no stored ${layout} quantization of weight '${name}'`);
    const bits = w.attrs.bits as number;
    const block = w.attrs.block_size as number;
    const kb = Math.ceil(stored.k / block);
    const prefix = `${name}.q${bits}.${layout}${gather ? '.gather' : ''}`;
    const declare = (suffix: string, dims: number[], dataType: number, bytes: StoredBytes) => {
      const full = `${prefix}.${suffix}`;
      if (this.declared.has(full)) return full;
      this.declared.add(full);
      const t: onnxProto.onnx.ITensorProto = { name: full, dims, dataType };
      if ('data' in bytes) t.rawData = bytes.data;
      else {
        t.dataLocation = onnx.TensorProto.DataLocation.EXTERNAL;
        t.externalData = [
          { key: 'location', value: bytes.location },
          { key: 'offset', value: String(bytes.offset) },
          { key: 'length', value: String(bytes.length) },
        ];
      }
      this.initializers.push(t);
      return full;
    };
    const blob = (block * bits) / 8;
    const zpRow = Math.ceil((kb * bits) / 8);
    return {
      data: declare('data', gather ? [stored.n, kb * blob] : [stored.n, kb, blob], ONNX_UINT8, stored.data),
      scales: declare('scales', gather ? [stored.n, kb] : [stored.n * kb], ONNX_DTYPE.float32, stored.scales),
      zeroPoints: stored.zeroPoints ? declare('zero_points', gather ? [stored.n, zpRow] : [stored.n * zpRow], ONNX_UINT8, stored.zeroPoints) : undefined,
      stored,
    };
  }
}

const ONNX_UINT8 = 2;
const MS = 'com.microsoft';

function expandQuantizedMatMul(n: Node, name: string, q: QuantizedInitializers): onnxProto.onnx.INodeProto[] {
  const w = n.inputs[1].producer!;
  const { data, scales, zeroPoints, stored } = q.names(w, n.attrs.trans_b === 1 ? 'rows' : 'cols', false);
  const int = (key: string, i: number) => ({ name: key, type: AttrType.INT, i });
  return [{
    name,
    opType: 'MatMulNBits',
    domain: MS,
    input: [n.inputs[0].name, data, scales, ...(zeroPoints ? [zeroPoints] : [])],
    output: [n.outputs[0].name],
    attribute: [int('K', stored.k), int('N', stored.n), int('bits', w.attrs.bits as number), int('block_size', w.attrs.block_size as number),
      int('accuracy_level', w.attrs.accuracy_level as number)],
  }];
}

/** Rows of a quantized weight (an embedding), dequantized by GatherBlockQuantized; the padding of the last block cut off. */
function expandQuantizedGather(n: Node, name: string, q: QuantizedInitializers, initializers: onnxProto.onnx.ITensorProto[]): onnxProto.onnx.INodeProto[] {
  const w = n.inputs[0].producer!;
  if (n.attrs.axis !== 0) throw new Error('a quantized weight can be gathered along axis 0 only');
  const { data, scales, zeroPoints, stored } = q.names(w, 'rows', true);
  const block = w.attrs.block_size as number;
  const padded = Math.ceil(stored.k / block) * block;
  const out = n.outputs[0].name;
  const int = (key: string, i: number) => ({ name: key, type: AttrType.INT, i });
  const gathered = padded === stored.k ? out : `${name}_padded`;
  const nodes: onnxProto.onnx.INodeProto[] = [{
    name,
    opType: 'GatherBlockQuantized',
    domain: MS,
    input: [data, n.inputs[1].name, scales, ...(zeroPoints ? [zeroPoints] : [])],
    output: [gathered],
    attribute: [int('bits', w.attrs.bits as number), int('block_size', block), int('gather_axis', 0), int('quantize_axis', 1)],
  }];
  if (gathered !== out) {
    const int64 = (suffix: string, v: number) => {
      initializers.push({ name: `${name}_${suffix}`, dims: [1], dataType: ONNX_DTYPE.int64, rawData: rawBytes(BigInt64Array.of(BigInt(v))) });
      return `${name}_${suffix}`;
    };
    nodes.push({ name: `${name}_slice`, opType: 'Slice', input: [gathered, int64('start', 0), int64('end', stored.k), int64('axis', -1)], output: [out] });
  }
  return nodes;
}

/** Nodes needed for `outputs`, in graph order. */
export function liveNodes(graph: Graph, outputs: Tensor[]): Node[] {
  const needed = new Set<Tensor>(outputs);
  const keep: Node[] = [];
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const node = graph.nodes[i];
    if (!node.outputs.some((o) => needed.has(o))) continue;
    keep.push(node);
    for (const t of readInputs(node)) needed.add(t);
  }
  return keep.reverse();
}

export interface ExportOptions {
  /** Data for graph inputs to embed as initializers instead (weights baked into the model). */
  initializers?: (name: string) => Float32Array | undefined;
  /** Which weights are stored quantized, and how (graph builders declare those as quantizedWeight placeholders). */
  storage?: (name: string) => QuantizedStorage | undefined;
  /** Which weight inputs are held as float16 (declared float16 and cast to float32 where read; models/graphs.ts). */
  half?: (name: string) => boolean;
  /** The stored tensors of a quantizedWeight (graph/ops.ts) in one orientation. */
  quantized?: (name: string, layout: 'rows' | 'cols') => StoredQuantized | undefined;
}

export function toOnnx(graph: Graph, outputs: Record<string, Tensor>, options: ExportOptions = {}): Uint8Array {
  const outs = Object.entries(outputs);
  const nodes = liveNodes(graph, outs.map(([, t]) => t));
  const used = new Set<Tensor>(outs.map(([, t]) => t));
  for (const n of nodes) for (const t of readInputs(n)) used.add(t);

  const extraInitializers: onnxProto.onnx.ITensorProto[] = [];
  const quantized = new QuantizedInitializers(options.quantized, extraInitializers);
  const protoNodes: onnxProto.onnx.INodeProto[] = nodes.flatMap((n, i) => {
    if (n.op === 'QuantizedMatMul') return expandQuantizedMatMul(n, `${n.op}_${i}`, quantized);
    if (n.op === 'Gather' && n.inputs[0].producer?.op === 'QuantizedWeight') return expandQuantizedGather(n, `${n.op}_${i}`, quantized, extraInitializers);
    if (n.inputs.some((t) => t.producer?.op === 'QuantizedWeight')) throw new Error(`op ${n.op} cannot read a quantized weight`);
    const expansion = EXPANSIONS[n.op];
    if (expansion) return expansion(n, `${n.op}_${i}`, extraInitializers);
    return [{
      name: `${n.op}_${i}`,
      opType: n.op,
      input: n.inputs.map((t) => t.name),
      output: n.outputs.map((t) => t.name),
      attribute: Object.entries(n.attrs).map(([k, v]) => attribute(k, v)),
    }];
  });
  // Graph outputs get their public names through Identity nodes, so one tensor may be exported under several names.
  for (const [name, t] of outs) protoNodes.push({ name: `out_${name}`, opType: 'Identity', input: [t.name], output: [name] });

  const initializer: onnxProto.onnx.ITensorProto[] = [...graph.constants].filter(([t]) => used.has(t)).map(([t, data]) => ({
    name: t.name,
    dims: t.shape as number[],
    dataType: ONNX_DTYPE[t.dtype],
    rawData: rawBytes(data),
  }));

  initializer.push(...extraInitializers);
  const baked = graph.inputs.filter((t) => used.has(t) && options.initializers?.(t.name));
  for (const t of baked) {
    initializer.push({ name: t.name, dims: t.shape as number[], dataType: ONNX_DTYPE[t.dtype], rawData: rawBytes(options.initializers!(t.name)!) });
  }

  const model = onnx.ModelProto.create({
    irVersion: 9,
    producerName: 'softprompt',
    opsetImport: [{ domain: '', version: 20 }, { domain: MS, version: 1 }],
    graph: {
      name: 'softprompt',
      node: protoNodes,
      input: graph.inputs.filter((t) => used.has(t) && !baked.includes(t)).map((t) => valueInfo(t)),
      initializer,
      output: outs.map(([name, t]) => valueInfo(t, name)),
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
