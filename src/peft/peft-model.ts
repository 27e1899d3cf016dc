/**
 * PEFT's PeftModel for the prompt-learning methods: a frozen PretrainedModel plus named adapters, one of them active.
 * Each adapter is a config and its trainable parameters, flat in torch's named_parameters() order (for prompt tuning:
 * the prompt itself), and an encoder (encoders.ts) that turns them into what the model receives: a soft prompt
 * (prompt tuning, P-tuning, multitask, per row by task id) or every layer's past keys/values (prefix tuning).
 * savePretrained writes the default adapter in `dir/` and every other one in `dir/<name>/`, as PEFT does.
 * parameters(), forward(), checkpointFiles() and parametersFrom() are what train/'s TrainableModel asks for (peft sits
 * below train, so it satisfies that interface without naming it). PEFT's adapter files do not hold the P-tuning and
 * prefix-projection encoders' weights (only their output), so checkpoints add `prompt_encoder.safetensors` with every
 * parameter, and a run resumes from those.
 */
import { Fingerprint } from '../random.js';
import { MissingError, OptionError, ShapeError, UnsupportedError } from '../errors.js';
import { adapterSubdir, loadAdapter, saveAdapter } from './adapter-files.js';
import { promptWidth, trainingPositionLimit } from '../models/architectures.js';
import type { ModelConfig } from '../models/config.js';
import type { ForwardBatch, ForwardOptions, ForwardResult, PretrainedModel } from '../models/model.js';
import type { TextTokenizer } from '../tokenizer/tokenizer.js';
import { Safetensors, checkFinite, serializeSafetensors } from '../weights/safetensors.js';
import { adapterConfigOf, adapterFiles, checkAdapterFits, parseAdapterFiles, type Adapter, type SavedTensor } from './adapter.js';
import { virtualTokensPosition } from './config.js';
import { encode, encoderGrad, encoderOf, initParameters, parameterCount, parameterViews, type Encoder } from './encoders.js';
import { embeddingRows, initPrompt } from './init.js';
import { prefixTokenDim, type AnyPeftConfig } from './methods.js';
import { trainingActivationBytes, weightBytes } from '../models/memory.js';
import { countBaseParameters, formatParameterCounts, parameterCounts, type ParameterCounts } from './parameters.js';

export const DEFAULT_ADAPTER = 'default';
/** The checkpoint file holding every trainable parameter where the adapter files hold only the encoder's output. */
export const ENCODER_CHECKPOINT = 'prompt_encoder.safetensors';

export interface CreateOptions {
  /** Needed for TEXT init. */
  tokenizer?: TextTokenizer | null;
  /** For RANDOM and SAMPLE_VOCAB init and the encoders' weights; 42 (transformers' default seed) when absent, so runs repeat. */
  seed?: number;
  adapterName?: string;
}

/** What one batch row is given: a soft prompt [n, H], a prefix vector [n, 2·L·D], or nothing. */
export type RowInput = { prompt: Float32Array } | { prefix: Float32Array } | null;

interface Entry {
  config: AnyPeftConfig;
  encoder: Encoder;
  /** Trainable parameters, flat, in encoder.params order. */
  params: Float32Array;
}

export class PeftModel {
  private readonly adapters = new Map<string, Entry>();
  private active: string;
  private baseParameters: number | null = null;

  private constructor(
    readonly model: PretrainedModel,
    name: string,
    config: AnyPeftConfig,
    parameters: Float32Array,
  ) {
    this.active = name;
    this.addAdapter(name, config, parameters);
  }

