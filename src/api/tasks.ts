/**
 * Task-format data for the library, as TRL names it: a dataset of { prompt, completion } rows is tokenized with
 * `tokenize_prompt_completion` (input_ids + completion_mask), and DataCollatorForLanguageModeling then labels the
 * completion tokens only (completion_only_loss). Conversational rows go through the tokenizer's chat template: a
 * prompt and completion that are lists of messages, or a whole chat (`tokenize_messages`, the loss on the assistant
 * turns).
 *
 * ```ts
 * const train = dataset.map((row) => tokenize_prompt_completion(tokenizer, { prompt: `Email: ${row.text}\nAnswer:`, completion: ` ${row.label}` }));
 * const chats = dataset.map((row) => tokenize_messages(tokenizer, { messages: row.messages }));
 * ```
 */
import { OptionError, UnsupportedError } from '../errors.js';
import { conversation, tokenizeConversation } from '../data/chat.js';
import { tokenizePromptCompletion, type PromptCompletion } from '../data/completion.js';
import { inspectModelPrompt, type PromptInit, type PromptReport } from '../eval/inspect.js';
import type { ChatMessage } from '../tokenizer/chat-template.js';
import type { PeftModel } from './peft.js';
import type { PreTrainedTokenizer } from './tokenizer.js';

export type { PromptCompletion } from '../data/completion.js';
export type { Neighbour, PromptReport, VirtualTokenReport } from '../eval/inspect.js';

/** TRL's conversational prompt-completion row: the prompt's messages, and the completion's (usually one assistant message). */
export interface ConversationalPromptCompletion {
  prompt: ChatMessage[];
  completion: ChatMessage[];
}

/** What the tokenize functions return: ids, and 1 where the loss falls (TRL's completion_mask; assistant_masks for chats). */
export interface CompletionFeatures {
  input_ids: number[];
  completion_mask: number[];
}

/**
 * TRL's tokenization: ids of prompt + completion, completion_mask 0 on the prompt's ids; cut from the left to
 * max_length. Conversational rows (lists of messages) are rendered with the tokenizer's chat template: the prompt with
 * add_generation_prompt, the whole without, tokenized without adding special tokens.
 */
export function tokenize_prompt_completion(
  tokenizer: PreTrainedTokenizer,
  example: PromptCompletion | ConversationalPromptCompletion,
  opts: { max_length?: number } = {},
): CompletionFeatures {
  checkMaxLength(opts.max_length);
  if (Array.isArray(example?.prompt)) return tokenizeChat(tokenizer, example, 'prompt_completion', opts.max_length);
  if (typeof example?.prompt !== 'string' || typeof example?.completion !== 'string') {
    throw new OptionError('expected { prompt: string, completion: string } or lists of { role, content } messages', 'example');
  }
  return tokenizePromptCompletion(example as PromptCompletion, tokenizer.text_tokenizer, opts.max_length);
}

/**
 * A TRL `messages` row through the tokenizer's chat template: ids of the whole chat and completion_mask 1 on each
 * assistant turn (its text and end-of-turn marker: what the chat up to it adds to the chat before it rendered with
 * add_generation_prompt), TRL's assistant_only_loss; cut from the left to max_length.
 */
export function tokenize_messages(tokenizer: PreTrainedTokenizer, example: { messages: ChatMessage[] }, opts: { max_length?: number } = {}): CompletionFeatures {
  checkMaxLength(opts.max_length);
  return tokenizeChat(tokenizer, example, 'messages', opts.max_length);
}

function tokenizeChat(tokenizer: PreTrainedTokenizer, example: object, format: 'messages' | 'prompt_completion', max_length?: number): CompletionFeatures {
  const template = tokenizer.text_tokenizer.requireChatTemplate(format === 'messages' ? 'tokenize_messages' : 'a conversational prompt-completion row');
  const chat = conversation(example as Record<string, unknown>, format, 'example');
  return tokenizeConversation(chat, template, tokenizer.text_tokenizer, max_length, 'example');
}

function checkMaxLength(max_length: number | undefined): void {
  if (max_length !== undefined && (!Number.isSafeInteger(max_length) || max_length < 1)) {
    throw new OptionError(`is ${max_length}; expected an integer >= 1`, 'max_length');
  }
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
