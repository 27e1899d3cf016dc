/**
 * What each prompt-learning method trains and what it hands the model, as PEFT's modules compute it:
 * - prompt tuning, and any loaded P-tuning or prefix adapter: one table `embedding.weight`, used as is;
 * - P-tuning MLP: relu(relu(E W0ᵀ + b0) W2ᵀ + b2) W4ᵀ + b4 (PEFT's three Linear layers);
 * - P-tuning LSTM: a bidirectional LSTM (torch's nn.LSTM: gates i, f, g, o; zero initial state) of
 *   encoder_num_layers layers, then Linear, ReLU, Linear;
 * - prefix tuning with prefix_projection: tanh(E W0ᵀ + b0) W2ᵀ + b2, the vector [n, 2·layers·token_dim];
 * - multitask: E ⊙ (cols[t] @ rows[t]) for every task t, [num_tasks, n, H].
 * Parameters are listed in torch's named_parameters() order under PEFT's keys (without `prompt_encoder.<adapter>.`),
 * and held as one flat array in that order, which is what a Trainer updates. The encoders are graphs run by the model's
 * engine: one computes the output, the other d(sum(output ⊙ upstream))/d(every parameter).
 */
import { gradients } from '../graph/autodiff.js';
import { Graph, type Tensor } from '../graph/graph.js';
import { toOnnx } from '../graph/onnx.js';
import { add, concat, matmul, mul, reduceSum, relu, sigmoid, split, tanh, transposeLast } from '../graph/ops.js';
import { linear } from '../models/layers.js';
import type { PretrainedModel } from '../models/model.js';
import { Generator } from '../random.js';
import { normals } from './init.js';
import { elementCount } from '../shape.js';
import type { AnyPeftConfig } from './methods.js';

export interface EncoderParam {
  key: string;
  shape: number[];
}

export interface Encoder {
  /** Identifies the structure and sizes (the graphs' cache key). */
  id: string;
  params: EncoderParam[];
  /** The output's shape: [n, H], [n, 2·L·D] or [tasks, n, H]. */
  output: number[];
  /** The output from the parameters (graph inputs in `params` order); null when the one parameter is the output. */
  build: ((params: Tensor[]) => Tensor) | null;
}

const EMBEDDING = 'embedding.weight';

function table(width: number, n: number): Encoder {
  return { id: `embedding:${n}x${width}`, params: [{ key: EMBEDDING, shape: [n, width] }], output: [n, width], build: null };
}

/**
 * The encoder of an adapter. `loaded`: read from PEFT's saved files, which hold the P-tuning and prefix encoders'
 * output only (PEFT loads them the same way: inference mode keeps just that table).
 */
export function encoderOf(config: AnyPeftConfig, loaded: boolean): Encoder {
  const n = config.num_virtual_tokens;
  const H = config.token_dim;
  switch (config.peft_type) {
    case 'PROMPT_TUNING':
      return table(H, n);
    case 'P_TUNING':
      if (loaded) return table(H, n);
      return config.encoder_reparameterization_type === 'LSTM'
        ? lstmEncoder(n, H, config.encoder_hidden_size, config.encoder_num_layers)
        : mlpEncoder(n, H, config.encoder_hidden_size);
    case 'PREFIX_TUNING': {
      const width = 2 * config.num_layers! * H;
      if (loaded || !config.prefix_projection) return table(width, n);
      return prefixProjection(n, H, config.encoder_hidden_size, width);
    }
    case 'MULTITASK_PROMPT_TUNING':
      return multitask(n, H, config.num_tasks, config.num_ranks);
  }
}

function mlpEncoder(n: number, H: number, e: number): Encoder {
  const params = [
    { key: EMBEDDING, shape: [n, H] },
    { key: 'mlp_head.0.weight', shape: [e, H] }, { key: 'mlp_head.0.bias', shape: [e] },
    { key: 'mlp_head.2.weight', shape: [e, e] }, { key: 'mlp_head.2.bias', shape: [e] },
    { key: 'mlp_head.4.weight', shape: [H, e] }, { key: 'mlp_head.4.bias', shape: [H] },
  ];
  return {
    id: `mlp:${n}x${H}:${e}`, params, output: [n, H],
    build: ([E, w0, b0, w2, b2, w4, b4]) => linear(relu(linear(relu(linear(E, w0, b0)), w2, b2)), w4, b4),
  };
}

