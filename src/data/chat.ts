/**
 * Conversational data, as TRL's SFTTrainer takes it, rendered with the model's chat template:
 * - a `messages` column (a list of { role, content }): the loss falls on the assistant turns (TRL's
 *   assistant_only_loss). Each assistant turn is what the rendering of the conversation up to and including it adds
 *   to the rendering of the conversation before it with add_generation_prompt=True: its text and end-of-turn marker;
 * - `prompt` and `completion` columns, each a list of messages: the prompt is rendered with add_generation_prompt=True,
 *   the whole conversation (prompt + completion) without, and the loss falls on what follows the prompt's tokens.
 * The rendered text is tokenized without adding special tokens (the template writes BOS where it wants one, as
 * transformers' apply_chat_template does). As TRL, the first row decides whether a dataset is conversational.
 */
import { FormatError, ShapeError } from '../errors.js';
import type { ChatMessage } from '../tokenizer/chat-template.js';
import type { CompletionExample } from './collator.js';
import type { Row } from './rows.js';

/** A conversation to train on: a whole chat (loss on its assistant turns), or a prompt and its completion. */
export type Conversation = { messages: ChatMessage[] } | { prompt: ChatMessage[]; completion: ChatMessage[] };

export type ConversationFormat = 'messages' | 'prompt_completion';

/** TRL's is_conversational: `prompt` (with `completion`) or `messages` holding a list whose first item has a role. */
export function conversationFormat(row: Row): ConversationFormat | null {
  const isChat = (value: unknown) => Array.isArray(value) && typeof value[0] === 'object' && value[0] !== null && 'role' in value[0];
  if (isChat(row.prompt)) return 'prompt_completion';
  return isChat(row.messages) ? 'messages' : null;
}

/** Each row's conversation in `format`. */
export function conversations(rows: Row[], format: ConversationFormat, source: string): Conversation[] {
  return rows.map((row, i) => conversation(row, format, `${source} row ${i + 1}`));
}

/** A row's conversation; messages that are not lists of { role: string, content: string } are a FormatError naming `where` and the field. */
export function conversation(row: Row, format: ConversationFormat, where: string): Conversation {
  if (format === 'prompt_completion') return { prompt: messageList(row, 'prompt', where), completion: messageList(row, 'completion', where) };
  const messages = messageList(row, 'messages', where);
  if (!messages.some((m) => m.role === 'assistant')) throw new FormatError('"messages" has no assistant turn to train on', where);
  return { messages };
}

function messageList(row: Row, field: string, where: string): ChatMessage[] {
  const list = row[field];
  if (!Array.isArray(list) || list.length === 0) {
    throw new FormatError(`"${field}" is ${shown(list)}; expected a non-empty list of { "role", "content" } messages`, where);
  }
  return list.map((m: unknown, j) => {
    const message = m as Record<string, unknown>;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new FormatError(`${field}[${j}] is ${shown(m)}; expected a { "role", "content" } object`, where);
    if (typeof message.role !== 'string' || message.role === '') throw new FormatError(`${field}[${j}].role is ${shown(message.role)}; expected a string`, where);
    if (typeof message.content !== 'string') throw new FormatError(`${field}[${j}].content is ${shown(message.content)}; expected a string`, where);
    return message as ChatMessage;
  });
}

function shown(value: unknown): string {
  const text = value === undefined ? 'missing' : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** What tokenizing needs of a chat template and a tokenizer (tests pass stand-ins with exact boundaries). */
export interface ChatRenderer {
  render(messages: ChatMessage[], opts: { add_generation_prompt?: boolean }, where?: string): string;
}

export interface ChatEncoder {
  encode(text: string, opts: { add_special_tokens?: boolean }): number[];
}

/**
 * A conversation's ids (its rendering, no special tokens added) and completion_mask (1 on the completion or the
 * assistant turns); cut from the left to max_length, as prompt-completion pairs are.
 */
export function tokenizeConversation(
  conversation: Conversation, template: ChatRenderer, tokenizer: ChatEncoder, max_length: number | undefined, where: string,
): CompletionExample {
  const render = (messages: ChatMessage[], add_generation_prompt: boolean) => template.render(messages, { add_generation_prompt }, where);
  const messages = 'messages' in conversation ? conversation.messages : [...conversation.prompt, ...conversation.completion];
  const whole = render(messages, false);
  const encode = (text: string) => tokenizer.encode(text, { add_special_tokens: false });
  // A span's ends are token counts of renderings that must start the whole one.
  const length = (text: string, what: string) => {
    if (!whole.startsWith(text)) {
      throw new ShapeError(`the chat template renders ${what} differently from the start of the whole conversation, so its tokens cannot be told apart`, where);
    }
    return encode(text).length;
  };
  const ids = encode(whole);
  const mask = new Array<number>(ids.length).fill(0);
  if ('messages' in conversation) {
    messages.forEach((m, i) => {
      if (m.role !== 'assistant') return;
      const start = length(render(messages.slice(0, i), true), `the conversation before messages[${i}]`);
      const end = i === messages.length - 1 ? ids.length : length(render(messages.slice(0, i + 1), false), `the conversation up to messages[${i}]`);
      mask.fill(1, start, end);
    });
  } else {
    mask.fill(1, length(render(conversation.prompt, true), 'the prompt'));
  }
  const cut = max_length === undefined ? 0 : Math.max(0, ids.length - max_length);
  return { input_ids: ids.slice(cut), completion_mask: mask.slice(cut) };
}

/** Every conversation tokenized; one left with no completion tokens is a ShapeError naming its row. */
export function tokenizeConversations(
  items: Conversation[], template: ChatRenderer, tokenizer: ChatEncoder, max_length: number | undefined, source: string,
): CompletionExample[] {
  return items.map((conversation, i) => {
    const where = `${source} row ${i + 1}`;
    const example = tokenizeConversation(conversation, template, tokenizer, max_length, where);
    if (!example.completion_mask.includes(1)) throw new ShapeError('the completion (or assistant turns) gives no tokens', where);
    return example;
  });
}
