/**
 * From a dataset source to tokenized training (and validation) examples: read rows, select a range, turn rows into
 * texts (a column or a template), split off validation rows, tokenize. Where rows come from is the caller's
 * `RowReader`: local files parsed with ./formats.ts, or the hub, so this module does no I/O of its own.
 */
import { OptionError, ShapeError } from '../errors.js';
import type { Row } from './rows.js';
import { selectRange, trainValidationSplit } from './select.js';
import { rowTexts, type TextSpec } from './text.js';

/** Rows of a dataset named by a path or a hub id. */
export type RowReader = (source: string) => Promise<Row[]>;

export interface DatasetOptions extends TextSpec {
  /** "a:b" = select(range(a, b)); applied before the split. */
  select?: string;
  /** A fraction in (0, 1) or a row count held out for evaluation. */
  validation_split?: number;
  /** A separate dataset (same reader) for evaluation; excludes validation_split. */
  validation_file?: string;
  /** For the split. */
  seed?: number;
}

export interface TextDataset {
  train: string[];
  validation: string[] | null;
}

export async function loadTextDataset(source: string, opts: DatasetOptions, read: RowReader): Promise<TextDataset> {
  return loadDataset(source, opts, read, (rows, from) => rowTexts(rows, opts, from));
}

/** Rows read, selected, turned into items (texts, prompt-completion pairs, ...) by `items`, and split. */
export async function loadDataset<T>(
  source: string,
  opts: Omit<DatasetOptions, keyof TextSpec>,
  read: RowReader,
  items: (rows: Row[], source: string) => T[],
): Promise<{ train: T[]; validation: T[] | null }> {
  if (opts.validation_split !== undefined && opts.validation_file !== undefined) {
    throw new OptionError('give validation_split or validation_file, not both', 'validation_file');
  }
  let rows = nonEmpty(await read(source), source);
  if (opts.select !== undefined) rows = nonEmpty(selectRange(rows, opts.select, source), `${source} (select ${opts.select})`);
  const texts = items(rows, source);
  if (opts.validation_file !== undefined) {
    const validation = items(nonEmpty(await read(opts.validation_file), opts.validation_file), opts.validation_file);
    return { train: texts, validation };
  }
  if (opts.validation_split === undefined) return { train: texts, validation: null };
  return trainValidationSplit(texts, opts.validation_split, opts.seed ?? 42);
}

function nonEmpty(rows: Row[], source: string): Row[] {
  if (rows.length === 0) throw new ShapeError('the dataset has no rows', source);
  return rows;
}

export interface TokenEncoder {
  encode(text: string): number[];
}

/**
 * `tokenizer(text, truncation=True, max_length=...)`: default special tokens (BOS where the tokenizer adds one), cut
 * to the first max_length ids. Texts that give no ids at all (an empty string with a tokenizer that adds no BOS)
 * cannot be trained on and are dropped; `dropped` counts them.
 */
export function tokenizeTexts(texts: string[], tokenizer: TokenEncoder, max_length?: number): { input_ids: number[][]; dropped: number } {
  const all = texts.map((t) => tokenizer.encode(t).slice(0, max_length));
  const input_ids = all.filter((ids) => ids.length > 0);
  return { input_ids, dropped: all.length - input_ids.length };
}