  /** get_peft_model: freshly initialised parameters for `config` (base_model_name_or_path defaults to the model's). */
  static create(model: PretrainedModel, config: AnyPeftConfig, opts: CreateOptions = {}): PeftModel {
    const { tokenizer = null, seed = 42, adapterName = DEFAULT_ADAPTER } = opts;
    checkName(adapterName);
    checkFits(config, model.config);
    const filled = { ...config, base_model_name_or_path: config.base_model_name_or_path ?? model.source };
    const encode = tokenizer ? (text: string) => tokenizer.encode(text) : null;
    const encoder = encoderOf(filled, false);
    let parameters: Float32Array;
    if (filled.peft_type === 'PROMPT_TUNING') {
      parameters = initPrompt(filled, embeddingRows(model), model.config.vocabSize, encode, seed);
    } else if (filled.peft_type === 'MULTITASK_PROMPT_TUNING') {
      const table = { ...filled, peft_type: 'PROMPT_TUNING' as const, prompt_tuning_init: filled.prompt_tuning_init === 'TEXT' ? 'TEXT' as const : 'RANDOM' as const };
      parameters = initParameters(encoder, seed, initPrompt(table, embeddingRows(model), model.config.vocabSize, encode, seed));
    } else {
      parameters = initParameters(encoder, seed);
    }
    return new PeftModel(model, adapterName, filled, parameters);
  }

  /** PeftModel.from_pretrained: the adapter saved in `dir`, as the active adapter. */
  static async fromPretrained(model: PretrainedModel, dir: string, adapterName = DEFAULT_ADAPTER): Promise<PeftModel> {
    checkName(adapterName);
    const { config, parameters } = await readAdapterFor(model, dir);
    return new PeftModel(model, adapterName, config, parameters);
  }

  /** Adds an adapter under `name` without activating it (as PEFT's load_adapter does). */
  async loadAdapter(dir: string, name: string): Promise<void> {
    this.checkNew(name);
    const { config, parameters } = await readAdapterFor(this.model, dir);
    this.addAdapter(name, config, parameters);
  }

  /**
   * Adds an adapter (its parameters copied) under `name` without activating it. The parameters are the encoder's
   * (named_parameters order), or, for P-tuning and prefix tuning, just the table its saved files hold.
   */
  addAdapter(name: string, config: AnyPeftConfig, parameters: Float32Array): void {
    this.checkNew(name);
    checkFits(config, this.model.config);
    const full = encoderOf(config, false);
    const encoder = parameters.length === parameterCount(full) ? full : encoderOf(config, true);
    const size = parameterCount(encoder);
    if (parameters.length !== size) {
      const expected = encoder.params.map((p) => `${p.key} [${p.shape}]`).join(', ');
      throw new ShapeError(`has ${parameters.length} values; expected ${size} (${expected})`, `parameters of adapter "${name}"`);
    }
    this.adapters.set(name, { config: { ...config }, encoder, params: Float32Array.from(parameters) });
  }

  setAdapter(name: string): void {
    this.entry(name);
    this.active = name;
  }

  get activeAdapter(): string {
    return this.active;
  }

  listAdapters(): string[] {
    return [...this.adapters.keys()];
  }

  /** Deleting the active adapter activates the first one left; the last one cannot go (nothing to run with). */
  deleteAdapter(name: string): void {
    this.entry(name);
    if (this.adapters.size === 1) throw new OptionError(`"${name}" is the only adapter; add another before deleting it`, 'adapter_name');
    this.adapters.delete(name);
    if (this.active === name) this.active = this.listAdapters()[0];
  }

  /** The live trainable parameters of an adapter (the active one by default; for prompt tuning the prompt [n, H]). */
  prompt(name = this.active): Float32Array {
    return this.entry(name).params;
  }

  adapterConfig(name = this.active): Readonly<AnyPeftConfig> {
    return this.entry(name).config;
  }

  /** The trainable parameters' PEFT keys and shapes (named_parameters order, without `prompt_encoder.<name>.`). */
  parameterShapes(name = this.active): Array<{ key: string; shape: number[] }> {
    return this.entry(name).encoder.params.map((p) => ({ key: p.key, shape: [...p.shape] }));
  }

  /** What the encoder produces: the prompt [n, H], the prefix vector [n, 2·L·D], or multitask's [tasks, n, H]. */
  encoderOutput(name = this.active): Promise<Float32Array> {
    const { encoder, params } = this.entry(name);
    return encode(this.model, encoder, params);
  }

