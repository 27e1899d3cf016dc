/**
 * A loaded causal LM: its config, its weights bound once in the engine, and `forward`, which runs the cached graph
 * for what was asked (logits, loss, gradient w.r.t. the soft prompt) on one batch.
 */
import { MissingError, OptionError, ShapeError, UnsupportedError } from '../errors.js';
import type { ExportOptions, StoredQuantized } from '../graph/onnx.js';
import type { QuantizedStorage } from '../graph/ops.js';
import type { WeightSource } from '../weights/files.js';
import type { TensorData } from '../runtime/engine.js';
import type { InferenceEngine } from '../runtime/engine-api.js';
import { parseRowView } from '../runtime/protocol.js';
import { hardPositionLimit, promptWidth } from './architectures.js';
import type { ModelConfig } from './config.js';
import { architectureWeights, buildGraph, graphKey, prefixInput, VOCAB_CHUNK, type GraphKind } from './graphs.js';
import { pastToPrefix, prefixToPast } from './prefix.js';
import { auxFeeds } from './positions.js';
import { elementCount } from '../shape.js';
import { f32ToF16 } from '../weights/safetensors.js';

export interface ForwardBatch {
  input_ids: number[][];
  attention_mask?: number[][];
  /** Same shape as input_ids; -100 marks positions without a label. */
  labels?: number[][];
  /**
   * Prompt-completion rows: the index of each row's first completion token (padding included), where an adapter
   * whose virtual tokens go before the completion puts them.
   */
  completion_start?: number[];
  /** Multitask prompt tuning's task per row (read by a PeftModel; the base model ignores it). */
  task_ids?: number[];
}

export interface ForwardOptions {
  /** One soft prompt [n, H] for every row, or one per row. */
  prompt?: Float32Array | Float32Array[];
  /**
   * Per row, the index in input_ids before which the virtual tokens go (default 0: in front of the input, as PEFT
   * places them). Masks, positions, the loss's shift and the logits all follow the resulting order.
   */
  promptAt?: number[];
  logits?: boolean;
  /** Return d(loss)/d(prompt) summed over the rows that share it: [n, H] (or one per row for per-row prompts). */
  grad?: boolean;
  /** Return d(loss)/d(weight) for every weight the model reads (full fine-tuning). */
  weightGrads?: boolean;
  /**
   * Prefix tuning: one prefix vector [n, 2·layers·kvHeads·headDim] (PEFT's layout, see prefix.ts) for every row, or one
   * per row: every layer's past keys/values. The tokens then take positions n..n+T-1 and the logits are [B, T, V];
   * `grad` is d(loss)/d(prefix) in the same layout.
   */
  prefix?: Float32Array | Float32Array[];
}

export interface ForwardResult {
  /** [B, n + T, V], in sequence order: token t of a row sits at t, or t + n once past its virtual tokens. */
  logits?: TensorData;
  loss?: number;
  grad?: Float32Array | Float32Array[];
  /** By checkpoint tensor name. */
  weightGrads?: Map<string, Float32Array>;
}

/** Frozen weights stored quantized (weights/quantized-files.ts is the one on disk). */
export interface QuantizedStore {
  readonly dtype: string;
  /** How a weight is stored, or undefined when it is not quantized. */
  storage(name: string): QuantizedStorage | undefined;
  stored(name: string, layout: 'rows' | 'cols'): StoredQuantized | undefined;
  /** Writes a graph that reads the stored tensors where onnxruntime can resolve them; returns its path. */
  writeGraph(bytes: Uint8Array): string;
  removeGraph(path: string): void;
}

const IGNORE = -100;
/** Values per piece when converting a weight to fp16. */
const HALF_PIECE = 1 << 22;
let nextModelId = 0;

export class PretrainedModel {
  private readonly weightSet = `weights_${nextModelId++}`;
  private bound: Promise<void> | null = null;
  /** Vocabulary rows per chunk in the loss (memory vs. per-chunk overhead); tests lower it to exercise chunking. */
  vocabChunk = VOCAB_CHUNK;
  private allWeights: string[] | null = null;

