/**
 * Assembles the graphs softprompt runs from an architecture: token ids (with optional per-row soft prompts) ->
 * logits, HF's shifted causal-LM loss, and the gradient of that loss w.r.t. the prompt. Built once per
 * (architecture, config, kind) and cached by the engine under that key.
 */
import { gradients } from '../graph/autodiff.js';
import { Graph, type Dim, type Node, type Tensor } from '../graph/graph.js';
import { toOnnx, type ExportOptions } from '../graph/onnx.js';
import {
  add, cast, concat, div, gather, log, logSumExp, matmul, mul, quantizedWeight, readWeight, reduceMax, reduceSum, reshape, softmax, split, sub, tanh, unsqueeze, withGradient,
} from '../graph/ops.js';
import { ShapeError, UnsupportedError } from '../errors.js';
import type { AuxTensors, CausalLM, KvCache } from './architecture.js';
import { architectureOf, promptWidth } from './architectures.js';
import type { ModelConfig } from './config.js';
import { linear, matmulWeight, softcap, weightRowViews } from './layers.js';
import { layerInputNames, rotaryDim } from './positions.js';

export interface GraphKind {
  /** Prepend per-row soft prompts (graph input `prompt` [B, n, H]). */
  prompt: boolean;
  /**
   * Place the prompt rows anywhere in the sequence, per row: input `prompt_order` [B, n + T] holds, for each position
   * of the sequence, the flat index of its row in [prompt; tokens] viewed as [B * (n + T), H] (see promptOrder).
   */
  promptAt?: boolean;
  logits: boolean;
  loss: boolean;
  /** d(loss)/d(prompt), output `grad` [B, n, H]. */
  grad: boolean;
  /** d(loss)/d(every weight), outputs `grad.<checkpoint name>` (full fine-tuning). */
  weightGrads?: boolean;
  /**
   * Prefix tuning: every layer's past keys/values are inputs `prefix.<layer>.key|value` [B, kvHeads, n, headDim], the
   * tokens come after them; with `grad`, their gradients are `grad.prefix.<layer>.key|value` instead of `grad`.
   */
  prefix?: boolean;
  /** Vocabulary rows per chunk of the loss's head product (default VOCAB_CHUNK). */
  vocabChunk?: number;
}

export function graphKey(cfg: ModelConfig, kind: GraphKind): string {
  const flags = (['prompt', 'promptAt', 'logits', 'loss', 'grad', 'weightGrads', 'prefix'] as const).filter((k) => kind[k]).join('+');
  return `${cfg.arch}:${JSON.stringify(cfg.raw)}:${flags}:${kind.vocabChunk ?? VOCAB_CHUNK}`;
}

/**
 * HF's causal-LM loss over the positions that have a target only: their hidden states are gathered first, so no
 * logits are computed for prompt, padding or final positions. The target's logit is a row-wise dot product with its
 * head row, so the only vocabulary-sized work is the head product and its log-sum-exp (whose gradient is a softmax).
 * `rows` index the flattened [B*S] positions, `ids` are their targets, `weights` 1/N each (a mean over N targets).
 * With `fused`, the log-sum-exp's gradient w.r.t. the hidden states is computed in the forward pass (see headLogSumExp);
 * only for graphs that differentiate nothing upstream of the head weight, and that want a gradient at all.
 */
function causalLmLoss(hidden: Tensor, arch: CausalLM, targets: Tensor[], chunk: number, fused: boolean): Tensor {
  const [rows, ids, weights] = targets;
  const h = gather(reshape(hidden, [-1, hidden.shape[2] as number]), rows, 0);
  const bias = arch.headBias?.();
  const cap = arch.logitSoftcap;
  const lse = reshape(headLogSumExp(h, arch.headWeight(), chunk, fused, bias, cap), [-1]);
  const dot = reduceSum(mul(h, gather(arch.headWeight(), ids, 0)), [-1], false);
  const picked = softcap(bias ? add(dot, gather(bias, ids, 0)) : dot, cap);
  return reduceSum(mul(sub(lse, picked), weights), [0], false);
}

/**
 * Vocabulary rows per chunk of the head: [N, 16384] fp32 is 32 MB per 512 targets. Measured at bloomz-560m scale, 8k to
 * 32k rows per chunk take the same time; smaller chunks hold less at once.
 */