function lstmEncoder(n: number, H: number, e: number, layers: number): Encoder {
  const params: EncoderParam[] = [{ key: EMBEDDING, shape: [n, H] }];
  for (let l = 0; l < layers; l++) {
    for (const suffix of ['', '_reverse']) {
      params.push(
        { key: `lstm_head.weight_ih_l${l}${suffix}`, shape: [4 * e, l === 0 ? H : 2 * e] },
        { key: `lstm_head.weight_hh_l${l}${suffix}`, shape: [4 * e, e] },
        { key: `lstm_head.bias_ih_l${l}${suffix}`, shape: [4 * e] },
        { key: `lstm_head.bias_hh_l${l}${suffix}`, shape: [4 * e] },
      );
    }
  }
  params.push(
    { key: 'mlp_head.0.weight', shape: [2 * e, 2 * e] }, { key: 'mlp_head.0.bias', shape: [2 * e] },
    { key: 'mlp_head.2.weight', shape: [H, 2 * e] }, { key: 'mlp_head.2.bias', shape: [H] },
  );
  return {
    id: `lstm:${n}x${H}:${e}:${layers}`, params, output: [n, H],
    build: (p) => {
      let x = p[0];
      for (let l = 0; l < layers; l++) {
        const [f, b] = [0, 1].map((dir) => p.slice(1 + (2 * l + dir) * 4, 1 + (2 * l + dir + 1) * 4));
        x = concat([lstmLayer(x, f[0], f[1], f[2], f[3], false), lstmLayer(x, b[0], b[1], b[2], b[3], true)], 1);
      }
      const [m0, c0, m2, c2] = p.slice(1 + 8 * layers);
      return linear(relu(linear(x, m0, c0)), m2, c2);
    },
  };
}

/**
 * One direction of one torch LSTM layer over a sequence x [n, in] (batch of one, zero initial h and c), unrolled:
 * gates = x_t W_ihᵀ + b_ih + h W_hhᵀ + b_hh split as i, f, g, o; c = σ(f) c + σ(i) tanh(g); h = σ(o) tanh(c).
 * Returns h at every position [n, hidden], in input order whichever way it ran.
 */
export function lstmLayer(x: Tensor, wIh: Tensor, wHh: Tensor, bIh: Tensor, bHh: Tensor, reverse: boolean): Tensor {
  const n = x.shape[0] as number;
  const e = wHh.shape[1] as number;
  const inputs = split(add(linear(x, wIh, bIh), bHh), new Array<number>(n).fill(1), 0);
  const out = new Array<Tensor>(n);
  let h: Tensor | null = null;
  let c: Tensor | null = null;
  for (let s = 0; s < n; s++) {
    const t = reverse ? n - 1 - s : s;
    const gates: Tensor = h ? add(inputs[t], matmul(h, transposeLast(wHh))) : inputs[t];
    const [i, f, g, o] = split(gates, [e, e, e, e], 1);
    const update = mul(sigmoid(i), tanh(g));
    c = c ? add(mul(sigmoid(f), c), update) : update;
    h = mul(sigmoid(o), tanh(c));
    out[t] = h;
  }
  return concat(out, 0);
}

function prefixProjection(n: number, D: number, e: number, width: number): Encoder {
  const params = [
    { key: EMBEDDING, shape: [n, D] },
    { key: 'transform.0.weight', shape: [e, D] }, { key: 'transform.0.bias', shape: [e] },
    { key: 'transform.2.weight', shape: [width, e] }, { key: 'transform.2.bias', shape: [width] },
  ];
  return {
    id: `prefix:${n}x${D}:${e}:${width}`, params, output: [n, width],
    build: ([E, w0, b0, w2, b2]) => linear(tanh(linear(E, w0, b0)), w2, b2),
  };
}

function multitask(n: number, H: number, tasks: number, ranks: number): Encoder {
  const params = [
    { key: 'prefix_task_cols', shape: [tasks, n, ranks] },
    { key: 'prefix_task_rows', shape: [tasks, ranks, H] },
    { key: EMBEDDING, shape: [n, H] },
  ];
  return {
    id: `multitask:${n}x${H}:${tasks}:${ranks}`, params, output: [tasks, n, H],
    build: ([cols, rows, E]) => mul(E, matmul(cols, rows)),
  };
}

export function parameterCount(enc: Encoder): number {
  return enc.params.reduce((sum, p) => sum + elementCount(p.shape), 0);
}