  constructor(
    readonly config: ModelConfig,
    readonly weights: WeightSource,
    readonly engine: InferenceEngine,
    /** Where the model came from, for error messages. */
    readonly source: string,
    /**
     * 'inputs' (default): weights are bound once in the worker and shared by every graph, loading in ~0.1 s.
     * 'initializers': baked into each graph; onnxruntime can prepack them (a little faster per step) at the cost
     * of a copy per graph and seconds of session creation (see docs/benchmarks.md).
     */
    readonly weightsAs: 'inputs' | 'initializers' = 'inputs',
    /**
     * Frozen weights stored quantized on disk (from_pretrained's dtype q8/q4): graphs read them with onnxruntime's
     * quantized kernels from files it maps; the other weights (norms, biases) are bound as usual.
     */
    readonly quantized: QuantizedStore | null = null,
    /**
     * Frozen weights held as fp16 (from_pretrained's dtype fp16): every weight of two or more dimensions is bound as a
     * float16 tensor (half the memory) and graphs cast it to float32 where they read it; compute stays fp32.
     */
    readonly half = false,
  ) {
    if (half && (quantized || weightsAs !== 'inputs')) throw new UnsupportedError('fp16 weights are bound as inputs, and not with a quantized store', 'dtype');
  }

  /** How the frozen weights are stored: 'fp32', 'fp16', or the quantized dtype. */
  get dtype(): string {
    return this.quantized?.dtype ?? (this.half ? 'fp16' : 'fp32');
  }

  /** Whether a weight is held as float16 (dtype fp16: matrices and tables; norms and biases stay fp32). */
  private isHalf(name: string): boolean {
    return this.half && this.weights.shape(name).length >= 2;
  }

