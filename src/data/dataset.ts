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
  /** Multitask prompt tuning: the column holding each row's task id (an integer >= 0). */
  task_id_column?: string;
}

/** A dataset's items (texts, prompt-completion pairs, ...), split. */
export interface Items<T> {
  train: T[];
  validation: T[] | null;
  /** With task_id_column: each item's task id. */
  train_task_ids?: number[];
  validation_task_ids?: number[] | null;
}

export type TextDataset = Items<string>;

export async function loadTextDataset(source: string, opts: DatasetOptions, read: RowReader): Promise<TextDataset> {
  return loadDataset(source, opts, read, (rows, from) => rowTexts(rows, opts, from));
}

/** Rows read, selected, turned into items (texts, prompt-completion pairs, ...) by `items`, and split. */
export async function loadDataset<T>(
  source: string,
  opts: Omit<DatasetOptions, keyof TextSpec>,
  read: RowReader,
  items: (rows: Row[], source: string) => T[],
): Promise<Items<T>> {
  if (opts.validation_split !== undefined && opts.validation_file !== undefined) {
    throw new OptionError('give validation_split or validation_file, not both', 'validation_file');
  }
  let rows = nonEmpty(await read(source), source);
  if (opts.select !== undefined) rows = nonEmpty(selectRange(rows, opts.select, source), `${source} (select ${opts.select})`);
  const train = items(rows, source);
  const column = opts.task_id_column;
  const ids = column === undefined ? null : rowTaskIds(rows, column, source);
  if (opts.validation_file !== undefined) {
    const validationRows = nonEmpty(await read(opts.validation_file), opts.validation_file);
    const validation = items(validationRows, opts.validation_file);
    if (!ids) return { train, validation };
    return { train, validation, train_task_ids: ids, validation_task_ids: rowTaskIds(validationRows, column!, opts.validation_file) };
  }
  if (opts.validation_split === undefined) return { train, validation: null, ...(ids ? { train_task_ids: ids, validation_task_ids: null } : {}) };
  if (!ids) return trainValidationSplit(train, opts.validation_split, opts.seed ?? 42);
  const split = trainValidationSplit(train.map((item, i) => ({ item, id: ids[i] })), opts.validation_split, opts.seed ?? 42);
  return {
    train: split.train.map((x) => x.item),
    validation: split.validation.map((x) => x.item),
    train_task_ids: split.train.map((x) => x.id),
    validation_task_ids: split.validation.map((x) => x.id),
  };
}

/** Each row's task id from `column`: an integer >= 0 (a number, or a string of digits as CSV gives it). */
function rowTaskIds(rows: Row[], column: string, source: string): number[] {
  return rows.map((row, i) => {
    const v = row[column];
    const id = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
    if (!Number.isSafeInteger(id) || (id as number) < 0) {
      throw new ShapeError(`row ${i}: column "${column}" is ${JSON.stringify(v)}; expected a task id (an integer >= 0)`, source);
    }
    return id as number;
  });
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
  const { input_ids, dropped } = tokenizeKept(texts, tokenizer, max_length);
  return { input_ids, dropped };
}

/** tokenizeTexts, saying which texts the examples are (`kept`: indices into `texts`), to keep per-row columns aligned. */
export function tokenizeKept(texts: string[], tokenizer: TokenEncoder, max_length?: number): { input_ids: number[][]; dropped: number; kept: number[] } {
  const all = texts.map((t) => tokenizer.encode(t).slice(0, max_length));
  const kept = all.flatMap((ids, i) => (ids.length > 0 ? [i] : []));
  return { input_ids: kept.map((i) => all[i]), dropped: all.length - kept.length, kept };
}