  /** What each row gets from adapter `name` (a multitask adapter needs each row's task id). */
  async rowInputs(name: string, rows: number, taskIds?: number[] | null): Promise<RowInput[]> {
    const { config } = this.entry(name);
    const out = await this.encoderOutput(name);
    if (config.peft_type === 'PREFIX_TUNING') return new Array<RowInput>(rows).fill({ prefix: out });
    if (config.peft_type !== 'MULTITASK_PROMPT_TUNING') return new Array<RowInput>(rows).fill({ prompt: out });
    const ids = checkTaskIds(taskIds, rows, config.num_tasks);
    const size = config.num_virtual_tokens * config.token_dim;
    return ids.map((t) => ({ prompt: out.subarray(t * size, (t + 1) * size) }));
  }

  /**
   * The active adapter on a batch; multitask adapters read `batch.task_ids`, and adapters whose virtual tokens go before
   * the completion read `batch.completion_start`. With `grad`, the gradient is parameters()'s.
   */
  async forward(batch: ForwardBatch, opts: Omit<ForwardOptions, 'prompt' | 'prefix' | 'promptAt'> = {}): Promise<ForwardResult> {
    const { config, encoder, params } = this.entry(this.active);
    const placed: Pick<ForwardOptions, 'promptAt'> = {};
    if (config.peft_type !== 'PREFIX_TUNING' && virtualTokensPosition(config) === 'before_completion') {
      if (!batch.completion_start) {
        throw new ShapeError('the adapter puts its virtual tokens before the completion: the batch needs completion_start (prompt-completion data, one completion per example)', 'completion_start');
      }
      placed.promptAt = batch.completion_start;
    }
    opts = { ...opts, ...placed };
    const out = await encode(this.model, encoder, params);
    let result: ForwardResult;
    let upstream: Float32Array | null = null;
    if (config.peft_type === 'MULTITASK_PROMPT_TUNING') {
      const B = batch.input_ids.length;
      const ids = checkTaskIds(batch.task_ids, B, config.num_tasks);
      const size = config.num_virtual_tokens * config.token_dim;
      result = await this.model.forward(batch, { ...opts, prompt: ids.map((t) => out.subarray(t * size, (t + 1) * size)) });
      if (result.grad) {
        upstream = new Float32Array(out.length);
        (result.grad as Float32Array[]).forEach((g, b) => {
          const at = ids[b] * size;
          for (let i = 0; i < size; i++) upstream![at + i] += g[i];
        });
      }
    } else {
      result = await this.model.forward(batch, { ...opts, ...(config.peft_type === 'PREFIX_TUNING' ? { prefix: out } : { prompt: out }) });
      upstream = (result.grad as Float32Array | undefined) ?? null;
    }
    if (upstream) result.grad = await encoderGrad(this.model, encoder, params, upstream);
    return result;
  }

  /** The active adapter's parameters: what a trainer updates in place. */
  parameters(): Float32Array {
    return this.prompt();
  }

  /**
   * The active adapter's files for a training checkpoint: PEFT's two, plus every parameter in
   * prompt_encoder.safetensors where PEFT's files hold only the encoder's output.
   */
  async checkpointFiles(): Promise<Record<string, Uint8Array | string>> {
    const { config, encoder, params } = this.entry(this.active);
    const files = adapterFiles(config, await this.savedTensors(this.active));
    if (!holdsParameters(encoder)) {
      const views = parameterViews(encoder, params);
      files[ENCODER_CHECKPOINT] = serializeSafetensors(encoder.params.map((p) => ({ name: p.key, shape: p.shape, data: views.get(p.key)! })));
    }
    return files;
  }

  /** The parameters in a checkpoint's files. */
  parametersFrom(files: Record<string, Uint8Array>, where: string): Float32Array {
    const { encoder } = this.entry(this.active);
    if (!holdsParameters(encoder)) {
      const bytes = files[ENCODER_CHECKPOINT];
      if (!bytes) throw new MissingError(`has no ${ENCODER_CHECKPOINT} (the encoder's weights)`, where);
      const path = `${where}/${ENCODER_CHECKPOINT}`;
      const file = Safetensors.parse(bytes, path);
      return concatParameters(encoder, (key) => {
        const data = file.float32(key);
        checkFinite(key, data, 'not a usable checkpoint', path);
        return data;
      });
    }
    return parametersOf(encoder, parseAdapterFiles(files, where));
  }

