/**
 * A tokenizer's chat template, as transformers' apply_chat_template renders it: the Jinja source from
 * chat_template.jinja, else tokenizer_config.json's `chat_template` (a string, or a list of named templates whose
 * "default" is used), rendered with @huggingface/jinja given `messages`, `add_generation_prompt` and the special tokens
 * as strings (bos_token, eos_token, ...). The template writes the special tokens it wants, so its text is tokenized
 * without adding them again (transformers tokenizes it with add_special_tokens=False: no second BOS).
 */
import { Template } from '@huggingface/jinja';
import { FormatError, ShapeError } from '../errors.js';

/** One turn of a conversation: `role` ("system", "user", "assistant", ...) and its text; other fields reach the template as they are. */
export interface ChatMessage {
  role: string;
  content: string;
  [field: string]: unknown;
}

/** The special tokens transformers hands a chat template (its special_tokens_map). */
const SPECIAL_KEYS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'];

export class ChatTemplate {
  private parsed: Template | null = null;

  constructor(
    readonly source: string,
    private readonly specials: Record<string, unknown>,
    /** Where the template came from, for errors: the file and field. */
    readonly where: string,
  ) {}

  /**
   * The template of a tokenizer directory: chat_template.jinja's text (`file`, null when absent) wins over
   * tokenizer_config.json's field, as in transformers. Null when there is neither.
   */
  static fromConfig(config: Record<string, unknown>, file: string | null, dir: string): ChatTemplate | null {
    let source: unknown = file;
    let where = `${dir}/chat_template.jinja`;
    if (typeof source !== 'string') {
      source = config.chat_template;
      where = `${dir}/tokenizer_config.json "chat_template"`;
      if (Array.isArray(source)) source = (source.find((t) => t?.name === 'default') ?? source[0])?.template;
    }
    if (typeof source !== 'string' || source.length === 0) return null;
    const specials: Record<string, unknown> = {};
    for (const key of SPECIAL_KEYS) {
      const text = tokenText(config[key]);
      if (text !== null) specials[key] = text;
    }
    const extra = config.additional_special_tokens;
    if (Array.isArray(extra)) specials.additional_special_tokens = extra.map(tokenText).filter((t) => t !== null);
    return new ChatTemplate(source, specials, where);
  }

  /**
   * The conversation as text; with add_generation_prompt the assistant's turn is opened at the end. A template that
   * refuses the messages (raise_exception) is a ShapeError naming `where` (the row or request).
   */
  render(messages: ChatMessage[], opts: { add_generation_prompt?: boolean } = {}, where = 'messages'): string {
    if (this.parsed === null) {
      try {
        this.parsed = new Template(this.source);
      } catch (e) {
        throw new FormatError(`the chat template does not parse (${(e as Error).message})`, this.where);
      }
    }
    try {
      return this.parsed.render({ messages, add_generation_prompt: opts.add_generation_prompt ?? false, ...this.specials });
    } catch (e) {
      throw new ShapeError(`the chat template refused the messages: ${(e as Error).message}`, where);
    }
  }
}

/** A special token's text: tokenizer_config.json holds a string or an AddedToken object with `content`. */
function tokenText(value: unknown): string | null {
  const content = typeof value === 'object' && value !== null ? (value as { content?: unknown }).content : value;
  return typeof content === 'string' ? content : null;
}