export const VOCAB_CHUNK = 16384;

/**
 * log-sum-exp over the vocabulary of h @ W^T, one chunk of W's rows at a time, then across the chunks. The chunks are
 * views of the bound weight (engine inputs named `W#rows=A:B`).
 *
 * Fused (for the prompt gradient), each chunk's gradient is taken while its logits are alive, as in fused
 * linear-cross-entropy kernels: d lse_c / dh = softmax(logits_c) @ W_c, and d lse / dh = sum_c exp(lse_c - lse) *
 * d lse_c / dh. Only an [N, H] per chunk outlives it, and the FLOPs are the ones the backward pass would spend;
 * differentiated through instead, every chunk's [N, chunk] logits would wait for the backward pass: 514 MB at
 * bloomz-560m's 250,880 words and 512 targets. Unfused: the value alone (evaluation), or the plain chain for autodiff
 * (weight gradients).
 */
function headLogSumExp(h: Tensor, weight: Tensor, chunk: number, fused: boolean, bias?: Tensor, cap?: number): Tensor {
  const H = weight.shape[1] as number;
  // Views of a weight held as fp16 are cast one chunk at a time (layers.ts weightRowViews).
  const views = weightRowViews(weight, chunk) ?? [weight];
  // A head bias [V] is split like the rows (a few KB, so in the graph rather than as views).
  const biases = !bias ? null : views.length === 1 ? [bias] : split(bias, views.map((w) => w.shape[0] as number), 0);
  // A view of a weight held as fp16 is cast once the previous chunk is done (ops.ts readWeight), so chunks' float32
  // copies are made one at a time.
  let after = h;
  const read = (w: Tensor) => readWeight(w, after);
  const chunkLogits = (w: Tensor, i: number) => linear(h, w, biases?.[i]);
  if (!fused) {
    const lses = views.map((w, i) => (after = logSumExp(softcap(chunkLogits(read(w), i), cap))));
    return lses.length === 1 ? lses[0] : logSumExp(concat(lses, 1));
  }
  // Each chunk yields one [N, 1, H + 1] tensor (its gradient beside its log-sum-exp), and nothing else reads the
  // chunk's logits: onnxruntime orders nodes depth-first from the outputs, so a chunk is finished, and its logits freed,
  // before the next chunk's product starts. With separate consumers it computed every chunk's logits first.
  const results = views.map((view, i) => {
    const w = read(view);
    const raw = chunkLogits(w, i);
    // Soft-capped logits c * tanh(l / c): d lse / d l = softmax * (1 - tanh^2).
    const t = cap === undefined ? null : tanh(div(raw, cap));
    const logits = t ? mul(t, cap!) : raw;
    const p = softmax(logits, -1);
    // The largest logit's probability is exp(max - lse) >= 1/chunk, so lse = max - log(max p) loses nothing to
    // underflow, and costs two reductions instead of a second exponential pass (LogSoftmax) over the logits.
    const lse = sub(reduceMax(logits, [-1]), log(reduceMax(p, [-1])));
    return (after = unsqueeze(concat([matmulWeight(t ? mul(p, sub(1, mul(t, t))) : p, w), lse], 1), [1]));
  });
  const [grads, lses] = split(concat(results, 1), [H, 1], 2);
  const perChunk = reshape(lses, [-1, results.length]);
  const shares = unsqueeze(softmax(perChunk, -1), [1]);
  const grad = reshape(matmul(shares, grads), [-1, H]);
  return withGradient(logSumExp(perChunk), h, grad);
}

/**
 * A new graph with the architecture's weights as inputs (declared once each, under the names `resolve` gives),
 * `input_ids`, and the per-batch inputs positions.ts computes: `attn_bias` [B, 1|heads, queries, keys] (heads for
 * ALiBi) and, by position scheme, RoPE tables or position ids for the queries.
 */