  /** Finds a checkpoint tensor under its canonical name or the prefix variants exports use, and checks its shape. */
  resolveWeight(name: string, shape: number[]): string {
    const stripped = name.replace(/^transformer\./, '');
    const candidates = [name, stripped, `transformer.${stripped}`, name.replace(/^model\./, '')];
    const actual = candidates.find((c) => this.weights.has(c));
    if (!actual) throw new MissingError(`tensor '${name}' not found in the checkpoint`, this.source);
    const got = this.weights.shape(actual);
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
      throw new ShapeError(
        `tensor '${actual}' has shape [${got}] but config.json implies [${shape}]`,
        this.weights.source(actual),
      );
    }
    return actual;
  }

  private graph(kind: GraphKind): Promise<string> {
    if (kind.weightGrads && this.dtype !== 'fp32') throw new UnsupportedError(`weights stored as ${this.dtype} are frozen: full fine-tuning needs dtype fp32`, 'dtype');
    return this.loadGraph(graphKey(this.config, kind), (bake) => buildGraph(this.config, kind, (n, s) => this.resolveWeight(n, s), bake));
  }

  /**
   * Loads once, under `key`, a graph whose weight inputs are named by resolveWeight (graphs assembled elsewhere, e.g.
   * generation's) with this model's weights bound or baked in; returns the engine key for `runGraph`.
   */
  async loadGraph(key: string, build: (bake: ExportOptions) => Uint8Array): Promise<string> {
    const q = this.quantized;
    if (q) {
      const fullKey = `${key}:${this.weightSet}`;
      const bake: ExportOptions = { storage: (name) => q.storage(name), quantized: (name, layout) => q.stored(name, layout) };
      let path: string | null = null;
      try {
        await this.engine.load(fullKey, () => (path = q.writeGraph(build(bake))));
      } finally {
        if (path) q.removeGraph(path);
      }
      await this.bindWeights();
      return fullKey;
    }
    const fullKey = `${key}:${this.weightsAs === 'initializers' ? this.weightSet : this.half ? 'inputs-fp16' : 'inputs'}`;
    const bake: ExportOptions = this.weightsAs === 'initializers'
      ? { initializers: (name: string) => this.weightOrView(name) }
      : this.half ? { half: (name: string) => this.isHalf(name) } : {};
    await this.engine.load(fullKey, () => build(bake));
    if (this.weightsAs === 'inputs') await this.bindWeights();
    return fullKey;
  }

  /** Runs a graph loaded with `loadGraph`, its weight inputs fed from this model. */
  runGraph(key: string, feeds: Record<string, TensorData>, outputs: string[], transfer = false): Promise<Record<string, TensorData>> {
    return this.engine.run(key, feeds, outputs, this.weightsAs === 'inputs' || this.quantized ? this.weightSet : null, transfer);
  }

  /** A weight, or the rows a row-view input names (see parseRowView), for weights baked in as initializers. */
  private weightOrView(name: string): Float32Array {
    const view = parseRowView(name);
    if (!view) return this.weights.float32(name);
    const width = elementCount(this.weights.shape(view.weight).slice(1));
    return this.weights.float32(view.weight).subarray(view.start * width, view.end * width);
  }

  /** Sends every weight a graph reads to the engine once; graphs built later reuse the same set. */
  private bindWeights(): Promise<void> {
    // Weights read fresh from disk move to the worker; in-memory ones (tests, benchmarks) are copied.
    this.bound ??= this.engine.bindWeights(this.weightSet, this.weightTensors(), this.weights.freshArrays === true);
    return this.bound;
  }

  /**
   * Binds the weights again from the WeightSource, whose arrays a full fine-tuning step has just changed in place.
   * They are copied, since the caller goes on updating them.
   */
  async rebindWeights(): Promise<void> {
    if (this.weightsAs !== 'inputs') throw new UnsupportedError('weights baked into graphs as initializers cannot change', this.source);
    if (this.dtype !== 'fp32') throw new UnsupportedError(`weights held as ${this.dtype} are frozen`, 'dtype');
    this.bound = this.engine.bindWeights(this.weightSet, this.weightTensors(), false);
    await this.bound;
  }

  /** The checkpoint names of every weight the architecture reads, not just those resolved so far (a cached graph resolves none). */
  weightNames(): string[] {
    this.allWeights ??= [...new Set([...architectureWeights(this.config)].map(([name, shape]) => this.resolveWeight(name, shape)))];
    return this.allWeights;
  }

  private weightTensors(): Record<string, TensorData> {
    const tensors: Record<string, TensorData> = {};
    for (const name of this.weightNames()) {
      if (this.quantized?.storage(name)) continue;
      const dims = this.weights.shape(name);
      tensors[name] = this.isHalf(name) ? { dtype: 'float16', dims, data: this.halfWeight(name) } : { dtype: 'float32', dims, data: this.weights.float32(name) };
    }
    return tensors;
  }


  /**
   * A weight as IEEE half bits, rounded to nearest even from the checkpoint's values (exact for an fp16 checkpoint);
   * large matrices are converted in pieces of rows, so no float32 copy of them is whole.
   */
  private halfWeight(name: string): Uint16Array {
    const dims = this.weights.shape(name);
    const rows = dims[0];
    const width = elementCount(dims.slice(1));
    const out = new Uint16Array(rows * width);
    const step = Math.max(1, Math.floor(HALF_PIECE / width));
    const whole = this.weights.float32Rows ? null : this.weights.float32(name);
    for (let start = 0; start < rows; start += step) {
      const end = Math.min(rows, start + step);
      const piece = whole ? whole.subarray(start * width, end * width) : this.weights.float32Rows!(name, start, end);
      out.set(f32ToF16(piece), start * width);
    }
    return out;
  }

  async forward(batch: ForwardBatch, opts: ForwardOptions = {}): Promise<ForwardResult> {
    const B = batch.input_ids.length;
    const T = batch.input_ids[0]?.length ?? 0;
    if (B === 0 || T === 0) throw new ShapeError('expected a non-empty batch', 'input_ids');
    for (const row of batch.input_ids) if (row.length !== T) throw new ShapeError('rows must all have the same length', 'input_ids');
    const mask = batch.attention_mask ?? batch.input_ids.map((r) => r.map(() => 1));
    checkRows(mask, B, T, 'attention_mask');
    if (batch.labels) {
      checkRows(batch.labels, B, T, 'labels');
      for (const label of batch.labels.flat()) {
        if (!Number.isInteger(label)) throw new ShapeError(`label ${label} is not an integer`, 'labels');
        if (label !== IGNORE && (label < 0 || label >= this.config.vocabSize)) {
          throw new ShapeError(`label ${label} is outside the vocabulary [0, ${this.config.vocabSize}) and is not -100`, 'labels');
        }
      }
    }
    for (const row of batch.input_ids) {
      for (const id of row) {
        if (!Number.isInteger(id)) throw new ShapeError(`token id ${id} is not an integer`, 'input_ids');
        if (id < 0 || id >= this.config.vocabSize) {
          throw new ShapeError(`token id ${id} is outside the vocabulary [0, ${this.config.vocabSize})`, 'input_ids');
        }
      }
    }

    const H = promptWidth(this.config);
    const prompts = opts.prompt === undefined ? null : Array.isArray(opts.prompt) ? opts.prompt : new Array(B).fill(opts.prompt);
    if (prompts && prompts.length !== B) throw new ShapeError(`expected ${B} per-row prompts, got ${prompts.length}`, 'prompt');
    const n = prompts ? prompts[0].length / H : 0;
    if (prompts) {
      for (const p of prompts) {
        if (p.length !== n * H || !Number.isInteger(n) || n < 1) {
          throw new ShapeError(`expected prompts of shape [n, ${H}] with the same n for every row`, 'prompt');
        }
      }
    }
    const prefixes = opts.prefix === undefined ? null : Array.isArray(opts.prefix) ? opts.prefix : new Array<Float32Array>(B).fill(opts.prefix);
    if (prefixes && prompts) throw new ShapeError('give a soft prompt or a prefix, not both', 'prefix');
    if (prefixes && prefixes.length !== B) throw new ShapeError(`expected ${B} per-row prefixes, got ${prefixes.length}`, 'prefix');
    const past = prefixes?.map((p, b) => prefixToPast(this.config, p, `prefix of row ${b}`)) ?? null;
    const np = past ? past[0][0].length / (this.config.numKvHeads * this.config.headDim) : 0;
    if (past?.some((layers) => layers[0].length !== past[0][0].length)) throw new ShapeError('every row\'s prefix must have the same length', 'prefix');
    const wantLoss = batch.labels !== undefined;
    if (opts.grad && !wantLoss) throw new ShapeError('a gradient needs labels', 'labels');
    if (opts.grad && !prompts && !prefixes) throw new ShapeError('a gradient needs a soft prompt or a prefix', 'prompt');
    if (opts.weightGrads && !wantLoss) throw new ShapeError('weight gradients need labels', 'labels');
    const at = promptSlots(opts.promptAt, prompts !== null, B, T);
    const kind: GraphKind = {
      prompt: prompts !== null,
      promptAt: at !== null,
      logits: opts.logits ?? true,
      loss: wantLoss,
      grad: opts.grad ?? false,
      weightGrads: opts.weightGrads ?? false,
      vocabChunk: this.vocabChunk,
      ...(past ? { prefix: true } : {}),
    };
    if (!kind.logits && !kind.loss) throw new OptionError('nothing to compute: ask for logits, or give labels for a loss', 'logits');
    const key = await this.graph(kind);

    // Slots, as PEFT's models number them: the prompt's or the prefix's n come first, pads included (a prompt placed
    // at promptAt takes its n slots there instead; promptAt needs a prompt, so never with a prefix).
    const S = n + np + T;
    const fullMask = mask.map((row, b) => [...row.slice(0, at?.[b] ?? 0), ...new Array(n + np).fill(1), ...row.slice(at?.[b] ?? 0)]);
    const positions = fullMask.map(() => Array.from({ length: S - np }, (_, i) => np + i));
    this.checkContext(S);
    const feeds: Record<string, TensorData> = {
      input_ids: { dtype: 'int64', dims: [B, T], data: BigInt64Array.from(batch.input_ids.flat(), BigInt) },
      ...auxFeeds(this.config, { mask: fullMask, positions, queryStart: np }),
    };
    if (past) Object.assign(feeds, prefixFeeds(this.config, past, np));
    if (prompts) {
      const data = new Float32Array(B * n * H);
      prompts.forEach((p, b) => data.set(p, b * n * H));
      feeds.prompt = { dtype: 'float32', dims: [B, n, H], data };
    }
    if (at) feeds.prompt_order = { dtype: 'int64', dims: [B, S], data: BigInt64Array.from(promptOrder(at, n, T), BigInt) };
    if (batch.labels) Object.assign(feeds, shiftedTargets(batch.labels, n, at ?? undefined));

    const names = kind.weightGrads ? this.weightNames() : [];
    const pastGrads = past && kind.grad ? Array.from({ length: this.config.numLayers }, (_, l) => [prefixInput(l, false), prefixInput(l, true)]).flat() : [];
    const outputs = [
      ...(['logits', 'loss'] as const).filter((k) => kind[k]),
      ...(kind.grad && !past ? ['grad'] : []),
      ...names.map((n) => `grad.${n}`),
      ...pastGrads.map((n) => `grad.${n}`),
    ];
    // Every feed was built for this call, so its memory can move to the worker.
    const out = await this.runGraph(key, feeds, outputs, true);
    const result: ForwardResult = {};
    if (out.logits) result.logits = out.logits;
    if (out.loss) result.loss = (out.loss.data as Float32Array)[0];
    if (out.grad) {
      const g = out.grad.data as Float32Array;
      const rows = Array.from({ length: B }, (_, b) => g.subarray(b * n * H, (b + 1) * n * H));
      result.grad = Array.isArray(opts.prompt) ? rows : sumRows(rows);
    }
    if (pastGrads.length > 0) {
      const rows = Array.from({ length: B }, (_, b) => {
        const perLayer = pastGrads.map((name) => {
          const g = out[`grad.${name}`].data as Float32Array;
          const size = g.length / B;
          return g.subarray(b * size, (b + 1) * size);
        });
        return pastToPrefix(this.config, perLayer, np);
      });
      result.grad = Array.isArray(opts.prefix) ? rows : sumRows(rows);
    }
    if (kind.weightGrads) result.weightGrads = new Map(names.map((n) => [n, out[`grad.${n}`].data as Float32Array]));
    return result;
  }

  private checkContext(S: number): void {
    const limit = hardPositionLimit(this.config);
    if (limit !== null && S > limit.max) {
      throw new ShapeError(`sequence of ${S} positions (virtual tokens included) exceeds ${limit.key} ${limit.max}`, 'input_ids');
    }
  }
}

