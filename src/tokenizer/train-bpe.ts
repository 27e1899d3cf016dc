/**
 * A byte-level BPE trainer (GPT-2's scheme) that writes a standard Hugging Face tokenizer.json: the ByteLevel
 * pre-tokenizer splits text with GPT-2's regex and maps each byte to a printable character; training then repeatedly
 * merges the most frequent adjacent pair inside those words. Ties go to the pair whose merged string sorts first, so
 * the same corpus always gives the same merges. Every byte is in the base vocabulary: nothing is ever unknown.
 */
import { OptionError } from '../errors.js';

/** GPT-2's pre-tokenization pattern, the one the ByteLevel pre-tokenizer applies with use_regex. */
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's bytes_to_unicode: printable bytes stand for themselves, the rest map to code points from 256 up. */
export function byteToUnicode(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let next = 256;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : next++));
}

export interface BpeOptions {
  /** Total vocabulary: special tokens + 256 bytes + merges. */
  vocabSize: number;
  /** Added first, ids 0.. in order. */
  specialTokens: string[];
  /** Pairs seen fewer times are never merged. */
  minFrequency?: number;
}

export interface TrainedBpe {
  vocab: Map<string, number>;
  merges: Array<[string, string]>;
}

/** Word (pre-token, byte-mapped) frequencies of a corpus. */
export function wordCounts(texts: Iterable<string>): Map<string, number> {
  const chars = byteToUnicode();
  const encoder = new TextEncoder();
  const counts = new Map<string, number>();
  for (const text of texts) {
    for (const [piece] of text.matchAll(GPT2_SPLIT)) {
      let word = '';
      for (const b of encoder.encode(piece)) word += chars[b];
      counts.set(word, (counts.get(word) ?? 0) + 1);
    }
  }
  return counts;
}

export function trainBpe(counts: Map<string, number>, opts: BpeOptions): TrainedBpe {
  const base = opts.specialTokens.length + 256;
  if (!Number.isSafeInteger(opts.vocabSize) || opts.vocabSize < base) {
    throw new OptionError(`is ${opts.vocabSize}; expected an integer >= ${base} (special tokens + 256 bytes)`, 'vocab_size');
  }
  const minFrequency = opts.minFrequency ?? 2;
  const symbols: string[] = [...opts.specialTokens, ...byteToUnicode()];
  const idOf = new Map(symbols.map((s, i) => [s, i]));

  // Words as arrays of symbol ids, with their frequency; pairs keyed as a * 2^20 + b.
  const entries = [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const words = entries.map(([w]) => [...w].map((c) => idOf.get(c)!));
  const freq = entries.map(([, n]) => n);
  const key = (a: number, b: number) => a * 1048576 + b;
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPairs = (w: number, sign: number) => {
    const word = words[w];
    for (let i = 0; i + 1 < word.length; i++) {
      const k = key(word[i], word[i + 1]);
      pairCount.set(k, (pairCount.get(k) ?? 0) + sign * freq[w]);
      if (sign > 0) {
        let set = pairWords.get(k);
        if (!set) pairWords.set(k, (set = new Set()));
        set.add(w);
      }
    }
  };
  words.forEach((_, w) => addPairs(w, 1));

  const merges: Array<[string, string]> = [];
  while (symbols.length < opts.vocabSize) {
    let best = -1;
    let bestCount = minFrequency - 1;
    let bestString = '';
    for (const [k, n] of pairCount) {
      if (n < bestCount || n <= 0) continue;
      const s = symbols[Math.floor(k / 1048576)] + symbols[k % 1048576];
      if (n > bestCount || s < bestString) [best, bestCount, bestString] = [k, n, s];
    }
    if (best < 0) break;
    const [a, b] = [Math.floor(best / 1048576), best % 1048576];
    const merged = symbols.length;
    symbols.push(bestString);
    merges.push([symbols[a], symbols[b]]);
    for (const w of pairWords.get(best) ?? []) {
      addPairs(w, -1);
      const word = words[w];
      const out: number[] = [];
      for (let i = 0; i < word.length; i++) {
        if (i + 1 < word.length && word[i] === a && word[i + 1] === b) {
          out.push(merged);
          i++;
        } else {
          out.push(word[i]);
        }
      }
      words[w] = out;
      addPairs(w, 1);
    }
    pairCount.delete(best);
    pairWords.delete(best);
  }
  return { vocab: new Map(symbols.map((s, i) => [s, i])), merges };
}

/**
 * The tokenizer.json (schema 1.0, as the Rust `tokenizers` library writes it) of a trained BPE. `bos`, when given,
 * is prepended to every encoding by a TemplateProcessing post-processor.
 */
export function bpeTokenizerJson(bpe: TrainedBpe, specialTokens: string[], bos: string | null): object {
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const id = (token: string) => bpe.vocab.get(token)!;
  const postProcessor = bos === null
    ? { ...byteLevel, trim_offsets: false }
    : {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [
          { SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
          { SpecialToken: { id: bos, type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } },
        ],
        special_tokens: { [bos]: { id: bos, ids: [id(bos)], tokens: [bos] } },
      };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: specialTokens.map((content) => ({
      id: id(content), content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: postProcessor,
    decoder: byteLevel,
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false,
      vocab: Object.fromEntries(bpe.vocab),
      merges: bpe.merges.map(([a, b]) => `${a} ${b}`),
    },
  };
}
