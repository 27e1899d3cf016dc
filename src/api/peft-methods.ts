/**
 * PEFT's other prompt-learning configs: PromptEncoderConfig (P-tuning), PrefixTuningConfig and
 * MultitaskPromptTuningConfig, with PEFT's field names and defaults, validated on construction. get_peft_model fills
 * in the model's dims (prefix tuning on grouped-query models as PEFT >= 0.12 does). P-tuning and multitask prompts are
 * input embeddings, so they take softprompt's `virtual_tokens_position` as prompt tuning does; a prefix is every
 * layer's past keys/values, always in front, so PrefixTuningConfig refuses it.
 */
import { OptionError, UnsupportedError } from '../errors.js';
import { checkedPosition, type VirtualTokensPosition } from '../peft/config.js';
import {
  multitaskPromptTuningConfig, prefixTuningConfig, promptEncoderConfig, ENCODER_TYPES,
  type AnyPeftConfig, type EncoderType, type MultitaskInit,
} from '../peft/methods.js';
import type { ModelConfig } from '../models/config.js';

export type { EncoderType, MultitaskInit } from '../peft/methods.js';

/** P-tuning's encoder: PEFT's PromptEncoderReparameterizationType. */
export const PromptEncoderReparameterizationType = { MLP: 'MLP', LSTM: 'LSTM' } as const satisfies Record<EncoderType, EncoderType>;

/** The fields every prompt-learning config takes (PEFT's names). */
export interface PromptLearningConfigOptions {
  task_type: 'CAUSAL_LM';
  num_virtual_tokens: number;
  base_model_name_or_path?: string | null;
  revision?: string | null;
  inference_mode?: boolean;
}

function checkTask(task: string): void {
  if (task !== 'CAUSAL_LM') throw new OptionError(`is ${JSON.stringify(task)}; softprompt runs causal LMs: expected "CAUSAL_LM"`, 'task_type');
}

function checkCount(value: unknown, field: string, min = 1): void {
  if (!Number.isSafeInteger(value) || (value as number) < min) throw new OptionError(`is ${value}; expected an integer >= ${min}`, field);
}

/** PEFT's PromptLearningConfig: what every prompt-learning method's config has; get_peft_model fills in the dims. */
export abstract class PromptLearningConfig {
  task_type: 'CAUSAL_LM';
  num_virtual_tokens: number;
  base_model_name_or_path: string | null;
  revision: string | null;
  inference_mode: boolean;
  /** Filled in by get_peft_model from the model (prefix tuning: the KV heads' width and count). */
  token_dim: number | null = null;
  num_attention_heads: number | null = null;
  num_layers: number | null = null;

  constructor(opts: PromptLearningConfigOptions) {
    checkTask(opts.task_type);
    checkCount(opts.num_virtual_tokens, 'num_virtual_tokens');
    this.task_type = opts.task_type;
    this.num_virtual_tokens = opts.num_virtual_tokens;
    this.base_model_name_or_path = opts.base_model_name_or_path ?? null;
    this.revision = opts.revision ?? null;
    this.inference_mode = opts.inference_mode ?? false;
  }
}

/** The fields `new PromptEncoderConfig` takes (PEFT's names). */
export interface PromptEncoderConfigOptions extends PromptLearningConfigOptions {
  /** MLP (default) or LSTM. */
  encoder_reparameterization_type?: EncoderType;
  /** Default: the model's hidden size. */
  encoder_hidden_size?: number | null;
  /** The LSTM's layers (default 2); the MLP always has three Linear layers, as in PEFT. */
  encoder_num_layers?: number;
  /** Must be 0: softprompt trains without dropout. */
  encoder_dropout?: number;
  /** softprompt's extension: 'before_completion' puts the virtual tokens after the input, right before the answer. Default 'start' (PEFT's). */
  virtual_tokens_position?: VirtualTokensPosition;
}

/**
 * PEFT's PromptEncoderConfig (P-tuning): the prompt is an encoder's output on learned embeddings. Saved adapters hold
 * that output only, as PEFT's do; Trainer checkpoints also keep the encoder's weights, so training resumes from them.
 */
export class PromptEncoderConfig extends PromptLearningConfig {
  readonly peft_type = 'P_TUNING';
  encoder_reparameterization_type: EncoderType;
  encoder_hidden_size: number | null;
  encoder_num_layers: number;
  encoder_dropout: number;
  /** 'before_completion' when given; absent means 'start', as in adapter_config.json, which then leaves it out. */
  virtual_tokens_position?: VirtualTokensPosition;

  constructor(opts: PromptEncoderConfigOptions) {
    super(opts);
    const type = opts.encoder_reparameterization_type ?? 'MLP';
    if (!ENCODER_TYPES.includes(type)) throw new OptionError(`is ${JSON.stringify(type)}; expected MLP or LSTM`, 'encoder_reparameterization_type');
    if (opts.encoder_hidden_size != null) checkCount(opts.encoder_hidden_size, 'encoder_hidden_size');
    if ((opts.encoder_dropout ?? 0) !== 0) throw new OptionError(`is ${opts.encoder_dropout}; softprompt trains without dropout (expected 0)`, 'encoder_dropout');
    this.encoder_reparameterization_type = type;
    this.encoder_hidden_size = opts.encoder_hidden_size ?? null;
    this.encoder_num_layers = opts.encoder_num_layers ?? 2;
    checkCount(this.encoder_num_layers, 'encoder_num_layers');
    this.encoder_dropout = 0;
    const position = checkedPosition(opts.virtual_tokens_position);
    if (position !== 'start') this.virtual_tokens_position = position;
  }
}

