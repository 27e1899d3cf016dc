/**
 * PEFT's PeftModel for prompt tuning: a frozen PretrainedModel plus named soft prompts, one of them active. forward
 * prepends the active prompt; savePretrained writes the default adapter in `dir/` and every other one in
 * `dir/<name>/`, as PEFT does. parameters(), checkpointFiles() and parametersFrom() are what train/'s TrainableModel
 * asks for (peft sits below train, so it satisfies that interface without naming it): the active prompt and its
 * adapter files.
 */
import { join } from 'node:path';
import { Fingerprint } from '../random.js';
import { MissingError, OptionError, ShapeError } from '../errors.js';
import { loadAdapter, saveAdapter } from './adapter-files.js';
import { promptWidth } from '../models/architectures.js';
import type { ModelConfig } from '../models/config.js';
import type { ForwardBatch, ForwardOptions, ForwardResult, PretrainedModel } from '../models/model.js';
import type { TextTokenizer } from '../tokenizer/tokenizer.js';
import { adapterFiles, checkAdapterFits, parseAdapterFiles, promptTuningConfigOf } from './adapter.js';
import { virtualTokensPosition, type PromptTuningConfig } from './config.js';
import { embeddingRows, initPrompt } from './init.js';
import { trainingActivationBytes, weightBytes } from '../models/memory.js';
import { trainingPositionLimit } from '../models/architectures.js';
import { countBaseParameters, formatParameterCounts, parameterCounts, type ParameterCounts } from './parameters.js';

export const DEFAULT_ADAPTER = 'default';

export interface CreateOptions {
  /** Needed for TEXT init. */
  tokenizer?: TextTokenizer | null;
  /** For RANDOM and SAMPLE_VOCAB init; 42 (transformers' default seed) when absent, so runs repeat. */
  seed?: number;
  adapterName?: string;
}

export class PeftModel {
  private readonly adapters = new Map<string, { config: PromptTuningConfig; prompt: Float32Array }>();
  private active: string;
  private baseParameters: number | null = null;

  private constructor(
    readonly model: PretrainedModel,
    name: string,
    config: PromptTuningConfig,
    prompt: Float32Array,
  ) {
    this.active = name;
    this.addAdapter(name, config, prompt);
  }

  /** get_peft_model: a freshly initialised prompt for `config` (base_model_name_or_path defaults to the model's). */
  static create(model: PretrainedModel, config: PromptTuningConfig, opts: CreateOptions = {}): PeftModel {
    const { tokenizer = null, seed = 42, adapterName = DEFAULT_ADAPTER } = opts;
    checkName(adapterName);
    checkFits(config, model.config);
    const filled = { ...config, base_model_name_or_path: config.base_model_name_or_path ?? model.source };
    const encode = tokenizer ? (text: string) => tokenizer.encode(text) : null;
    const prompt = initPrompt(filled, embeddingRows(model), model.config.vocabSize, encode, seed);
    return new PeftModel(model, adapterName, filled, prompt);
  }

  /** PeftModel.from_pretrained: the adapter saved in `dir`, as the active adapter. */
  static async fromPretrained(model: PretrainedModel, dir: string, adapterName = DEFAULT_ADAPTER): Promise<PeftModel> {
    checkName(adapterName);
    const { config, prompt } = await readAdapterFor(model, dir);
    return new PeftModel(model, adapterName, config, prompt);
  }

  /** Adds an adapter under `name` without activating it (as PEFT's load_adapter does). */
  async loadAdapter(dir: string, name: string): Promise<void> {
    this.checkNew(name);
    const { config, prompt } = await readAdapterFor(this.model, dir);
    this.addAdapter(name, config, prompt);
  }

