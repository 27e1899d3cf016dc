/**
 * PEFT's prompt-learning API: PromptTuningConfig (and, in peft-methods.ts, PromptEncoderConfig, PrefixTuningConfig,
 * MultitaskPromptTuningConfig), get_peft_model, and PeftModel with named adapters (save_pretrained, from_pretrained
 * dispatching on the saved peft_type, load_adapter, set_adapter, delete_adapter), `task_ids` for multitask adapters,
 * plus per-row adapters in one generate batch (`adapter_names`, PEFT's keyword for mixed batches; '__base__' = no
 * adapter), whose methods may differ.
 */
import { MissingError, OptionError, ShapeError } from '../errors.js';
import { adapterInputs } from '../generate/adapters.js';
import { generate } from '../generate/generate.js';
import { promptTuningFields, withModelDims, type PromptTuningInit as Init, type VirtualTokensPosition } from '../peft/config.js';
import { locateAdapter } from '../peft/adapter-files.js';
import type { AnyPeftConfig } from '../peft/methods.js';
import { DEFAULT_ADAPTER, PeftModel as EnginePeftModel } from '../peft/peft-model.js';
import { tokenizerFromPretrained } from '../tokenizer/pretrained.js';
import type { CausalLMOutput, GenerateOptions, ModelInputs, PreTrainedModel } from './model.js';
import { Tensor } from './model.js';
import { hubOptions, type FromPretrainedOptions } from './hub-options.js';
import { methodConfig, type MultitaskPromptTuningConfig, type PrefixTuningConfig, type PromptEncoderConfig } from './peft-methods.js';

export type { VirtualTokensPosition } from '../peft/config.js';

/** PEFT's task types; softprompt runs causal LMs. */
export const TaskType = { CAUSAL_LM: 'CAUSAL_LM' } as const;
/** How a new soft prompt starts: N(0, 1), embeddings of the init text's tokens, or rows of random vocabulary tokens. */
export type PromptTuningInit = 'RANDOM' | 'TEXT' | 'SAMPLE_VOCAB';
/** PEFT's PromptTuningInit values, for `prompt_tuning_init: PromptTuningInit.TEXT`. */
export const PromptTuningInit = { RANDOM: 'RANDOM', TEXT: 'TEXT', SAMPLE_VOCAB: 'SAMPLE_VOCAB' } as const satisfies Record<Init, PromptTuningInit>;

/** The adapter name that means "no soft prompt" in `adapter_names`, as PEFT's mixed batches use it. */
export const BASE_ADAPTER = '__base__';

/** The fields `new PromptTuningConfig` takes (PEFT's names). */
export interface PromptTuningConfigOptions {
  task_type: 'CAUSAL_LM';
  num_virtual_tokens: number;
  /** Default RANDOM. */
  prompt_tuning_init?: PromptTuningInit;
  /** Required with TEXT init. */
  prompt_tuning_init_text?: string | null;
  /** The tokenizer TEXT init encodes its text with (required with TEXT init, as PEFT requires it). */
  tokenizer_name_or_path?: string | null;
  tokenizer_kwargs?: Record<string, unknown> | null;
  revision?: string | null;
  base_model_name_or_path?: string | null;
  inference_mode?: boolean;
  /** softprompt's extension: 'before_completion' puts the virtual tokens after the input, right before the answer. Default 'start' (PEFT's). */
  virtual_tokens_position?: VirtualTokensPosition;
}

/** PEFT's PromptTuningConfig; its fields are adapter_config.json's. Validated on construction, as PEFT does. */
export class PromptTuningConfig {
  readonly peft_type = 'PROMPT_TUNING';
  task_type: 'CAUSAL_LM';
  num_virtual_tokens: number;
  num_transformer_submodules: 1 = 1;
  prompt_tuning_init: PromptTuningInit;
  prompt_tuning_init_text: string | null;
  tokenizer_name_or_path: string | null;
  tokenizer_kwargs: Record<string, unknown> | null;
  base_model_name_or_path: string | null;
  revision: string | null;
  inference_mode: boolean;
  auto_mapping: Record<string, unknown> | null = null;
  /** Filled in by get_peft_model from the model: the hidden size, heads and layers. */
  token_dim: number | null = null;
  num_attention_heads: number | null = null;
  num_layers: number | null = null;
  /** 'before_completion' when given; absent means 'start', as in adapter_config.json, which then leaves it out. */
  virtual_tokens_position?: VirtualTokensPosition;