function checkRows(rows: number[][], B: number, T: number, field: string): void {
  if (rows.length !== B || rows.some((r) => r.length !== T)) throw new ShapeError(`expected shape [${B}, ${T}] like input_ids`, field);
}

/** Per layer, the rows' keys and values stacked into the graph's [B, kvHeads, n, headDim] inputs. */
function prefixFeeds(cfg: ModelConfig, past: Float32Array[][], n: number): Record<string, TensorData> {
  const B = past.length;
  const feeds: Record<string, TensorData> = {};
  past[0].forEach((_, k) => {
    const size = past[0][k].length;
    const data = new Float32Array(B * size);
    past.forEach((layers, b) => data.set(layers[k], b * size));
    feeds[prefixInput(k >> 1, (k & 1) === 1)] = { dtype: 'float32', dims: [B, cfg.numKvHeads, n, cfg.headDim], data };
  });
  return feeds;
}

function sumRows(rows: Float32Array[]): Float32Array {
  const out = new Float32Array(rows[0].length);
  for (const r of rows) for (let i = 0; i < r.length; i++) out[i] += r[i];
  return out;
}

/**
 * Checks ForwardOptions.promptAt: null when every row keeps its virtual tokens in front (the plain graph does that).
 */
function promptSlots(at: number[] | undefined, withPrompt: boolean, B: number, T: number): number[] | null {
  if (at === undefined) return null;
  if (!withPrompt) throw new ShapeError('placing virtual tokens needs a soft prompt', 'promptAt');
  if (at.length !== B) throw new ShapeError(`expected ${B} positions (one per row), got ${at.length}`, 'promptAt');
  for (const a of at) if (!Number.isInteger(a) || a < 0 || a > T) throw new ShapeError(`position ${a} is outside [0, ${T}]`, 'promptAt');
  return at.every((a) => a === 0) ? null : at;
}

