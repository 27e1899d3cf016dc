/**
 * PEFT's prompt-tuning adapter format, read and written byte for byte as PEFT 0.10 does. A directory holds:
 * - `adapter_config.json`: the PromptTuningConfig as Python's json.dumps(indent=2, sort_keys=True) prints it, with
 *   `inference_mode: true` and no final newline; loaders require `peft_type` and ignore keys they do not know.
 * - `adapter_model.safetensors`: exactly one F32 tensor `prompt_embeddings` [num_virtual_tokens, token_dim],
 *   metadata `{"format": "pt"}`.
 */
import { FormatError, MissingError, ShapeError, UnsupportedError } from '../errors.js';
import { promptWidth } from '../models/architectures.js';
import type { ModelConfig } from '../models/config.js';
import { Safetensors, checkFinite, serializeSafetensors } from '../weights/safetensors.js';
import { PROMPT_TUNING_INITS, VIRTUAL_TOKENS_POSITIONS, type PromptTuningConfig, type PromptTuningInit, type VirtualTokensPosition } from './config.js';
import { pythonJsonDumps } from './python.js';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

export interface Adapter {
  /** The adapter_config.json object as read, unknown keys included (promptTuningConfigOf drops them, as PEFT does). */
  config: Record<string, unknown>;
  numVirtualTokens: number;
  tokenDim: number;
  /** [numVirtualTokens, tokenDim] */
  prompt: Float32Array;
}

export function parseAdapter(configJson: unknown, weights: Uint8Array, dir: string): Adapter {
  const configPath = `${dir}/${ADAPTER_CONFIG}`;
  const weightsPath = `${dir}/${ADAPTER_WEIGHTS}`;
  if (typeof configJson !== 'object' || configJson === null || Array.isArray(configJson)) {
    throw new FormatError('expected a JSON object', configPath);
  }
  const config = configJson as Record<string, unknown>;
  if (config.peft_type === undefined) throw new FormatError('missing "peft_type" (expected "PROMPT_TUNING")', configPath);
  if (config.peft_type !== 'PROMPT_TUNING') {
    throw new UnsupportedError(`peft_type ${JSON.stringify(config.peft_type)} is not supported (expected "PROMPT_TUNING")`, configPath);
  }
  const file = Safetensors.parse(weights, weightsPath);
  const entry = file.entry('prompt_embeddings');
  if (entry.shape.length !== 2) throw new ShapeError(`prompt_embeddings has shape [${entry.shape}], expected [n, token_dim]`, weightsPath);
  const [n, dim] = entry.shape;
  for (const [key, value] of [['num_virtual_tokens', n], ['token_dim', dim]] as const) {
    if (config[key] !== undefined && config[key] !== value) {
      throw new ShapeError(`${key} is ${config[key]} but prompt_embeddings has shape [${entry.shape}]`, configPath);
    }
  }
  const prompt = Float32Array.from(file.float32('prompt_embeddings'));
  checkFinite('prompt_embeddings', prompt, 'not a usable adapter', weightsPath);
  return { config, numVirtualTokens: n, tokenDim: dim, prompt };
}

/** An adapter trained for another model (a different hidden size) cannot be prepended to this one's embeddings. */
export function checkAdapterFits(adapter: Adapter, model: ModelConfig, dir: string): void {
  const width = promptWidth(model);
  if (adapter.tokenDim !== width) {
    throw new ShapeError(
      `token_dim is ${adapter.tokenDim} but the model's ${width === model.hiddenSize ? 'hidden size' : 'prompt width'} is ${width} (adapter made for another model?)`,
      `${dir}/${ADAPTER_CONFIG}`,
    );
  }
}

/**
 * The adapter's config as a PromptTuningConfig: keys PEFT does not define are dropped (as PEFT drops them), absent
 * ones take PEFT's defaults, and it is marked for inference as PeftModel.from_pretrained marks loaded adapters.
 */
