/**
 * PEFT's other prompt-learning configs (PEFT 0.10 dataclasses, PEFT's field names, so each object is its
 * adapter_config.json as is): P-tuning (PromptEncoderConfig), prefix tuning (PrefixTuningConfig) and multitask prompt
 * tuning (MultitaskPromptTuningConfig). The model-dependent fields are filled in as get_peft_model's
 * `_prepare_prompt_learning_config` does, with PEFT >= 0.12's rule for prefix tuning on grouped-query models
 * (token_dim = kv heads × head dim, num_attention_heads = kv heads; huggingface/peft#1901).
 */
import { OptionError } from '../errors.js';
import { promptWidth } from '../models/architectures.js';
import type { ModelConfig } from '../models/config.js';
import { checkedPosition, promptTuningFields, type PromptLearningFields, type PromptTuningConfig, type PromptTuningOptions, type VirtualTokensPosition } from './config.js';

/** P-tuning's encoder: three Linear layers with ReLUs, or a bidirectional LSTM and a two-layer head. */
export type EncoderType = 'MLP' | 'LSTM';
export const ENCODER_TYPES: readonly EncoderType[] = ['MLP', 'LSTM'];

/** P-tuning: the prompt is an MLP's or a bidirectional LSTM's output on learned embeddings. */
export interface PromptEncoderConfig extends PromptLearningFields {
  peft_type: 'P_TUNING';
  encoder_reparameterization_type: EncoderType;
  encoder_hidden_size: number;
  /** The LSTM's layers (the MLP always has three Linear layers, as in PEFT). */
  encoder_num_layers: number;
  /** Training-time dropout; softprompt trains without dropout and refuses other values. */
  encoder_dropout: number;
  /** softprompt's extension, as for prompt tuning (config.ts); absent means 'start'. */
  virtual_tokens_position?: VirtualTokensPosition;
}

/** Prefix tuning: keys and values prepended in every layer, optionally produced by a two-layer tanh MLP. */
export interface PrefixTuningConfig extends PromptLearningFields {
  peft_type: 'PREFIX_TUNING';
  encoder_hidden_size: number;
  prefix_projection: boolean;
}

/** Multitask prompt tuning: a shared prompt scaled elementwise by a rank-r product per task. */
export interface MultitaskPromptTuningConfig extends Omit<PromptTuningConfig, 'peft_type' | 'prompt_tuning_init'> {
  peft_type: 'MULTITASK_PROMPT_TUNING';
  /** How training started; softprompt starts from RANDOM or TEXT, and loads adapters started any way. */
  prompt_tuning_init: MultitaskInit;
  prompt_tuning_init_task: number;
  prompt_tuning_init_state_dict_path: string | null;
  num_ranks: number;
  num_tasks: number;
}

/** How a multitask prompt starts (PEFT's MultitaskPromptTuningInit); softprompt creates RANDOM and TEXT ones. */
export type MultitaskInit = 'RANDOM' | 'TEXT' | 'AVERAGE_SOURCE_TASKS' | 'EXACT_SOURCE_TASK' | 'ONLY_SOURCE_SHARED';
export const MULTITASK_INITS: readonly MultitaskInit[] = ['RANDOM', 'TEXT', 'AVERAGE_SOURCE_TASKS', 'EXACT_SOURCE_TASK', 'ONLY_SOURCE_SHARED'];

/** Any config softprompt trains and loads. */
export type AnyPeftConfig = PromptTuningConfig | PromptEncoderConfig | PrefixTuningConfig | MultitaskPromptTuningConfig;
export type PeftType = AnyPeftConfig['peft_type'];
export const PEFT_TYPES: readonly PeftType[] = ['PROMPT_TUNING', 'P_TUNING', 'PREFIX_TUNING', 'MULTITASK_PROMPT_TUNING'];

export interface PromptEncoderOptions {
  num_virtual_tokens: number;
  encoder_reparameterization_type?: EncoderType;
  /** Default: token_dim, the model's prompt width (its hidden size but on OPT-like models). */
  encoder_hidden_size?: number | null;
  encoder_num_layers?: number;
  encoder_dropout?: number;
  revision?: string | null;
  /** Default 'start' (PEFT's placement). */
  virtual_tokens_position?: VirtualTokensPosition;
}

export interface PrefixTuningOptions {
  num_virtual_tokens: number;
  prefix_projection?: boolean;
  /** Default: token_dim. */
  encoder_hidden_size?: number | null;
  revision?: string | null;
}