/** The fields `new PrefixTuningConfig` takes (PEFT's names). */
export interface PrefixTuningConfigOptions extends PromptLearningConfigOptions {
  /** Produce the prefix with a two-layer tanh MLP (default false: train the prefix directly). */
  prefix_projection?: boolean;
  /** The projection's hidden size (default: token_dim). */
  encoder_hidden_size?: number | null;
}

/**
 * PEFT's PrefixTuningConfig: trained keys and values in front of every layer's attention. Saved adapters hold the
 * prefix (with prefix_projection, the projection's output; its weights go only into Trainer checkpoints).
 */
export class PrefixTuningConfig extends PromptLearningConfig {
  readonly peft_type = 'PREFIX_TUNING';
  prefix_projection: boolean;
  encoder_hidden_size: number | null;

  constructor(opts: PrefixTuningConfigOptions) {
    super(opts);
    // TypeScript keeps the field out of the options; plain JavaScript (or a shared options object) may still pass it.
    const position = (opts as { virtual_tokens_position?: unknown }).virtual_tokens_position;
    if (position !== undefined && position !== 'start') {
      throw new UnsupportedError(
        `is ${JSON.stringify(position)}; a prefix is every layer's past keys/values, always in front of the tokens (use prompt tuning or P-tuning to place virtual tokens)`,
        'virtual_tokens_position',
      );
    }
    if (opts.encoder_hidden_size != null) checkCount(opts.encoder_hidden_size, 'encoder_hidden_size');
    this.prefix_projection = opts.prefix_projection ?? false;
    this.encoder_hidden_size = opts.encoder_hidden_size ?? null;
  }
}

/** The fields `new MultitaskPromptTuningConfig` takes (PEFT's names). */
export interface MultitaskPromptTuningConfigOptions extends PromptLearningConfigOptions {
  num_tasks?: number;
  num_ranks?: number;
  /** RANDOM (default) or TEXT; the source-task inits need PEFT's source checkpoint and are not supported. */
  prompt_tuning_init?: MultitaskInit;
  prompt_tuning_init_text?: string | null;
  tokenizer_name_or_path?: string | null;
  tokenizer_kwargs?: Record<string, unknown> | null;
  prompt_tuning_init_task?: number;
  prompt_tuning_init_state_dict_path?: string | null;
  /** softprompt's extension: 'before_completion' puts each task's virtual tokens after the input, right before the answer. Default 'start' (PEFT's). */
  virtual_tokens_position?: VirtualTokensPosition;
}

/** PEFT's MultitaskPromptTuningConfig: one shared prompt scaled per task by a rank-r product; rows pick their task. */
export class MultitaskPromptTuningConfig extends PromptLearningConfig {
  readonly peft_type = 'MULTITASK_PROMPT_TUNING';
  num_tasks: number;
  num_ranks: number;
  prompt_tuning_init: MultitaskInit;
  prompt_tuning_init_text: string | null;
  tokenizer_name_or_path: string | null;
  tokenizer_kwargs: Record<string, unknown> | null;
  prompt_tuning_init_task: number;
  prompt_tuning_init_state_dict_path: string | null;
  /** 'before_completion' when given; absent means 'start', as in adapter_config.json, which then leaves it out. */
  virtual_tokens_position?: VirtualTokensPosition;

  constructor(opts: MultitaskPromptTuningConfigOptions) {
    super(opts);
    this.num_tasks = opts.num_tasks ?? 1;
    this.num_ranks = opts.num_ranks ?? 1;
    checkCount(this.num_tasks, 'num_tasks');
    checkCount(this.num_ranks, 'num_ranks');
    this.prompt_tuning_init = opts.prompt_tuning_init ?? 'RANDOM';
    if (this.prompt_tuning_init !== 'RANDOM' && this.prompt_tuning_init !== 'TEXT') {
      throw new OptionError(`is ${JSON.stringify(this.prompt_tuning_init)}; softprompt starts multitask prompts from RANDOM or TEXT`, 'prompt_tuning_init');
    }
    this.prompt_tuning_init_text = opts.prompt_tuning_init_text ?? null;
    this.tokenizer_name_or_path = opts.tokenizer_name_or_path ?? null;
    this.tokenizer_kwargs = opts.tokenizer_kwargs ?? null;
    this.prompt_tuning_init_task = opts.prompt_tuning_init_task ?? 0;
    this.prompt_tuning_init_state_dict_path = opts.prompt_tuning_init_state_dict_path ?? null;
    const position = checkedPosition(opts.virtual_tokens_position);
    if (position !== 'start') this.virtual_tokens_position = position;
  }
}

/** @internal The engine-level config for `model`, as get_peft_model fills it in. */
export function methodConfig(
  config: PromptEncoderConfig | PrefixTuningConfig | MultitaskPromptTuningConfig,
  model: ModelConfig,
  base: string,
): AnyPeftConfig {
  const name = config.base_model_name_or_path ?? base;
  if (config instanceof PromptEncoderConfig) return promptEncoderConfig(config, model, name);
  if (config instanceof PrefixTuningConfig) return prefixTuningConfig(config, model, name);
  return multitaskPromptTuningConfig(config, model, name);
}
