/**
 * transformers' AutoTokenizer / PreTrainedTokenizer: `tokenizer(text | texts, { padding, truncation, max_length })`
 * gives `{ input_ids, attention_mask }` as lists, plus encode / decode / batch_decode, the special token ids and
 * apply_chat_template.
 */
import { OptionError } from '../errors.js';
import { tokenizerFromPretrained } from '../tokenizer/pretrained.js';
import type { ChatMessage } from '../tokenizer/chat-template.js';
import type { TextTokenizer } from '../tokenizer/tokenizer.js';
import { Callable } from './callable.js';
import { hubOptions, type FromPretrainedOptions } from './hub-options.js';

/** Options of calling a tokenizer, as transformers names them. */
export interface TokenizeOptions {
  /** true or 'longest': pad to the longest row; 'max_length': pad to max_length; false (default): no padding. */
  padding?: boolean | 'longest' | 'max_length' | 'do_not_pad';
  /** Cut each row to max_length ids. */
  truncation?: boolean;
  max_length?: number;
  /** Add BOS/EOS as the tokenizer does (default true). */
  add_special_tokens?: boolean;
}

/** What calling a tokenizer returns: one row per text (a single text gives one row). */
export type BatchEncoding = {
  input_ids: number[][];
  attention_mask: number[][];
};

export type { ChatMessage };

/** Options of `apply_chat_template`, as transformers names them. */
export interface ApplyChatTemplateOptions {
  /** End with the assistant's turn opened, for the model to answer (default false). */
  add_generation_prompt?: boolean;
  /** Return token ids (default true; no special tokens added: the template writes them) or, if false, the text. */
  tokenize?: boolean;
}

/** Options of decode / batch_decode. */
export interface DecodeOptions {
  skip_special_tokens?: boolean;
}

export interface PreTrainedTokenizer {
  (text: string | string[], opts?: TokenizeOptions): BatchEncoding;
}

/** A loaded tokenizer; call it on text. Create one with `AutoTokenizer.from_pretrained`. */
export class PreTrainedTokenizer extends Callable<[string | string[], TokenizeOptions?], BatchEncoding> {
  bos_token_id: number | null;
  eos_token_id: number | null;
  /** Set it (e.g. to eos_token_id) to pad with a tokenizer that has no pad token, as in Python. */
  pad_token_id: number | null;
  /** Which side `padding` fills (transformers' default 'right'; decoder-only generation wants 'left'). */
  padding_side: 'right' | 'left' = 'right';

  /** @internal Wraps the engine-level tokenizer. */
  constructor(
    /** @internal */
    readonly text_tokenizer: TextTokenizer,
  ) {
    super();
    this.bos_token_id = text_tokenizer.bos_token_id;
    this.eos_token_id = text_tokenizer.eos_token_id;
    this.pad_token_id = text_tokenizer.pad_token_id;
  }

  /** Ids the tokenizer knows, added tokens included (Python's `len(tokenizer)`). */
  get vocab_size(): number {
    return this.text_tokenizer.vocabSize;
  }

  protected _call(text: string | string[], opts: TokenizeOptions = {}): BatchEncoding {
    const texts = typeof text === 'string' ? [text] : text;
    const { padding = false, truncation = false, max_length, add_special_tokens = true } = opts;
    if (max_length !== undefined && (!Number.isSafeInteger(max_length) || max_length < 1)) {
      throw new OptionError(`is ${max_length}; expected an integer >= 1`, 'max_length');
    }
    if (padding === 'max_length' && max_length === undefined) throw new OptionError("padding 'max_length' needs max_length", 'max_length');
    const rows = texts.map((t) => {
      const ids = this.text_tokenizer.encode(t, { add_special_tokens });
      return truncation && max_length !== undefined ? ids.slice(0, max_length) : ids;
    });
    const width = padding === true || padding === 'longest' ? Math.max(0, ...rows.map((r) => r.length)) : padding === 'max_length' ? max_length! : null;
    if (width === null) return { input_ids: rows, attention_mask: rows.map((r) => r.map(() => 1)) };
    const pad = this.pad_token_id;
    if (pad === null && rows.some((r) => r.length < width)) {
      throw new OptionError('asks to pad but the tokenizer has no pad token; set tokenizer.pad_token_id (e.g. to eos_token_id)', 'padding');
    }
    const fill = <T>(row: T[], value: T): T[] => {
      const filler = new Array<T>(Math.max(0, width - row.length)).fill(value);
      return this.padding_side === 'left' ? [...filler, ...row] : [...row, ...filler];
    };
    return { input_ids: rows.map((r) => fill(r, pad!)), attention_mask: rows.map((r) => fill(r.map(() => 1), 0)) };
  }

  /** Token ids of one text (special tokens added unless add_special_tokens is false). */
  encode(text: string, opts: { add_special_tokens?: boolean } = {}): number[] {
    return this.text_tokenizer.encode(text, opts);
  }

  /** The text of some ids; unknown ids are skipped. */
  decode(ids: number[], opts: DecodeOptions = {}): string {
    return this.text_tokenizer.decode(ids, opts);
  }

  /** The Jinja chat template (chat_template.jinja, or tokenizer_config.json's `chat_template`), or null. */
  get chat_template(): string | null {
    return this.text_tokenizer.chat_template?.source ?? null;
  }

  /**
   * The conversation rendered with the chat template, as transformers' apply_chat_template: token ids by default
   * (tokenized without adding special tokens, so a template that writes BOS gets one), the text with
   * `tokenize: false`. A tokenizer without a chat template is an OptionError.
   */
  apply_chat_template(conversation: ChatMessage[], opts: ApplyChatTemplateOptions & { tokenize: false }): string;
  /** Token ids of the rendered conversation (see the overload above). */
  apply_chat_template(conversation: ChatMessage[], opts?: ApplyChatTemplateOptions): number[];
  apply_chat_template(conversation: ChatMessage[], opts: ApplyChatTemplateOptions = {}): string | number[] {
    const text = this.text_tokenizer.requireChatTemplate('apply_chat_template').render(conversation, opts, 'conversation');
    return opts.tokenize === false ? text : this.text_tokenizer.encode(text, { add_special_tokens: false });
  }

  /** `decode` for each row. */
  batch_decode(sequences: number[][], opts: DecodeOptions = {}): string[] {
    return sequences.map((ids) => this.decode(ids, opts));
  }
}

/** Loads a model's tokenizer (transformers' AutoTokenizer; tokenizer.json is required). */
export const AutoTokenizer = {
  /** A tokenizer directory (tokenizer.json + tokenizer_config.json) or a hub id, fetched into the HF cache. */
  async from_pretrained(pretrained_model_name_or_path: string, opts: FromPretrainedOptions = {}): Promise<PreTrainedTokenizer> {
    return new PreTrainedTokenizer(await tokenizerFromPretrained(pretrained_model_name_or_path, hubOptions(opts)));
  },
};