export interface MultitaskPromptTuningOptions extends Omit<PromptTuningOptions, 'prompt_tuning_init'> {
  prompt_tuning_init?: MultitaskInit;
  num_tasks?: number;
  num_ranks?: number;
  prompt_tuning_init_task?: number;
  prompt_tuning_init_state_dict_path?: string | null;
}

function count(value: unknown, field: string, min = 1): number {
  if (!Number.isSafeInteger(value) || (value as number) < min) throw new OptionError(`is ${value}; expected an integer >= ${min}`, field);
  return value as number;
}

function common(n: number, base: string | null | undefined, revision: string | null | undefined, tokenDim: number, heads: number, layers: number): PromptLearningFields {
  return {
    task_type: 'CAUSAL_LM',
    num_virtual_tokens: count(n, 'num_virtual_tokens'),
    token_dim: tokenDim,
    num_transformer_submodules: 1,
    num_attention_heads: heads,
    num_layers: layers,
    base_model_name_or_path: base ?? null,
    revision: revision ?? null,
    inference_mode: false,
    auto_mapping: null,
  };
}

export function promptEncoderConfig(o: PromptEncoderOptions, model: ModelConfig, base?: string | null): PromptEncoderConfig {
  const type = o.encoder_reparameterization_type ?? 'MLP';
  if (!ENCODER_TYPES.includes(type)) throw new OptionError(`is ${JSON.stringify(type)}; expected MLP or LSTM`, 'encoder_reparameterization_type');
  const dropout = o.encoder_dropout ?? 0;
  if (dropout !== 0) throw new OptionError(`is ${dropout}; softprompt trains without dropout (expected 0)`, 'encoder_dropout');
  const position = checkedPosition(o.virtual_tokens_position);
  return {
    peft_type: 'P_TUNING',
    ...common(o.num_virtual_tokens, base, o.revision, promptWidth(model), model.numHeads, model.numLayers),
    encoder_reparameterization_type: type,
    encoder_hidden_size: count(o.encoder_hidden_size ?? promptWidth(model), 'encoder_hidden_size'),
    encoder_num_layers: count(o.encoder_num_layers ?? 2, 'encoder_num_layers'),
    encoder_dropout: dropout,
    ...(position === 'start' ? {} : { virtual_tokens_position: position }),
  };
}

/** The prefix's width per layer and block: every KV head's head_dim values (PEFT >= 0.12 on grouped-query models). */
export function prefixTokenDim(model: ModelConfig): number {
  return model.numKvHeads * model.headDim;
}

export function prefixTuningConfig(o: PrefixTuningOptions, model: ModelConfig, base?: string | null): PrefixTuningConfig {
  const tokenDim = prefixTokenDim(model);
  return {
    peft_type: 'PREFIX_TUNING',
    ...common(o.num_virtual_tokens, base, o.revision, tokenDim, model.numKvHeads, model.numLayers),
    encoder_hidden_size: count(o.encoder_hidden_size ?? tokenDim, 'encoder_hidden_size'),
    prefix_projection: o.prefix_projection ?? false,
  };
}

export function multitaskPromptTuningConfig(o: MultitaskPromptTuningOptions, model: ModelConfig, base?: string | null): MultitaskPromptTuningConfig {
  const init = o.prompt_tuning_init ?? 'RANDOM';
  if (init !== 'RANDOM' && init !== 'TEXT') {
    throw new OptionError(`is ${JSON.stringify(init)}; multitask prompt tuning starts from RANDOM or TEXT here`, 'prompt_tuning_init');
  }
  const fields = promptTuningFields({ ...o, prompt_tuning_init: init }, base);
  return {
    ...fields,
    peft_type: 'MULTITASK_PROMPT_TUNING',
    prompt_tuning_init: init,
    token_dim: promptWidth(model),
    num_attention_heads: model.numHeads,
    num_layers: model.numLayers,
    prompt_tuning_init_task: count(o.prompt_tuning_init_task ?? 0, 'prompt_tuning_init_task', 0),
    prompt_tuning_init_state_dict_path: o.prompt_tuning_init_state_dict_path ?? null,
    num_ranks: count(o.num_ranks ?? 1, 'num_ranks'),
    num_tasks: count(o.num_tasks ?? 1, 'num_tasks'),
  };
}

/** adapter_config.json keys whose values Python holds as floats (json.dumps prints `0.0`, not `0`). */
export const FLOAT_CONFIG_KEYS: ReadonlySet<string> = new Set(['encoder_dropout']);
