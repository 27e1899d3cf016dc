/**
 * PEFT's prompt-learning adapter format, read and written byte for byte as PEFT 0.10 does. A directory holds:
 * - `adapter_config.json`: the config as Python's json.dumps(indent=2, sort_keys=True) prints it, with
 *   `inference_mode: true` and no final newline; loaders require `peft_type` and ignore keys they do not know.
 * - `adapter_model.safetensors`, F32 tensors with metadata `{"format": "pt"}`:
 *   - PROMPT_TUNING: `prompt_embeddings` [num_virtual_tokens, token_dim];
 *   - P_TUNING: the same shape, holding the prompt encoder's OUTPUT (PEFT's get_prompt_embedding_to_save): the MLP or
 *     LSTM weights are not saved, so an adapter cannot resume training (softprompt's checkpoints keep them);
 *   - PREFIX_TUNING: `prompt_embeddings` [num_virtual_tokens, 2 · num_layers · token_dim], the prefix vector (with
 *     prefix_projection: the projection's output; its weights are not saved);
 *   - MULTITASK_PROMPT_TUNING: `prefix_task_cols` [tasks, n, ranks], `prefix_task_rows` [tasks, ranks, token_dim] and
 *     `prompt_embeddings` [n, token_dim], the shared, unscaled table.
 */
import { FormatError, MissingError, ShapeError, UnsupportedError } from '../errors.js';
import { promptWidth } from '../models/architectures.js';
import type { ModelConfig } from '../models/config.js';
import { Safetensors, checkFinite, serializeSafetensors } from '../weights/safetensors.js';
import { PROMPT_TUNING_INITS, VIRTUAL_TOKENS_POSITIONS, type PromptTuningConfig, type PromptTuningInit, type VirtualTokensPosition } from './config.js';
import {
  ENCODER_TYPES, FLOAT_CONFIG_KEYS, MULTITASK_INITS, PEFT_TYPES, type AnyPeftConfig, type EncoderType, type MultitaskInit, type PeftType,
} from './methods.js';
import { pythonJsonDumps } from './python.js';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

export interface Adapter {
  /** The adapter_config.json object as read, unknown keys included (adapterConfigOf drops them, as PEFT does). */
  config: Record<string, unknown>;
  peftType: PeftType;
  numVirtualTokens: number;
  /** The config's token_dim (for prompt-like adapters also prompt_embeddings' width). */
  tokenDim: number;
  /** `prompt_embeddings` [numVirtualTokens, width]: the prompt, P-tuning's encoder output, or prefix tuning's vector. */
  prompt: Float32Array;
  /** Every saved tensor by name (multitask's `prefix_task_cols` and `prefix_task_rows` besides the prompt). */
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

export function parseAdapter(configJson: unknown, weights: Uint8Array, dir: string): Adapter {
  const configPath = `${dir}/${ADAPTER_CONFIG}`;
  const weightsPath = `${dir}/${ADAPTER_WEIGHTS}`;
  if (typeof configJson !== 'object' || configJson === null || Array.isArray(configJson)) {
    throw new FormatError('expected a JSON object', configPath);
  }
  const config = configJson as Record<string, unknown>;
  const expected = PEFT_TYPES.map((t) => JSON.stringify(t)).join(', ');
  if (config.peft_type === undefined) throw new FormatError(`missing "peft_type" (expected one of ${expected})`, configPath);
  if (!PEFT_TYPES.includes(config.peft_type as PeftType)) {
    throw new UnsupportedError(`peft_type ${JSON.stringify(config.peft_type)} is not supported (expected one of ${expected})`, configPath);
  }
  const peftType = config.peft_type as PeftType;
  const file = Safetensors.parse(weights, weightsPath);
  const entry = file.entry('prompt_embeddings');
  if (entry.shape.length !== 2) throw new ShapeError(`prompt_embeddings has shape [${entry.shape}], expected [n, width]`, weightsPath);
  const [n, width] = entry.shape;
  if (config.num_virtual_tokens !== undefined && config.num_virtual_tokens !== n) {
    throw new ShapeError(`num_virtual_tokens is ${config.num_virtual_tokens} but prompt_embeddings has shape [${entry.shape}]`, configPath);
  }
  let tokenDim = width;
  if (peftType === 'PREFIX_TUNING') {
    // [n, 2 · num_layers · token_dim]
    const { token_dim: dim, num_layers: layers } = config;
    if (!Number.isSafeInteger(dim) || !Number.isSafeInteger(layers)) {
      throw new FormatError('a prefix-tuning adapter needs integer "token_dim" and "num_layers"', configPath);
    }
    if (width !== 2 * (layers as number) * (dim as number)) {
      throw new ShapeError(`prompt_embeddings has shape [${entry.shape}] but 2 × num_layers × token_dim is ${2 * (layers as number) * (dim as number)}`, configPath);
    }
    tokenDim = dim as number;
  } else if (config.token_dim !== undefined && config.token_dim !== width) {
    throw new ShapeError(`token_dim is ${config.token_dim} but prompt_embeddings has shape [${entry.shape}]`, configPath);
  }
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const name of file.names()) {
    const data = Float32Array.from(file.float32(name));
    checkFinite(name, data, 'not a usable adapter', weightsPath);
    tensors.set(name, { shape: file.entry(name).shape, data });
  }
  if (peftType === 'MULTITASK_PROMPT_TUNING') {
    for (const name of ['prefix_task_cols', 'prefix_task_rows']) if (!tensors.has(name)) throw new MissingError(`has no tensor "${name}"`, weightsPath);
  }
  return { config, peftType, numVirtualTokens: n, tokenDim, prompt: tensors.get('prompt_embeddings')!.data, tensors };
}