  constructor(opts: PromptTuningConfigOptions) {
    if (opts.task_type !== TaskType.CAUSAL_LM) {
      throw new OptionError(`is ${JSON.stringify(opts.task_type)}; softprompt runs causal LMs: expected "CAUSAL_LM"`, 'task_type');
    }
    const fields = promptTuningFields(opts, opts.base_model_name_or_path);
    this.task_type = fields.task_type;
    this.num_virtual_tokens = fields.num_virtual_tokens;
    this.prompt_tuning_init = fields.prompt_tuning_init;
    this.prompt_tuning_init_text = fields.prompt_tuning_init_text;
    this.tokenizer_name_or_path = fields.tokenizer_name_or_path;
    this.tokenizer_kwargs = fields.tokenizer_kwargs;
    this.base_model_name_or_path = fields.base_model_name_or_path;
    this.revision = fields.revision;
    this.inference_mode = opts.inference_mode ?? false;
    if (fields.virtual_tokens_position) this.virtual_tokens_position = fields.virtual_tokens_position;
  }
}

/** Which name an adapter gets (PEFT's default: "default"). */
export interface PeftModelOptions {
  adapter_name?: string;
}

/** Options of loading a saved adapter. */
export interface LoadAdapterOptions extends FromPretrainedOptions {
  /** PEFT loads adapters for inference unless told otherwise; a Trainer refuses a model whose active adapter is not trainable. */
  is_trainable?: boolean;
}

/**
 * get_peft_model: the model with a freshly initialised soft prompt (TEXT init tokenizes the init text with the
 * tokenizer at tokenizer_name_or_path, as PEFT does). `seed` fixes RANDOM / SAMPLE_VOCAB init (default 42).
 */
export async function get_peft_model(
  model: PreTrainedModel,
  config: PromptTuningConfig | PromptEncoderConfig | PrefixTuningConfig | MultitaskPromptTuningConfig,
  opts: PeftModelOptions & { seed?: number } = {},
): Promise<PeftModel> {
  const filled: AnyPeftConfig = config instanceof PromptTuningConfig
    ? withModelDims({ ...promptTuningFields(config, config.base_model_name_or_path ?? model.name_or_path), inference_mode: config.inference_mode }, model.model.config)
    : methodConfig(config, model.model.config, model.name_or_path);
  const text = 'prompt_tuning_init' in filled && filled.prompt_tuning_init === 'TEXT';
  const tokenizer = text ? await tokenizerFromPretrained(filled.tokenizer_name_or_path!) : null;
  const engine = EnginePeftModel.create(model.model, filled, {
    tokenizer, seed: opts.seed, adapterName: opts.adapter_name ?? DEFAULT_ADAPTER,
  });
  return new PeftModel(model, engine, new Set([engine.activeAdapter]));
}

/** `forward`'s inputs; a multitask adapter needs each row's task id. */
export interface PeftModelInputs extends ModelInputs {
  task_ids?: number[];
}

/** A frozen base model plus named adapters (soft prompts, prompt encoders, prefixes), one of them active. */
export class PeftModel {
  /** @internal */
  constructor(
    readonly base_model: PreTrainedModel,
    /** @internal The engine-level PeftModel (its live prompts are what a Trainer updates). */
    readonly peft: EnginePeftModel,
    private readonly trainable: Set<string>,
  ) {}

  /**
   * PeftModel.from_pretrained: the adapter saved in `model_id` (a directory of PEFT's files, or a hub repo id fetched
   * into the cache), as the active adapter.
   */
  static async from_pretrained(model: PreTrainedModel, model_id: string, opts: PeftModelOptions & LoadAdapterOptions = {}): Promise<PeftModel> {
    const name = opts.adapter_name ?? DEFAULT_ADAPTER;
    const engine = await EnginePeftModel.fromPretrained(model.model, await locateAdapter(model_id, hubOptions(opts)), name);
    return new PeftModel(model, engine, new Set(opts.is_trainable ? [name] : []));
  }

  get active_adapter(): string {
    return this.peft.activeAdapter;
  }

