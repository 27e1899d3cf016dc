/**
 * One row's text as it grows, for streaming and stop strings. The whole row (input + new ids) is decoded each time,
 * because tokenizers join pieces context-dependently (SentencePiece drops the first token's leading space, byte-level
 * BPE splits characters across tokens); what is new is what lies past the text already handed out. Text ending in
 * U+FFFD is held back: its last character is still incomplete.
 */
import type { TextTokenizer } from '../tokenizer/tokenizer.js';

const INCOMPLETE = '\uFFFD';

export class RowText {
  private readonly ids: number[];
  private text: string;
  /** Length of the input's own text: stop strings must end past it. */
  private readonly inputLength: number;
  private printed: number;

  constructor(
    private readonly tokenizer: TextTokenizer,
    inputIds: readonly number[],
  ) {
    this.ids = [...inputIds];
    this.text = this.decode();
    this.inputLength = this.text.replace(/\uFFFD+$/, '').length;
    this.printed = this.inputLength;
  }

  /** Appends a token and returns the text that became printable ('' while a character is incomplete). */
  push(id: number): string {
    this.ids.push(id);
    this.text = this.decode();
    return this.text.endsWith(INCOMPLETE) ? '' : this.flush();
  }

  /** Everything not yet handed out, incomplete characters included (for the row's last token). */
  flush(): string {
    const delta = this.text.slice(this.printed);
    this.printed = Math.max(this.printed, this.text.length);
    return delta;
  }

  /** Whether one of `stops` occurs in the text and ends after the input's text. */
  contains(stops: readonly string[]): boolean {
    return stops.some((s) => this.text.indexOf(s, Math.max(0, this.inputLength - s.length + 1)) >= 0);
  }

  private decode(): string {
    return this.tokenizer.decode(this.ids, { skip_special_tokens: true });
  }
}