  /** Every adapter (or the selected ones): `default` into `dir`, any other into `dir/<name>`. */
  async savePretrained(dir: string, opts: { selectedAdapters?: string[] } = {}): Promise<void> {
    const names = opts.selectedAdapters ?? this.listAdapters();
    for (const name of names) this.entry(name);
    for (const name of names) {
      const { config } = this.entry(name);
      const saved = { ...config, base_model_name_or_path: config.base_model_name_or_path ?? this.model.source };
      await saveAdapter(name === DEFAULT_ADAPTER ? dir : adapterSubdir(dir, name), saved, await this.savedTensors(name));
    }
  }

  /** What PEFT saves of an adapter: the encoder's output as `prompt_embeddings`, or multitask's three tensors. */
  async savedTensors(name = this.active): Promise<SavedTensor[]> {
    const { config, encoder, params } = this.entry(name);
    if (config.peft_type === 'MULTITASK_PROMPT_TUNING') {
      const views = parameterViews(encoder, params);
      const rename = (key: string) => (key === 'embedding.weight' ? 'prompt_embeddings' : key);
      return encoder.params.map((p) => ({ name: rename(p.key), shape: p.shape, data: views.get(p.key)! }));
    }
    const out = await encode(this.model, encoder, params);
    return [{ name: 'prompt_embeddings', shape: encoder.output, data: out }];
  }

  /** Estimated peak bytes of a training step: the frozen weights plus what forward + backward keep. */
  stepBytes(batch: number, seq: number): number {
    this.baseParameters ??= countBaseParameters(this.model.config);
    const n = this.adapters.get(this.active)!.config.num_virtual_tokens;
    return weightBytes(this.baseParameters) + trainingActivationBytes(this.model.config, batch, seq + n);
  }

  /** The base model's config and the active adapter's config (without where the model was loaded from). */
  fingerprint(): { model: string; adapter_config: string } {
    const { base_model_name_or_path: _base, inference_mode: _mode, ...config } = this.adapterConfig();
    return {
      model: new Fingerprint().string(stableJson(this.model.config.raw)).digest(),
      adapter_config: new Fingerprint().string(stableJson(config)).digest(),
    };
  }

  /** The active adapter's virtual tokens (prompt or prefix) plus `tokens` real ones must fit the model's positions. */
  checkSequenceLength(tokens: number): void {
    const limit = trainingPositionLimit(this.model.config);
    const n = this.adapters.get(this.active)!.config.num_virtual_tokens;
    if (limit !== null && n + tokens > limit.max) {
      throw new ShapeError(
        `an example of ${tokens} tokens plus ${n} virtual tokens takes ${n + tokens} positions, beyond the model's ${limit.key} ${limit.max} (truncate examples with max_length <= ${limit.max - n})`,
        'train_dataset',
      );
    }
  }

  /**
   * Like PEFT's get_nb_trainable_parameters for one trained adapter: trainable = the active adapter's parameters, all =
   * the base model plus every adapter's. (PEFT leaves loaded prompts requires_grad too; softprompt trains only the
   * active one, so counts differ from PEFT only when several adapters are held.)
   */
  trainableParameters(): ParameterCounts {
    this.baseParameters ??= countBaseParameters(this.model.config);
    let all = this.baseParameters;
    for (const { params } of this.adapters.values()) all += params.length;
    return parameterCounts(this.prompt().length, all);
  }

  /** The line PEFT's print_trainable_parameters prints. */
  printTrainableParameters(): string {
    return formatParameterCounts(this.trainableParameters());
  }

  private entry(name: string): Entry {
    const entry = this.adapters.get(name);
    if (!entry) throw new MissingError(`no adapter "${name}" (adapters: ${this.listAdapters().join(', ')})`, 'adapter_name');
    return entry;
  }

  private checkNew(name: string): void {
    checkName(name);
    if (this.adapters.has(name)) throw new OptionError(`an adapter named "${name}" is already loaded`, 'adapter_name');
  }
}