export function modelInputs(
  cfg: ModelConfig,
  resolve: (name: string, shape: number[]) => string,
  queries: string,
  keys: string,
  weights: ExportOptions = {},
): { g: Graph; arch: CausalLM; ids: Tensor; aux: AuxTensors; params: Map<string, Tensor> } {
  const g = new Graph();
  const params = new Map<string, Tensor>();
  const { positions, build } = architectureOf(cfg);
  const arch = build(cfg, (name, shape) => {
    const actual = resolve(name, shape);
    if (!params.has(actual)) {
      // A weight stored quantized is a placeholder that linear(), conv1d() and gathers read with quantized kernels.
      // One held as fp16 is a float16 input cast to float32 where read (compute stays fp32); gathers read its rows
      // before the cast (graph/ops.ts gather) and large products cast it in row chunks (layers.ts linear).
      const q = weights.storage?.(actual);
      params.set(
        actual,
        q ? quantizedWeight(g, actual, shape, q) : weights.half?.(actual) ? cast(g.input(actual, 'float16', shape), 'float32') : g.input(actual, 'float32', shape),
      );
    }
    return params.get(actual)!;
  });
  const ids = g.input('input_ids', 'int64', ['batch', 'tokens']);
  // Inputs by name, declared once: layers of one kind (ModelConfig.layers) share their bias and RoPE tables.
  const declared = new Map<string, Tensor>();
  const input = (name: string, shape: Dim[]) => declared.get(name) ?? declared.set(name, g.input(name, 'float32', shape)).get(name)!;
  const bias = (name: string) => input(name, ['batch', positions === 'alibi' ? cfg.numHeads : 1, queries, keys]);
  const table = (name: string) => input(name, ['batch', queries, rotaryDim(cfg)]);
  const aux: AuxTensors = { bias: bias('attn_bias') };
  if (positions === 'rope') {
    aux.cos = table('rope_cos');
    aux.sin = table('rope_sin');
  }
  const layers = layerInputNames(cfg);
  if (layers) {
    aux.layers = layers.map((l) => ({ bias: bias(l.bias), ...(positions === 'rope' ? { cos: table(l.cos), sin: table(l.sin) } : {}) }));
  }
  if (positions === 'learned') aux.positionIds = g.input('position_ids', 'int64', ['batch', queries]);
  return { g, arch, ids, aux, params };
}

/**
 * Every checkpoint tensor the architecture reads, under its canonical name, with the shape the config implies:
 * the architecture is traced once against a scratch graph, nothing is differentiated or exported.
 */
export function architectureWeights(cfg: ModelConfig): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const { arch, ids, aux } = modelInputs(cfg, (name, shape) => (shapes.set(name, shape), name), 'seq', 'seq');
  arch.forward(arch.embed(ids), aux);
  arch.headWeight();
  arch.headBias?.();
  return shapes;
}

/** Graph inputs `prefix.<layer>.key|value` [B, kvHeads, n, headDim] as the past of every layer. */
function prefixCache(g: Graph, cfg: ModelConfig): KvCache {
  const shape = ['batch', cfg.numKvHeads, 'virtual', cfg.headDim];
  const past = Array.from({ length: cfg.numLayers }, (_, l) => ({
    key: g.input(prefixInput(l, false), 'float32', shape),
    value: g.input(prefixInput(l, true), 'float32', shape),
  }));
  return { past, present: [] };
}

export const prefixInput = (layer: number, value: boolean) => `prefix.${layer}.${value ? 'value' : 'key'}`;

/**
 * The weights that can be stored quantized, by canonical name: 2-D, and read by the model only as x W^T (linear), x W
 * (Conv1D) or by rows (embeddings), which have quantized kernels. `table`: an embedding table or the head. Anything else a family does with a weight (there is
 * nothing today) keeps it in fp32. Traced once against a scratch graph, as architectureWeights is.
 */