/**
 * An adapter made for another model cannot run on this one: a prompt must be as wide as the prompt width; a prefix
 * needs the model's layers and, per layer, every KV head's keys and values (PEFT >= 0.12's dims on grouped-query
 * models; PEFT 0.10's defaults size the prefix by the query heads there, which no version can run).
 */
export function checkAdapterFits(adapter: Adapter, model: ModelConfig, dir: string): void {
  const path = `${dir}/${ADAPTER_CONFIG}`;
  if (adapter.peftType !== 'PREFIX_TUNING') {
    const width = promptWidth(model);
    if (adapter.tokenDim !== width) {
      const what = width === model.hiddenSize ? 'hidden size' : 'prompt width';
      throw new ShapeError(`token_dim is ${adapter.tokenDim} but the model's ${what} is ${width} (adapter made for another model?)`, path);
    }
    return;
  }
  const { num_layers: layers, num_attention_heads: heads } = adapter.config;
  const want = model.numKvHeads * model.headDim;
  if (layers !== model.numLayers) throw new ShapeError(`num_layers is ${layers} but the model has ${model.numLayers} layers (adapter made for another model?)`, path);
  if (adapter.tokenDim !== want || (heads !== undefined && heads !== null && heads !== model.numKvHeads)) {
    throw new ShapeError(
      `token_dim ${adapter.tokenDim} with num_attention_heads ${heads} does not fit the model's past keys/values ` +
        `(${model.numKvHeads} KV heads × head size ${model.headDim} = ${want}; adapter made for another model, or with PEFT < 0.12's ` +
        'defaults on a grouped-query model?)',
      path,
    );
  }
}

/** Reads adapter_config.json's fields with PEFT's types; absent or null keys give null. */
function fieldReader(c: Record<string, unknown>, path: string) {
  const optional = <T>(key: string, ok: (v: unknown) => boolean, expected: string): T | null => {
    const v = c[key];
    if (v === undefined || v === null) return null;
    if (!ok(v)) throw new FormatError(`"${key}" is ${JSON.stringify(v)}; expected ${expected}`, path);
    return v as T;
  };
  return {
    optional,
    string: (key: string) => optional<string>(key, (v) => typeof v === 'string', 'a string'),
    object: (key: string) => optional<Record<string, unknown>>(key, (v) => typeof v === 'object' && !Array.isArray(v), 'an object'),
    count: (key: string) => optional<number>(key, (v) => Number.isSafeInteger(v) && (v as number) > 0, 'a positive integer'),
    index: (key: string) => optional<number>(key, (v) => Number.isSafeInteger(v) && (v as number) >= 0, 'an integer >= 0'),
    number: (key: string) => optional<number>(key, (v) => typeof v === 'number', 'a number'),
    boolean: (key: string) => optional<boolean>(key, (v) => typeof v === 'boolean', 'true or false'),
  };
}