/** Each parameter's view of the flat array, by key. */
export function parameterViews(enc: Encoder, flat: Float32Array): Map<string, Float32Array> {
  const views = new Map<string, Float32Array>();
  let offset = 0;
  for (const p of enc.params) {
    const size = elementCount(p.shape);
    views.set(p.key, flat.subarray(offset, offset + size));
    offset += size;
  }
  return views;
}

/**
 * torch's default initialisation for each parameter, drawn from softprompt's generator: nn.Embedding N(0, 1),
 * nn.Linear and nn.LSTM U(-1/√fan, 1/√fan) (fan: a Linear's inputs, the LSTM's hidden size), the multitask factors
 * N(0, 0.02). `embedding` replaces the embedding table (prompt tuning's TEXT and SAMPLE_VOCAB init).
 */
export function initParameters(enc: Encoder, seed: number, embedding?: Float32Array): Float32Array {
  const flat = new Float32Array(parameterCount(enc));
  const normal = normals(seed);
  const random = Generator.seeded(seed + 1);
  const views = parameterViews(enc, flat);
  const lstmHidden = enc.params.find((p) => p.key.startsWith('lstm_head.weight_hh'))?.shape[1] ?? 1;
  const fanIn = new Map<string, number>();
  for (const p of enc.params) if (p.key.endsWith('.weight') && p.key !== EMBEDDING) fanIn.set(p.key.replace(/\.weight$/, ''), p.shape[1]);
  for (const p of enc.params) {
    const view = views.get(p.key)!;
    if (p.key === EMBEDDING) {
      if (embedding) view.set(embedding);
      else for (let i = 0; i < view.length; i++) view[i] = normal();
    } else if (p.key.startsWith('prefix_task_')) {
      for (let i = 0; i < view.length; i++) view[i] = 0.02 * normal();
    } else {
      const fan = p.key.startsWith('lstm_head.') ? lstmHidden : fanIn.get(p.key.replace(/\.(weight|bias)$/, ''))!;
      const bound = 1 / Math.sqrt(fan);
      for (let i = 0; i < view.length; i++) view[i] = (2 * random.uniform() - 1) * bound;
    }
  }
  return flat;
}

function graphOf(enc: Encoder, backward: boolean): Uint8Array {
  const g = new Graph();
  const params = enc.params.map((p, i) => g.input(`encoder.${i}`, 'float32', p.shape));
  const out = enc.build!(params);
  if (!backward) return toOnnx(g, { out });
  const upstream = g.input('upstream', 'float32', enc.output);
  const loss = reduceSum(mul(out, upstream), enc.output.map((_, i) => i), false);
  const outputs: Record<string, Tensor> = {};
  gradients(loss, params).forEach((grad, i) => (outputs[`grad.${i}`] = grad));
  return toOnnx(g, outputs);
}

function feeds(enc: Encoder, flat: Float32Array) {
  const views = parameterViews(enc, flat);
  return Object.fromEntries(enc.params.map((p, i) => [`encoder.${i}`, { dtype: 'float32' as const, dims: p.shape, data: Float32Array.from(views.get(p.key)!) }]));
}

/** The encoder's output (a copy of the table for table encoders). */
export async function encode(model: PretrainedModel, enc: Encoder, flat: Float32Array): Promise<Float32Array> {
  if (!enc.build) return Float32Array.from(flat);
  const key = await model.loadGraph(`encoder:${enc.id}:forward`, () => graphOf(enc, false));
  const out = await model.runGraph(key, feeds(enc, flat), ['out'], true);
  return out.out.data as Float32Array;
}

/** d(loss)/d(parameters), flat, given d(loss)/d(output) `upstream`. */
export async function encoderGrad(model: PretrainedModel, enc: Encoder, flat: Float32Array, upstream: Float32Array): Promise<Float32Array> {
  if (!enc.build) return upstream;
  const key = await model.loadGraph(`encoder:${enc.id}:backward`, () => graphOf(enc, true));
  const inputs = { ...feeds(enc, flat), upstream: { dtype: 'float32' as const, dims: enc.output, data: Float32Array.from(upstream) } };
  const out = await model.runGraph(key, inputs, enc.params.map((_, i) => `grad.${i}`), true);
  const grad = new Float32Array(flat.length);
  let offset = 0;
  enc.params.forEach((_, i) => {
    const part = out[`grad.${i}`].data as Float32Array;
    grad.set(part, offset);
    offset += part.length;
  });
  return grad;
}