export function quantizableWeights(cfg: ModelConfig): Map<string, { shape: number[]; table: boolean }> {
  const shapes = new Map<string, number[]>();
  const { g, arch, ids, aux, params } = modelInputs(cfg, (name, shape) => (shapes.set(name, shape), name), 'seq', 'seq');
  arch.head(arch.forward(arch.embed(ids), aux));
  const head = arch.headWeight();
  arch.headBias?.();
  const readers = new Map<Tensor, { node: Node; index: number }[]>();
  for (const node of g.nodes) node.inputs.forEach((t, index) => readers.get(t)?.push({ node, index }) ?? readers.set(t, [{ node, index }]));
  const readBy = (t: Tensor) => readers.get(t) ?? [];
  const supported = ({ node, index }: { node: Node; index: number }): boolean => {
    if (node.op === 'Gather') return index === 0 && node.attrs.axis === 0;
    if (node.op === 'MatMul') return index === 1;
    if (node.op === 'Transpose') {
      const perm = node.attrs.perm as number[];
      return perm.length === 2 && perm[0] === 1 && readBy(node.outputs[0]).every((r) => r.node.op === 'MatMul' && r.index === 1);
    }
    return false;
  };
  const out = new Map<string, { shape: number[]; table: boolean }>();
  for (const [name, t] of params) {
    if (t.rank !== 2 || readBy(t).length === 0 || !readBy(t).every(supported)) continue;
    out.set(name, { shape: shapes.get(name)!, table: t === head || readBy(t).some((r) => r.node.op === 'Gather') });
  }
  return out;
}

/**
 * Builds the ONNX bytes for `kind`. `resolve` maps an architecture's canonical checkpoint name to the name in the
 * actual checkpoint (prefixes differ between exports) and checks its shape; the graph input gets that name.
 */
export function buildGraph(
  cfg: ModelConfig,
  kind: GraphKind,
  resolve: (name: string, shape: number[]) => string,
  options: ExportOptions = {},
): Uint8Array {
  const { g, arch, ids, aux, params } = modelInputs(cfg, resolve, 'seq', kind.prefix ? 'total' : 'seq', options);
  if (kind.weightGrads && (options.storage || options.half)) throw new UnsupportedError('weights stored quantized or as fp16 are frozen: full fine-tuning needs dtype fp32', 'dtype');

  const tokens = arch.embed(ids);
  const prompt = kind.prompt ? g.input('prompt', 'float32', ['batch', 'virtual', promptWidth(cfg)]) : null;
  let embeds = prompt ? concat([prompt, tokens], 1) : tokens;
  if (prompt && kind.promptAt) {
    // One gather puts every row's virtual tokens where its prompt_order says; its gradient scatters them back.
    const order = g.input('prompt_order', 'int64', ['batch', 'seq']);
    embeds = gather(reshape(embeds, [-1, promptWidth(cfg)]), order, 0);
  }
  // A prefix is the past keys/values, so it always sits in front: placing it elsewhere has no meaning.
  if (kind.prefix && kind.promptAt) throw new UnsupportedError('a prefix is the attention cache, always in front of the tokens: virtual_tokens_position applies to soft prompts only', 'promptAt');
  const cache = kind.prefix ? prefixCache(g, cfg) : undefined;
  const hidden = arch.forward(embeds, aux, cache);

  const outputs: Record<string, Tensor> = {};
  if (kind.logits) outputs.logits = arch.head(hidden);
  if (kind.loss || kind.grad || kind.weightGrads) {
    const targets = ['target_rows', 'target_ids', 'target_weights'].map((name, i) => g.input(name, i < 2 ? 'int64' : 'float32', ['targets']));
    // Head chunks are separate views of the weight, and the fused gradient covers the hidden states only: both would
    // hide the head weight's own gradient.
    const chunk = kind.weightGrads ? Infinity : (kind.vocabChunk ?? VOCAB_CHUNK);
    const loss = causalLmLoss(hidden, arch, targets, chunk, Boolean(kind.grad) && !kind.weightGrads);
    if (kind.loss) outputs.loss = loss;
    if (kind.grad && cache) {
      const past = cache.past.flatMap(({ key, value }) => [key, value]);
      gradients(loss, past).forEach((grad, i) => (outputs[`grad.${past[i].name}`] = grad));
    } else if (kind.grad) {
      if (!prompt) throw new ShapeError('a gradient needs a soft prompt to differentiate', 'graph');
      outputs.grad = gradients(loss, [prompt])[0];
    }
    if (kind.weightGrads) {
      const weights = [...params];
      gradients(loss, weights.map(([, t]) => t)).forEach((grad, i) => (outputs[`grad.${weights[i][0]}`] = grad));
    }
  }
  return toOnnx(g, outputs, options);
}