  /** Adds a prompt [num_virtual_tokens, token_dim] (copied) under `name` without activating it. */
  addAdapter(name: string, config: PromptTuningConfig, prompt: Float32Array): void {
    this.checkNew(name);
    checkFits(config, this.model.config);
    const size = config.num_virtual_tokens * config.token_dim;
    if (prompt.length !== size) {
      const expected = `[${config.num_virtual_tokens}, ${config.token_dim}]`;
      throw new ShapeError(`has ${prompt.length} values; expected ${expected}`, `prompt of adapter "${name}"`);
    }
    this.adapters.set(name, { config: { ...config }, prompt: Float32Array.from(prompt) });
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

  /** The live prompt [n, H] of an adapter (the active one by default): a trainer updates it in place. */
  prompt(name = this.active): Float32Array {
    return this.entry(name).prompt;
  }

  adapterConfig(name = this.active): Readonly<PromptTuningConfig> {
    return this.entry(name).config;
  }

  /** The base model's forward with the active prompt, in front or (its config says so) before each completion. */
  forward(batch: ForwardBatch, opts: Omit<ForwardOptions, 'prompt' | 'promptAt'> = {}): Promise<ForwardResult> {
    if (virtualTokensPosition(this.adapterConfig()) === 'start') return this.model.forward(batch, { ...opts, prompt: this.prompt() });
    if (!batch.completion_start) {
      throw new ShapeError('the adapter puts its virtual tokens before the completion: the batch needs completion_start (prompt-completion data)', 'completion_start');
    }
    return this.model.forward(batch, { ...opts, prompt: this.prompt(), promptAt: batch.completion_start });
  }

  /** The active prompt: what a trainer updates in place. */
  parameters(): Float32Array {
    return this.prompt();
  }

  /** The active adapter's files, for a training checkpoint. */
  checkpointFiles(): Record<string, Uint8Array | string> {
    return adapterFiles(this.adapterConfig(), this.prompt());
  }

  /** The prompt in a checkpoint's adapter files. */
  parametersFrom(files: Record<string, Uint8Array>, where: string): Float32Array {
    return parseAdapterFiles(files, where).prompt;
  }

  /** Every adapter (or the selected ones): `default` into `dir`, any other into `dir/<name>`. */
  async savePretrained(dir: string, opts: { selectedAdapters?: string[] } = {}): Promise<void> {
    const names = opts.selectedAdapters ?? this.listAdapters();
    for (const name of names) this.entry(name);
    for (const name of names) {
      const { config, prompt } = this.entry(name);
      const saved = { ...config, base_model_name_or_path: config.base_model_name_or_path ?? this.model.source };
      await saveAdapter(name === DEFAULT_ADAPTER ? dir : join(dir, name), saved, prompt);
    }
  }

  /**
   * Like PEFT's get_nb_trainable_parameters for one trained prompt: trainable = the active prompt, all = the base
   * model plus every adapter's prompt. (PEFT leaves loaded prompts requires_grad too; softprompt trains only the
   * active one, so counts differ from PEFT only when several adapters are held.)
   */
  /** Estimated peak bytes of a prompt-tuning step: the frozen weights plus what forward + backward keep. */
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

  /** The active prompt's virtual tokens plus `tokens` real ones must fit the model's positions. */
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

  trainableParameters(): ParameterCounts {
    this.baseParameters ??= countBaseParameters(this.model.config);
    let all = this.baseParameters;
    for (const { prompt } of this.adapters.values()) all += prompt.length;
    return parameterCounts(this.prompt().length, all);
  }

  /** The line PEFT's print_trainable_parameters prints. */
  printTrainableParameters(): string {
    return formatParameterCounts(this.trainableParameters());
  }

  private entry(name: string): { config: PromptTuningConfig; prompt: Float32Array } {
    const entry = this.adapters.get(name);
    if (!entry) throw new MissingError(`no adapter "${name}" (adapters: ${this.listAdapters().join(', ')})`, 'adapter_name');
    return entry;
  }

  private checkNew(name: string): void {
    checkName(name);
    if (this.adapters.has(name)) throw new OptionError(`an adapter named "${name}" is already loaded`, 'adapter_name');
  }
}

async function readAdapterFor(model: PretrainedModel, dir: string): Promise<{ config: PromptTuningConfig; prompt: Float32Array }> {
  const adapter = await loadAdapter(dir);
  checkAdapterFits(adapter, model.config, dir);
  return { config: promptTuningConfigOf(adapter, dir), prompt: adapter.prompt };
}

/** Non-default adapters are saved in a subdirectory named after them, so the name must be one path segment. */
function checkName(name: string): void {
  if (name === '' || name === '.' || name === '..' || /[/\\]/.test(name)) {
    throw new OptionError(`${JSON.stringify(name)} cannot name a subdirectory; expected a plain name`, 'adapter_name');
  }
}

function checkFits(config: PromptTuningConfig, model: ModelConfig): void {
  const width = promptWidth(model);
  if (config.token_dim !== width) {
    throw new ShapeError(`is ${config.token_dim} but the model's ${width === model.hiddenSize ? 'hidden size' : 'prompt width'} is ${width}`, 'token_dim');
  }
  // The prompt takes positions too: it must leave room for at least one real token.
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
