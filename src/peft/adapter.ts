/**
 * PEFT's prompt-tuning adapter format. A directory holds:
 * - `adapter_config.json`: the PromptTuningConfig as JSON (indent 2, sorted keys, `inference_mode: true`); loaders
 *   require `peft_type` and ignore keys they do not know.
 * - `adapter_model.safetensors`: exactly one F32 tensor `prompt_embeddings` [num_virtual_tokens, token_dim],
 *   metadata `{"format": "pt"}`.
 */
import { FormatError, ShapeError, UnsupportedError } from '../errors.js';
import type { ModelConfig } from '../models/config.js';
import { Safetensors } from '../weights/safetensors.js';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

export interface Adapter {
  /** The adapter_config.json object as read (unknown keys kept so a round trip loses nothing). */
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
  return { config, numVirtualTokens: n, tokenDim: dim, prompt: Float32Array.from(file.float32('prompt_embeddings')) };
}

/** An adapter trained for another model (a different hidden size) cannot be prepended to this one's embeddings. */
export function checkAdapterFits(adapter: Adapter, model: ModelConfig, dir: string): void {
  if (adapter.tokenDim !== model.hiddenSize) {
    throw new ShapeError(
      `token_dim is ${adapter.tokenDim} but the model's hidden size is ${model.hiddenSize} (adapter made for another model?)`,
      `${dir}/${ADAPTER_CONFIG}`,
    );
  }
}