  /** Every adapter's config by name, as PEFT's `peft_config`. */
  get peft_config(): Record<string, Readonly<PromptTuningConfig | PromptEncoderConfig | PrefixTuningConfig | MultitaskPromptTuningConfig>> {
    return Object.fromEntries(this.peft.listAdapters().map((name) => [name, this.peft.adapterConfig(name)]));
  }

  /** Whether the active adapter may be trained (false for adapters loaded without is_trainable, as in PEFT). */
  get is_trainable(): boolean {
    return this.trainable.has(this.active_adapter);
  }

  /** Adds the adapter saved in `model_id` (a directory or a hub repo id) under `adapter_name`, without activating it. */
  async load_adapter(model_id: string, adapter_name: string, opts: LoadAdapterOptions = {}): Promise<void> {
    await this.peft.loadAdapter(await locateAdapter(model_id, hubOptions(opts)), adapter_name);
    if (opts.is_trainable) this.trainable.add(adapter_name);
  }

  /** Makes `adapter_name` the active adapter. */
  set_adapter(adapter_name: string): void {
    this.peft.setAdapter(adapter_name);
  }

  /** Removes an adapter; deleting the active one activates the first left (the last one cannot go). */
  delete_adapter(adapter_name: string): void {
    this.peft.deleteAdapter(adapter_name);
    this.trainable.delete(adapter_name);
  }

  /** PEFT's files: the default adapter in `dir`, every other one in `dir/<name>`. */
  async save_pretrained(dir: string, opts: { selected_adapters?: string[] } = {}): Promise<void> {
    await this.peft.savePretrained(dir, { selectedAdapters: opts.selected_adapters });
  }

  /** [trainable, all] parameters, as PEFT's get_nb_trainable_parameters. */
  get_nb_trainable_parameters(): [number, number] {
    const { trainable, all } = this.peft.trainableParameters();
    return [trainable, all];
  }

  /** Prints (and returns) PEFT's line: `trainable params: 4,096 || all params: ... || trainable%: ...`. */
  print_trainable_parameters(): string {
    const line = this.peft.printTrainableParameters();
    console.log(line);
    return line;
  }

  /**
   * With the active adapter; as in PEFT, logits have num_virtual_tokens more positions than the input for the
   * prompt methods, and as many as the input for prefix tuning.
   */
  async forward(inputs: PeftModelInputs): Promise<CausalLMOutput> {
    const out = await this.peft.forward(inputs);
    return { logits: new Tensor(out.logits!.data as Float32Array, out.logits!.dims), ...(out.loss === undefined ? {} : { loss: out.loss }) };
  }

  /**
   * Generates with the active adapter, or with `adapter_names` one adapter per row ('__base__' = the base model):
   * each row then comes out as it would alone, whatever method its adapter uses. `task_ids`: each row's task for
   * multitask adapters. Returns input ids + new ids per row (virtual tokens never appear).
   */
  async generate(opts: GenerateOptions & { adapter_names?: string[]; task_ids?: number[] }): Promise<number[][]> {
    const { adapter_names, task_ids, ...rest } = opts;
    const request = this.base_model.request(rest);
    if (adapter_names !== undefined) {
      if (adapter_names.length !== opts.input_ids.length) {
        throw new ShapeError(`has ${adapter_names.length} names for ${opts.input_ids.length} rows; expected one per row`, 'adapter_names');
      }
      for (const name of adapter_names) if (name !== BASE_ADAPTER) this.checkAdapter(name);
    }
    const names = adapter_names?.map((name) => (name === BASE_ADAPTER ? null : name));
    Object.assign(request, await adapterInputs(this.peft, opts.input_ids.length, { task_ids, adapter_names: names }));
    return (await generate(this.base_model.model, opts.tokenizer?.text_tokenizer ?? null, request)).sequences;
  }

  /** Stops the base model's engine. */
  async dispose(): Promise<void> {
    await this.base_model.dispose();
  }

  private checkAdapter(name: string): void {
    if (!this.peft.listAdapters().includes(name)) {
      throw new MissingError(`no adapter "${name}" (adapters: ${this.peft.listAdapters().join(', ')}, or ${BASE_ADAPTER})`, 'adapter_names');
    }
  }
}