export function promptTuningConfigOf(adapter: Adapter, dir: string): PromptTuningConfig {
  const path = `${dir}/${ADAPTER_CONFIG}`;
  const c = adapter.config;
  const wrongType = (key: string, expected: string) =>
    new FormatError(`"${key}" is ${JSON.stringify(c[key])}; expected ${expected}`, path);
  const optional = <T>(key: string, ok: (v: unknown) => boolean, expected: string): T | null => {
    const v = c[key];
    if (v === undefined || v === null) return null;
    if (!ok(v)) throw wrongType(key, expected);
    return v as T;
  };
  const isString = (v: unknown) => typeof v === 'string';
  const isObject = (v: unknown) => typeof v === 'object' && !Array.isArray(v);
  const isCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) > 0;

  // Other task types mean another head (SEQ_CLS, ...) or a doubled prompt (SEQ_2_SEQ_LM): not this causal LM's adapter.
  const task = optional<string>('task_type', isString, 'a string');
  if (task !== null && task !== 'CAUSAL_LM') {
    throw new UnsupportedError(`task_type ${JSON.stringify(task)} is not supported (expected "CAUSAL_LM")`, path);
  }
  const submodules = optional<number>('num_transformer_submodules', isCount, 'a positive integer');
  if (submodules !== null && submodules !== 1) {
    throw new UnsupportedError(`num_transformer_submodules ${submodules} is not supported (expected 1: a causal LM)`, path);
  }
  const isInit = (v: unknown) => PROMPT_TUNING_INITS.includes(v as PromptTuningInit);
  const init = optional<PromptTuningInit>('prompt_tuning_init', isInit, PROMPT_TUNING_INITS.join(' | '));
  const isPosition = (v: unknown) => VIRTUAL_TOKENS_POSITIONS.includes(v as VirtualTokensPosition);
  const position = optional<VirtualTokensPosition>('virtual_tokens_position', isPosition, VIRTUAL_TOKENS_POSITIONS.join(' | '));
  return {
    peft_type: 'PROMPT_TUNING',
    task_type: 'CAUSAL_LM',
    num_virtual_tokens: adapter.numVirtualTokens,
    token_dim: adapter.tokenDim,
    num_transformer_submodules: 1,
    num_attention_heads: optional('num_attention_heads', isCount, 'a positive integer'),
    num_layers: optional('num_layers', isCount, 'a positive integer'),
    prompt_tuning_init: init ?? 'RANDOM',
    prompt_tuning_init_text: optional('prompt_tuning_init_text', isString, 'a string'),
    tokenizer_name_or_path: optional('tokenizer_name_or_path', isString, 'a string'),
    tokenizer_kwargs: optional('tokenizer_kwargs', isObject, 'an object'),
    base_model_name_or_path: optional('base_model_name_or_path', isString, 'a string'),
    revision: optional('revision', isString, 'a string'),
    inference_mode: true,
    auto_mapping: optional('auto_mapping', isObject, 'an object'),
    ...(Object.hasOwn(c, 'modules_to_save') ? { modules_to_save: optional<string[]>('modules_to_save', Array.isArray, 'a list') } : {}),
    ...(position !== null && position !== 'start' ? { virtual_tokens_position: position } : {}),
  };
}

/** adapter_config.json as PEFT's save_pretrained writes it: json.dumps(indent=2, sort_keys=True), no final newline. */
export function serializeAdapterConfig(config: PromptTuningConfig): string {
  return pythonJsonDumps({ ...config, inference_mode: true });
}

/** adapter_model.safetensors: the prompt under PEFT's key, with the metadata safetensors' torch writer adds. */
export function serializeAdapterWeights(config: PromptTuningConfig, prompt: Float32Array): Uint8Array {
  const shape = [config.num_virtual_tokens, config.token_dim];
  if (prompt.length !== shape[0] * shape[1]) {
    throw new ShapeError(`prompt has ${prompt.length} values; expected [${shape}] = ${shape[0] * shape[1]}`, 'prompt_embeddings');
  }
  return serializeSafetensors([{ name: 'prompt_embeddings', shape, data: prompt }], { format: 'pt' });
}

/** The directory's two files as save_pretrained writes them, for a checkpoint to hold. */
export function adapterFiles(config: PromptTuningConfig, prompt: Float32Array): Record<string, Uint8Array | string> {
  return { [ADAPTER_CONFIG]: serializeAdapterConfig(config), [ADAPTER_WEIGHTS]: serializeAdapterWeights(config, prompt) };
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
