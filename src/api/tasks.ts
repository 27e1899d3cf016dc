/**
 * Task-format data for the library, as TRL names it: a dataset of { prompt, completion } rows is tokenized with
 * `tokenize_prompt_completion` (input_ids + completion_mask), and DataCollatorForLanguageModeling then labels the
 * completion tokens only (completion_only_loss).
 *
 * ```ts
 * const train = dataset.map((row) => tokenize_prompt_completion(tokenizer, { prompt: `Email: ${row.text}\nAnswer:`, completion: ` ${row.label}` }));
 * ```
 */
import { OptionError, UnsupportedError } from '../errors.js';
import { tokenizePromptCompletion, type PromptCompletion } from '../data/completion.js';
import { inspectModelPrompt, type PromptInit, type PromptReport } from '../eval/inspect.js';
import type { PeftModel } from './peft.js';
import type { PreTrainedTokenizer } from './tokenizer.js';

export type { PromptCompletion } from '../data/completion.js';
export type { Neighbour, PromptReport, VirtualTokenReport } from '../eval/inspect.js';

/** TRL's tokenization: ids of prompt + completion, completion_mask 0 on the prompt's ids; cut from the left to max_length. */
export function tokenize_prompt_completion(
  tokenizer: PreTrainedTokenizer,
  example: PromptCompletion,
  opts: { max_length?: number } = {},
): { input_ids: number[]; completion_mask: number[] } {
  if (typeof example?.prompt !== 'string' || typeof example?.completion !== 'string') {
    throw new OptionError('expected { prompt: string, completion: string }', 'example');
  }
  if (opts.max_length !== undefined && (!Number.isSafeInteger(opts.max_length) || opts.max_length < 1)) {
    throw new OptionError(`is ${opts.max_length}; expected an integer >= 1`, 'max_length');
  }
  return tokenizePromptCompletion(example, tokenizer.text_tokenizer, opts.max_length);
}

/**
 * Where each virtual token of an adapter sits among the vocabulary embeddings: nearest tokens by cosine and by dot
 * product, norm percentile, nearest-token distance against the typical one, drift from a TEXT init. Nearest tokens
 * need not explain what a prompt does (Prompt Waywardness; see `note` in the report).
 */
export function inspect_prompt(
  model: PeftModel,
  tokenizer: PreTrainedTokenizer,
  opts: { adapter_name?: string; top_k?: number } = {},
): PromptReport {
  const name = opts.adapter_name ?? model.active_adapter;
  const config = model.peft_config[name];
  if (!config) throw new OptionError(`no adapter "${name}" (adapters: ${Object.keys(model.peft_config).join(', ')})`, 'adapter_name');
  // A P-tuning adapter being trained holds its encoder's weights; its prompt is the encoder's output, which a loaded one holds.
  if (config.peft_type === 'P_TUNING' && model.peft.parameterShapes(name).length !== 1) {
    throw new UnsupportedError(`adapter "${name}" holds P-tuning's encoder; its prompt is the encoder's output: save it and inspect the saved adapter`, 'adapter_name');
  }
  return inspectModelPrompt(model.base_model.model, model.peft.prompt(name), config as PromptInit, tokenizer.text_tokenizer, { top_k: opts.top_k });
}