/** Whether PEFT's saved files hold every parameter (a table, or multitask's three tensors). */
function holdsParameters(encoder: Encoder): boolean {
  return encoder.build === null || encoder.id.startsWith('multitask:');
}

function concatParameters(encoder: Encoder, tensor: (key: string) => Float32Array): Float32Array {
  const flat = new Float32Array(parameterCount(encoder));
  const views = parameterViews(encoder, flat);
  for (const p of encoder.params) {
    const data = tensor(p.key);
    const view = views.get(p.key)!;
    if (data.length !== view.length) throw new ShapeError(`has ${data.length} values; expected [${p.shape}]`, p.key);
    view.set(data);
  }
  return flat;
}

/** The parameters a loaded adapter's tensors give its encoder. */
function parametersOf(encoder: Encoder, adapter: Adapter): Float32Array {
  const tensor = (key: string) => {
    const t = adapter.tensors.get(key === 'embedding.weight' ? 'prompt_embeddings' : key);
    if (!t) throw new MissingError(`the adapter has no tensor "${key}"`, 'adapter_model.safetensors');
    return t.data;
  };
  return concatParameters(encoder, tensor);
}

/** Multitask prompt tuning's task per row: required, one per row, each in [0, num_tasks). */
export function checkTaskIds(taskIds: number[] | null | undefined, rows: number, tasks: number): number[] {
  if (!taskIds) throw new OptionError('are required by a multitask prompt-tuning adapter (one task id per row)', 'task_ids');
  if (taskIds.length !== rows) throw new ShapeError(`has ${taskIds.length} entries for ${rows} rows; expected one per row`, 'task_ids');
  for (const t of taskIds) {
    if (!Number.isSafeInteger(t) || t < 0 || t >= tasks) throw new OptionError(`holds ${t}; expected task ids in [0, ${tasks})`, 'task_ids');
  }
  return taskIds;
}

async function readAdapterFor(model: PretrainedModel, dir: string): Promise<{ config: AnyPeftConfig; parameters: Float32Array }> {
  const adapter = await loadAdapter(dir);
  checkAdapterFits(adapter, model.config, dir);
  const config = adapterConfigOf(adapter, dir);
  return { config, parameters: parametersOf(encoderOf(config, true), adapter) };
}

/** Non-default adapters are saved in a subdirectory named after them, so the name must be one path segment. */
function checkName(name: string): void {
  if (name === '' || name === '.' || name === '..' || /[/\\]/.test(name)) {
    throw new OptionError(`${JSON.stringify(name)} cannot name a subdirectory; expected a plain name`, 'adapter_name');
  }
}

function checkFits(config: AnyPeftConfig, model: ModelConfig): void {
  if (config.peft_type === 'PREFIX_TUNING') {
    if ((config as { virtual_tokens_position?: string }).virtual_tokens_position === 'before_completion') {
      throw new UnsupportedError('"before_completion" does not apply to prefix tuning (a prefix is the attention cache, in front of every token)', 'virtual_tokens_position');
    }
    const want = prefixTokenDim(model);
    if (config.token_dim !== want) throw new ShapeError(`is ${config.token_dim} but the model's KV heads × head size is ${want}`, 'token_dim');
    if (config.num_layers !== model.numLayers) throw new ShapeError(`is ${config.num_layers} but the model has ${model.numLayers} layers`, 'num_layers');
  } else {
    const width = promptWidth(model);
    if (config.token_dim !== width) {
      throw new ShapeError(`is ${config.token_dim} but the model's ${width === model.hiddenSize ? 'hidden size' : 'prompt width'} is ${width}`, 'token_dim');
    }
  }
  // The prompt (or prefix) takes positions too: it must leave room for at least one real token.
  const limit = trainingPositionLimit(model);
  if (limit !== null && config.num_virtual_tokens >= limit.max) {
    throw new ShapeError(`is ${config.num_virtual_tokens}, leaving no room for tokens within the model's ${limit.key} ${limit.max}`, 'num_virtual_tokens');
  }
}

/** JSON with object keys sorted, so equal configs give equal text whatever order their keys were read in. */
function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
