/**
 * Text ↔ token ids for a Hugging Face tokenizer.json (+ tokenizer_config.json), behaving like transformers'
 * AutoTokenizer (the fast tokenizer) on top of @huggingface/tokenizers.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { FormatError, OptionError } from '../errors.js';
import { ChatTemplate } from './chat-template.js';

/**
 * Tokenizer classes whose fast implementation rebuilds the post-processor from tokenizer_config's add_bos_token /
 * add_eos_token (defaults true / false), overriding whatever tokenizer.json says. For every other class transformers
 * keeps tokenizer.json's post-processor, so that decides whether BOS is added.
 */
const TEMPLATE_FROM_CONFIG = new Set([
  'LlamaTokenizer', 'LlamaTokenizerFast', 'CodeLlamaTokenizer', 'CodeLlamaTokenizerFast',
  'GemmaTokenizer', 'GemmaTokenizerFast',
]);

interface AddedSpecials {
  bos: number | null;
  eos: number | null;
}

export class TextTokenizer {
  private constructor(
    private readonly tokenizer: Tokenizer,
    /** Set when BOS/EOS come from tokenizer_config rather than tokenizer.json's post-processor. */
    private readonly configSpecials: AddedSpecials | null,
    readonly bos_token_id: number | null,
    readonly eos_token_id: number | null,
    readonly pad_token_id: number | null,
    /** Ids the tokenizer knows, added tokens included (transformers' len(tokenizer)). */
    readonly vocabSize: number,
    /**
     * The longest vocabulary entry, added tokens included, in UTF-16 code units: no token covers more of the
     * normalized text than this (a byte-level entry has one character per byte, a SentencePiece one one per character).
     */
    readonly maxTokenLength: number,
    /** transformers' tokenizer.chat_template; null when the tokenizer has none. */
    readonly chat_template: ChatTemplate | null,
    /** The tokenizer's directory (or hub id), for error messages. */
    readonly source: string,
  ) {}

  /**
   * `source` names the tokenizer (usually its directory) in error messages; `chatTemplateFile` is the text of its
   * chat_template.jinja, if any.
   */
  static fromJSON(tokenizerJson: object, tokenizerConfig: object | null, source: string, chatTemplateFile: string | null = null): TextTokenizer {
    const config = (tokenizerConfig ?? {}) as Record<string, unknown>;
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(tokenizerJson, config);
    } catch (e) {
      throw new FormatError(`not a usable tokenizer.json (${(e as Error).message})`, source);
    }
    const special = (key: string): number | null => {
      const value = config[key];
      const content = typeof value === 'object' && value !== null ? (value as { content?: unknown }).content : value;
      if (content === undefined || content === null) return null;
      const id = typeof content === 'string' ? tokenizer.token_to_id(content) : undefined;
      if (id === undefined) throw new FormatError(`${key} ${JSON.stringify(content)} is not in the vocabulary`, source);
      return id;
    };
    const bos = special('bos_token');
    const eos = special('eos_token');

    let configSpecials: AddedSpecials | null = null;
    if (TEMPLATE_FROM_CONFIG.has(config.tokenizer_class as string)) {
      const addBos = config.add_bos_token ?? true;
      const addEos = config.add_eos_token ?? false;
      if ((addBos && bos === null) || (addEos && eos === null)) {
        throw new FormatError('add_bos_token / add_eos_token is set but the token is not defined', source);
      }
      configSpecials = { bos: addBos ? bos : null, eos: addEos ? eos : null };
    }
    const vocab = tokenizer.get_vocab(true);
    let longest = 1;
    for (const token of vocab.keys()) longest = Math.max(longest, token.length);
    const chat = ChatTemplate.fromConfig(config, chatTemplateFile, source);
    return new TextTokenizer(tokenizer, configSpecials, bos, eos, special('pad_token'), vocab.size, longest, chat, source);
  }

  /** The chat template, or an OptionError saying that `what` (a flag, a function) needs one and this tokenizer has none. */
  requireChatTemplate(what: string): ChatTemplate {
    if (this.chat_template) return this.chat_template;
    throw new OptionError(
      `${what} needs a chat template and this tokenizer has none ("chat_template" in ${this.source}/tokenizer_config.json, or ${this.source}/chat_template.jinja)`,
      `${this.source}/tokenizer_config.json`,
    );
  }

  /** Token ids of `text`; special tokens (BOS etc.) are added unless add_special_tokens is false. */
  encode(text: string, opts: { add_special_tokens?: boolean } = {}): number[] {
    const addSpecial = opts.add_special_tokens ?? true;
    if (!this.configSpecials || !addSpecial) {
      return this.tokenizer.encode(text, { add_special_tokens: addSpecial }).ids;
    }
    const { bos, eos } = this.configSpecials;
    const ids = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    return [...(bos === null ? [] : [bos]), ...ids, ...(eos === null ? [] : [eos])];
  }

  /** Ids the tokenizer does not know are skipped, as the Rust tokenizer does. */
  decode(ids: number[], opts: { skip_special_tokens?: boolean } = {}): string {
    // The library throws on an empty list and maps unknown ids to the unk token (or undefined).
    const known = ids.filter((id) => this.tokenizer.id_to_token(id) !== undefined);
    if (known.length === 0) return '';
    return this.tokenizer.decode(known, { skip_special_tokens: opts.skip_special_tokens ?? false });
  }
}