/**
 * The `prompt_order` input: for each row b and sequence position s, the flat index of the row of [prompt; tokens]
 * (viewed as [B * (n + T), H]) that goes there: tokens before at[b], then the n virtual tokens, then the rest.
 */
export function promptOrder(at: number[], n: number, T: number): number[] {
  const S = n + T;
  const order: number[] = [];
  at.forEach((a, b) => {
    for (let s = 0; s < S; s++) order.push(b * S + (s < a ? n + s : s < a + n ? s - a : s));
  });
  return order;
}

/**
 * HF's causal-LM loss: the logits at the position before a token predict its label; the n virtual positions carry no
 * labels. With the virtual tokens at at[b] (default 0), token t sits at t before them and t + n after, so the last
 * virtual token predicts token at[b]. Returned as the flat [B*S] index of each position that has a target, the target
 * id, and a weight of 1/N.
 */
export function shiftedTargets(labels: number[][], n: number, at?: number[]): Record<string, TensorData> {
  const B = labels.length;
  const T = labels[0]?.length ?? 0;
  const S = n + T;
  const rows: number[] = [];
  const ids: number[] = [];
  for (let b = 0; b < B; b++) {
    const a = at?.[b] ?? 0;
    for (let t = 0; t < T; t++) {
      const label = labels[b][t];
      const before = (t < a ? t : t + n) - 1;
      if (label === IGNORE || before < 0) continue;
      rows.push(b * S + before);
      ids.push(label);
    }
  }
  const N = rows.length;
  if (N === 0) throw new ShapeError('no position has a label to predict (all -100 after the shift)', 'labels');
  return {
    target_rows: { dtype: 'int64', dims: [N], data: BigInt64Array.from(rows, BigInt) },
    target_ids: { dtype: 'int64', dims: [N], data: BigInt64Array.from(ids, BigInt) },
    target_weights: { dtype: 'float32', dims: [N], data: new Float32Array(N).fill(1 / N) },
  };
}