/**
 * The adapter's config, by its peft_type: keys PEFT does not define are dropped (as PEFT drops them), absent ones take
 * PEFT's defaults, and it is marked for inference as PeftModel.from_pretrained marks loaded adapters.
 */
export function adapterConfigOf(adapter: Adapter, dir: string): AnyPeftConfig {
  const path = `${dir}/${ADAPTER_CONFIG}`;
  const read = fieldReader(adapter.config, path);
  // Other task types mean another head (SEQ_CLS, ...) or a doubled prompt (SEQ_2_SEQ_LM): not this causal LM's adapter.
  const task = read.string('task_type');
  if (task !== null && task !== 'CAUSAL_LM') {
    throw new UnsupportedError(`task_type ${JSON.stringify(task)} is not supported (expected "CAUSAL_LM")`, path);
  }
  const submodules = read.count('num_transformer_submodules');
  if (submodules !== null && submodules !== 1) {
    throw new UnsupportedError(`num_transformer_submodules ${submodules} is not supported (expected 1: a causal LM)`, path);
  }
  // softprompt's extension (see config.ts): kept only when not 'start', for the methods whose prompt is a sequence of
  // input embeddings; a prefix is every layer's past keys/values, always in front.
  const isPosition = (v: unknown) => VIRTUAL_TOKENS_POSITIONS.includes(v as VirtualTokensPosition);
  const position = read.optional<VirtualTokensPosition>('virtual_tokens_position', isPosition, VIRTUAL_TOKENS_POSITIONS.join(' | '));
  if (position === 'before_completion' && adapter.peftType === 'PREFIX_TUNING') {
    throw new UnsupportedError('virtual_tokens_position "before_completion" does not apply to prefix tuning (a prefix is the attention cache, in front of every token)', path);
  }
  const placed = position !== null && position !== 'start' ? { virtual_tokens_position: position } : {};
  const common = {
    task_type: 'CAUSAL_LM' as const,
    num_virtual_tokens: adapter.numVirtualTokens,
    token_dim: adapter.tokenDim,
    num_transformer_submodules: 1 as const,
    num_attention_heads: read.count('num_attention_heads'),
    num_layers: read.count('num_layers'),
    base_model_name_or_path: read.string('base_model_name_or_path'),
    revision: read.string('revision'),
    inference_mode: true,
    auto_mapping: read.object('auto_mapping'),
    ...(Object.hasOwn(adapter.config, 'modules_to_save') ? { modules_to_save: read.optional<string[]>('modules_to_save', Array.isArray, 'a list') } : {}),
  };
  const promptTuning = () => {
    const isInit = (v: unknown) => PROMPT_TUNING_INITS.includes(v as PromptTuningInit);
    return {
      ...common,
      prompt_tuning_init: read.optional<PromptTuningInit>('prompt_tuning_init', isInit, PROMPT_TUNING_INITS.join(' | ')) ?? 'RANDOM',
      prompt_tuning_init_text: read.string('prompt_tuning_init_text'),
      tokenizer_name_or_path: read.string('tokenizer_name_or_path'),
      tokenizer_kwargs: read.object('tokenizer_kwargs'),
      ...placed,
    };
  };
  switch (adapter.peftType) {
    case 'PROMPT_TUNING':
      return { peft_type: 'PROMPT_TUNING', ...promptTuning() };
    case 'P_TUNING': {
      const type = read.optional<EncoderType>('encoder_reparameterization_type', (v) => ENCODER_TYPES.includes(v as EncoderType), 'MLP | LSTM');
      return {
        peft_type: 'P_TUNING',
        ...common,
        encoder_reparameterization_type: type ?? 'MLP',
        encoder_hidden_size: read.count('encoder_hidden_size') ?? adapter.tokenDim,
        encoder_num_layers: read.count('encoder_num_layers') ?? 2,
        encoder_dropout: read.number('encoder_dropout') ?? 0,
        ...placed,
      };
    }
    case 'PREFIX_TUNING':
      return {
        peft_type: 'PREFIX_TUNING',
        ...common,
        encoder_hidden_size: read.count('encoder_hidden_size') ?? adapter.tokenDim,
        prefix_projection: read.boolean('prefix_projection') ?? false,
      };
    case 'MULTITASK_PROMPT_TUNING': {
      const cols = adapter.tensors.get('prefix_task_cols')!.shape;
      const fields = promptTuning();
      return {
        peft_type: 'MULTITASK_PROMPT_TUNING',
        ...fields,
        // EXACT_SOURCE_TASK and the like name how training started; the saved tensors are what runs.
        prompt_tuning_init: read.optional<MultitaskInit>('prompt_tuning_init', (v) => MULTITASK_INITS.includes(v as MultitaskInit), MULTITASK_INITS.join(' | ')) ?? 'RANDOM',
        prompt_tuning_init_task: read.index('prompt_tuning_init_task') ?? 0,
        prompt_tuning_init_state_dict_path: read.string('prompt_tuning_init_state_dict_path'),
        num_tasks: cols[0],
        num_ranks: cols[2],
      };
    }
  }
}

