/**
 * PEFT's PromptTuningConfig (PeftConfig + PromptLearningConfig + PromptTuningConfig dataclasses, PEFT 0.10), with
 * PEFT's snake_case field names so the object is the adapter_config.json content as is.
 */
import { OptionError } from '../errors.js';
import { promptWidth } from '../models/architectures.js';
import type { ModelConfig } from '../models/config.js';

/**
 * How a new soft prompt starts: N(0, 1), embeddings of the init text's tokens, or rows of random vocabulary tokens.
 * SAMPLE_VOCAB is newer than PEFT 0.10, which loads such a config but only knows RANDOM and TEXT for training.
 */
export type PromptTuningInit = 'RANDOM' | 'TEXT' | 'SAMPLE_VOCAB';
export const PROMPT_TUNING_INITS: readonly PromptTuningInit[] = ['RANDOM', 'TEXT', 'SAMPLE_VOCAB'];

/**
 * Where the virtual tokens go (a softprompt extension of adapter_config.json, peft#416 / #711): 'start', in front of
 * the whole input as PEFT places them, or 'before_completion', right after the input and before the answer (the
 * completion in training, the scored continuation in eval, the first new token in generation), where they read the
 * whole input and sit next to the answer. The key is written only when it is not 'start', so such adapters stay
 * PEFT's files byte for byte; PEFT ignores it (and would prepend the prompt).
 */
export type VirtualTokensPosition = 'start' | 'before_completion';
export const VIRTUAL_TOKENS_POSITIONS: readonly VirtualTokensPosition[] = ['start', 'before_completion'];

/** Fields every prompt-learning config shares (PeftConfig + PromptLearningConfig). */
export interface PromptLearningFields {
  task_type: 'CAUSAL_LM';
  num_virtual_tokens: number;
  /** The width of each virtual token: the model's hidden size for a prompt. */
  token_dim: number;
  /** 2 only for encoder-decoder models, which softprompt does not run. */
  num_transformer_submodules: 1;
  num_attention_heads: number | null;
  num_layers: number | null;
  base_model_name_or_path: string | null;
  revision: string | null;
  /** false while training; the saved file always says true. */
  inference_mode: boolean;
  auto_mapping: Record<string, unknown> | null;
  /** Written by PEFT >= 0.11 (null for prompt learning); kept when a loaded adapter has it, so it saves back unchanged. */
  modules_to_save?: string[] | null;
}

export interface PromptTuningConfig extends PromptLearningFields {
  peft_type: 'PROMPT_TUNING';
  prompt_tuning_init: PromptTuningInit;
  prompt_tuning_init_text: string | null;
  tokenizer_name_or_path: string | null;
  tokenizer_kwargs: Record<string, unknown> | null;
  /** softprompt's extension; absent means 'start'. */
  virtual_tokens_position?: VirtualTokensPosition;
}

/** PEFT's PromptTuningConfig fields that a user sets. */
export interface PromptTuningOptions {
  num_virtual_tokens: number;
  /** Default RANDOM. */
  prompt_tuning_init?: PromptTuningInit;
  /** Required with TEXT init. */
  prompt_tuning_init_text?: string | null;
  /** Defaults to the base model for TEXT init: PEFT refuses to load a TEXT config without it. */
  tokenizer_name_or_path?: string | null;
  tokenizer_kwargs?: Record<string, unknown> | null;
  revision?: string | null;
  /** Default 'start' (PEFT's placement). */
  virtual_tokens_position?: VirtualTokensPosition;
}

/** The fields of a PromptTuningConfig that do not depend on the model, validated as PEFT's __post_init__ does. */
export type PromptTuningFields = Omit<PromptTuningConfig, 'token_dim' | 'num_attention_heads' | 'num_layers'>;

export function promptTuningFields(opts: PromptTuningOptions, baseModelNameOrPath?: string | null): PromptTuningFields {
  const n = opts.num_virtual_tokens;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new OptionError(`is ${n}; expected an integer >= 1`, 'num_virtual_tokens');
  }
  const init = opts.prompt_tuning_init ?? 'RANDOM';
  if (!PROMPT_TUNING_INITS.includes(init)) {
    throw new OptionError(`is ${JSON.stringify(init)}; expected one of ${PROMPT_TUNING_INITS.join(', ')}`, 'prompt_tuning_init');
  }
  const text = opts.prompt_tuning_init_text ?? null;
  const base = baseModelNameOrPath ?? null;
  const tokenizer = opts.tokenizer_name_or_path ?? (init === 'TEXT' ? base : null);
  const kwargs = opts.tokenizer_kwargs ?? null;
  if (init === 'TEXT') {
    if (!text) throw new OptionError('is required (and non-empty) when prompt_tuning_init is TEXT', 'prompt_tuning_init_text');
    if (!tokenizer) {
      const message = 'is required when prompt_tuning_init is TEXT (PEFT will not load the config without it)';
      throw new OptionError(message, 'tokenizer_name_or_path');
    }
  } else if (kwargs && Object.keys(kwargs).length > 0) {
    throw new OptionError('only applies when prompt_tuning_init is TEXT (PEFT rejects it otherwise)', 'tokenizer_kwargs');
  }
  const position = checkedPosition(opts.virtual_tokens_position);
  return {
    peft_type: 'PROMPT_TUNING',
    task_type: 'CAUSAL_LM',
    num_virtual_tokens: n,
    num_transformer_submodules: 1,
    prompt_tuning_init: init,
    prompt_tuning_init_text: text,
    tokenizer_name_or_path: tokenizer,
    tokenizer_kwargs: kwargs,
    base_model_name_or_path: base,
    revision: opts.revision ?? null,
    inference_mode: false,
    auto_mapping: null,
    ...(position === 'start' ? {} : { virtual_tokens_position: position }),
  };
}

/** A `virtual_tokens_position` option, checked ('start' when absent). */
export function checkedPosition(position: unknown): VirtualTokensPosition {
  const p = position ?? 'start';
  if (!VIRTUAL_TOKENS_POSITIONS.includes(p as VirtualTokensPosition)) {
    throw new OptionError(`is ${JSON.stringify(p)}; expected one of ${VIRTUAL_TOKENS_POSITIONS.join(', ')}`, 'virtual_tokens_position');
  }
  return p as VirtualTokensPosition;
}

/** Where an adapter's virtual tokens go. */
export function virtualTokensPosition(config: Pick<PromptTuningConfig, 'virtual_tokens_position'>): VirtualTokensPosition {
  return config.virtual_tokens_position ?? 'start';
}

/**
 * A config for `model`, filled in as get_peft_model does: token_dim, num_attention_heads and num_layers from the model
 * config (PEFT's `_prepare_prompt_learning_config`), one transformer submodule for a causal LM.
 */
export function promptTuningConfig(opts: PromptTuningOptions, model: ModelConfig, baseModelNameOrPath?: string): PromptTuningConfig {
  return withModelDims(promptTuningFields(opts, baseModelNameOrPath), model);
}

/** The model-dependent fields, as get_peft_model fills them in. */
export function withModelDims(fields: PromptTuningFields, model: ModelConfig): PromptTuningConfig {
  return { ...fields, token_dim: promptWidth(model), num_attention_heads: model.numHeads, num_layers: model.numLayers };
}