/** The adapter's config as a PromptTuningConfig; refuses the other methods. */
export function promptTuningConfigOf(adapter: Adapter, dir: string): PromptTuningConfig {
  const config = adapterConfigOf(adapter, dir);
  if (config.peft_type !== 'PROMPT_TUNING') throw new UnsupportedError(`peft_type is ${config.peft_type}; expected PROMPT_TUNING`, `${dir}/${ADAPTER_CONFIG}`);
  return config;
}

/** adapter_config.json as PEFT's save_pretrained writes it: json.dumps(indent=2, sort_keys=True), no final newline. */
export function serializeAdapterConfig(config: AnyPeftConfig): string {
  return pythonJsonDumps({ ...config, inference_mode: true }, '', FLOAT_CONFIG_KEYS);
}

/** A tensor of adapter_model.safetensors. */
export interface SavedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/**
 * adapter_model.safetensors: the tensors under PEFT's keys (a bare array is prompt tuning's `prompt_embeddings`
 * [num_virtual_tokens, token_dim]), with the metadata safetensors' torch writer adds.
 */
export function serializeAdapterWeights(config: AnyPeftConfig, saved: Float32Array | SavedTensor[]): Uint8Array {
  const tensors = Array.isArray(saved) ? saved : [{ name: 'prompt_embeddings', shape: [config.num_virtual_tokens, config.token_dim], data: saved }];
  for (const t of tensors) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (t.data.length !== size) throw new ShapeError(`has ${t.data.length} values; expected [${t.shape}] = ${size}`, t.name);
  }
  return serializeSafetensors(tensors, { format: 'pt' });
}

/** The directory's two files as save_pretrained writes them, for a checkpoint to hold. */
export function adapterFiles(config: AnyPeftConfig, saved: Float32Array | SavedTensor[]): Record<string, Uint8Array | string> {
  return { [ADAPTER_CONFIG]: serializeAdapterConfig(config), [ADAPTER_WEIGHTS]: serializeAdapterWeights(config, saved) };
}

/** The adapter in a directory's files read as bytes (a checkpoint's); `dir` names it in errors. */
export function parseAdapterFiles(files: Record<string, Uint8Array>, dir: string): Adapter {
  const file = (name: string) => {
    const bytes = files[name];
    if (!bytes) throw new MissingError(`has no ${name}`, dir);
    return bytes;
  };
  const configBytes = file(ADAPTER_CONFIG);
  let config: unknown;
  try {
    config = JSON.parse(new TextDecoder().decode(configBytes));
  } catch (e) {
    throw new FormatError(`not valid JSON (${(e as Error).message})`, `${dir}/${ADAPTER_CONFIG}`);
  }
  return parseAdapter(config, file(ADAPTER_WEIGHTS), dir);
}
