/**
 * 🤗 datasets' load_dataset / Dataset / DatasetDict, as far as a prompt-tuning script uses them: load a hub dataset
 * or local CSV/TSV/JSON/JSONL/text/parquet files, then `map` (row by row or batched), `select`, `filter`, `shuffle`,
 * `train_test_split`.
 */
import { stat } from 'node:fs/promises';
import { OptionError, ShapeError } from '../errors.js';
import { DATASET_FORMATS, parseRows, type DatasetFormat } from '../data/formats.js';
import { readHubDataset, type HubDatasetOptions } from '../data/hub-source.js';
import { parquetTable } from '../data/parquet.js';
import { MAX_TEXT_BYTES, readFileCapped } from '../hub/local.js';
import { Generator } from '../random.js';

/**
 * A row: column name -> value. Values are dynamically typed, as in Python's datasets, so that a script can write
 * `tokenizer(row['prompt'])` without a cast.
 */
export type Row = Record<string, any>;

/** A batch as `map(fn, { batched: true })` hands it over: column name -> that column's values. */
export type Batch = Record<string, any[]>;

/** What `map` calls per row: returns the columns to add or replace. */
export type RowFunction = (row: Row, index: number) => Row;
/** What `map(fn, { batched: true })` calls per batch: returns columns of the batch's length. */
export type BatchFunction = (batch: Batch, indices: number[]) => Batch;

/** Options of `map`, as 🤗 datasets names them. */
export interface MapOptions {
  batched?: boolean;
  /** Rows per call with batched (default 1000, as 🤗 datasets). */
  batch_size?: number;
  remove_columns?: string[];
}

/** A table of rows. Every method returns a new Dataset; none changes this one. */
export class Dataset implements Iterable<Row> {
  constructor(private readonly rows: Row[]) {}

  get num_rows(): number {
    return this.rows.length;
  }

  get length(): number {
    return this.rows.length;
  }

  /** Every column any row has, in first-seen order. */
  get column_names(): string[] {
    return [...new Set(this.rows.flatMap((r) => Object.keys(r)))];
  }

  /** Row `i` (Python's `dataset[i]`). */
  at(i: number): Row {
    if (!Number.isInteger(i) || i < -this.rows.length || i >= this.rows.length) {
      throw new ShapeError(`index ${i} is out of range for ${this.rows.length} rows`, 'index');
    }
    return this.rows.at(i)!;
  }

  /** The values of one column. */
  column(name: string): unknown[] {
    if (!this.column_names.includes(name)) throw new ShapeError(`no column "${name}" (columns: ${this.column_names.join(', ')})`, 'column');
    return this.rows.map((r) => r[name]);
  }

  /** Rows in order. */
  [Symbol.iterator](): Iterator<Row> {
    return this.rows[Symbol.iterator]();
  }

  /** Copies of the rows. */
  to_list(): Row[] {
    return this.rows.map((r) => ({ ...r }));
  }

  /** Adds (or replaces) the columns `fn` returns, per row or per batch of columns; `remove_columns` drops others. */
  map(fn: BatchFunction, opts: MapOptions & { batched: true }): Dataset;
  map(fn: RowFunction, opts?: MapOptions & { batched?: false }): Dataset;
  map(fn: RowFunction | BatchFunction, opts: MapOptions = {}): Dataset {
    const drop = new Set(opts.remove_columns ?? []);
    const keep = (row: Row): Row => Object.fromEntries(Object.entries(row).filter(([k]) => !drop.has(k)));
    if (!opts.batched) return new Dataset(this.rows.map((row, i) => ({ ...keep(row), ...(fn as RowFunction)(row, i) })));
    const size = opts.batch_size ?? 1000;
    if (!Number.isSafeInteger(size) || size < 1) throw new OptionError(`is ${size}; expected an integer >= 1`, 'batch_size');
    const out: Row[] = [];
    for (let start = 0; start < this.rows.length; start += size) {
      const rows = this.rows.slice(start, start + size);
      const indices = rows.map((_, i) => start + i);
      const columns = Object.fromEntries(this.column_names.map((c) => [c, rows.map((r) => r[c])]));
      const result = (fn as BatchFunction)(columns, indices);
      for (const [name, values] of Object.entries(result)) {
        if (!Array.isArray(values) || values.length !== rows.length) {
          throw new ShapeError(`column "${name}" returned by map has ${Array.isArray(values) ? values.length : 'no'} values for a batch of ${rows.length} rows`, 'map');
        }
      }
      rows.forEach((row, i) => out.push({ ...keep(row), ...Object.fromEntries(Object.entries(result).map(([k, v]) => [k, v[i]])) }));
    }
    return new Dataset(out);
  }

  /** The rows at `indices`, in that order (e.g. `select(range(50))`). */
  select(indices: Iterable<number>): Dataset {
    return new Dataset([...indices].map((i) => this.at(i)));
  }

  /** The rows for which `fn` is true. */
  filter(fn: (row: Row, index: number) => boolean): Dataset {
    return new Dataset(this.rows.filter((row, i) => fn(row, i)));
  }

  /** A seeded permutation of the rows. */
  shuffle(opts: { seed?: number } = {}): Dataset {
    return this.select(Generator.seeded(opts.seed ?? 42).permutation(this.rows.length));
  }

  /** `{ train, test }`: `test_size` rows (or that fraction) held out after a seeded shuffle. */
  train_test_split(opts: { test_size: number; seed?: number; shuffle?: boolean }): DatasetDict {
    const n = this.rows.length;
    const { test_size } = opts;
    const test = test_size < 1 ? Math.ceil(test_size * n) : test_size;
    if (!(test_size > 0) || !Number.isSafeInteger(test) || test >= n) {
      throw new OptionError(`is ${test_size}; expected a fraction in (0, 1) or a row count below ${n}`, 'test_size');
    }
    const order = opts.shuffle === false ? [...Array(n).keys()] : Generator.seeded(opts.seed ?? 42).permutation(n);
    return datasetDict({ train: this.select(order.slice(0, n - test)), test: this.select(order.slice(n - test)) });
  }
}

/** What a DatasetDict has besides its splits. */
export interface DatasetDictMethods {
  /** Maps every split. */
  map(fn: BatchFunction, opts: MapOptions & { batched: true }): DatasetDict;
  /** Maps every split, row by row. */
  map(fn: RowFunction, opts?: MapOptions & { batched?: false }): DatasetDict;
  /** Column names per split. */
  readonly column_names: Record<string, string[]>;
}

/** Splits by name (`dict.train`, `dict["test"]`), with `map` over all of them. */
export type DatasetDict = { [split: string]: Dataset } & DatasetDictMethods;

export function datasetDict(splits: Record<string, Dataset>): DatasetDict {
  const dict = { ...splits };
  Object.defineProperties(dict, {
    map: { value: (fn: RowFunction, opts?: MapOptions & { batched?: false }) => datasetDict(Object.fromEntries(Object.entries(splits).map(([k, d]) => [k, d.map(fn, opts)]))) },
    column_names: { get: () => Object.fromEntries(Object.entries(splits).map(([k, d]) => [k, d.column_names])) },
  });
  return dict as DatasetDict;
}

/** Python's range(stop) / range(start, stop[, step]), for `select(range(50))`. */
export function range(startOrStop: number, stop?: number, step = 1): number[] {
  const [start, end] = stop === undefined ? [0, startOrStop] : [startOrStop, stop];
  if (step === 0 || !Number.isSafeInteger(step)) throw new OptionError(`is ${step}; expected a non-zero integer`, 'step');
  const out: number[] = [];
  for (let i = start; step > 0 ? i < end : i > end; i += step) out.push(i);
  return out;
}

const BUILDERS = [...DATASET_FORMATS, 'parquet'] as const;
type Builder = (typeof BUILDERS)[number];

/** Options of `load_dataset`: hub revision/cache settings, `data_files` for a builder, `split`. */
export interface LoadDatasetOptions extends Omit<HubDatasetOptions, 'split'> {
  /** For a builder name ('csv', 'json', 'parquet', ...): a file, files, or files per split (default split "train"). */
  data_files?: string | string[] | Record<string, string | string[]>;
  /** Return this split as a Dataset instead of a DatasetDict. */
  split?: string;
}

/**
 * `load_dataset('org/name')` (the hub's parquet conversion or data files, cached as Python does),
 * `load_dataset('csv' | 'json' | 'parquet' | 'text', { data_files })`, or a local file path. With `split`, that
 * split as a Dataset; otherwise a DatasetDict (a hub dataset: its train split).
 */
export async function load_dataset(path: string, opts: LoadDatasetOptions & { split: string }): Promise<Dataset>;
export async function load_dataset(path: string, opts?: LoadDatasetOptions): Promise<DatasetDict>;
export async function load_dataset(path: string, opts: LoadDatasetOptions = {}): Promise<Dataset | DatasetDict> {
  const { data_files, split, ...hub } = opts;
  const splits = (BUILDERS as readonly string[]).includes(path)
    ? await readSplits(path as Builder, data_files)
    : (await stat(path).catch(() => null))?.isFile()
      ? await readSplits(null, path)
      : { [split ?? 'train']: new Dataset((await readHubDataset(path, { ...hub, split: split ?? 'train' })).rows) };
  if (split === undefined) return datasetDict(splits);
  if (!splits[split]) throw new OptionError(`is "${split}"; this dataset has ${Object.keys(splits).join(', ')}`, 'split');
  return splits[split];
}

async function readSplits(builder: Builder | null, files: LoadDatasetOptions['data_files']): Promise<Record<string, Dataset>> {
  if (files === undefined) throw new OptionError(`is required with the "${builder}" builder`, 'data_files');
  const bySplit = typeof files === 'string' || Array.isArray(files) ? { train: files } : files;
  const splits: Record<string, Dataset> = {};
  for (const [name, paths] of Object.entries(bySplit)) {
    const rows: Row[] = [];
    for (const path of typeof paths === 'string' ? [paths] : paths) rows.push(...(await readRows(path, builder)));
    splits[name] = new Dataset(rows);
  }
  return splits;
}

async function readRows(path: string, builder: Builder | null): Promise<Row[]> {
  const read = await readFileCapped(path, MAX_TEXT_BYTES);
  const bytes = Buffer.from(read.buffer, read.byteOffset, read.length);
  if (builder === 'parquet' || (builder === null && /\.parquet$/i.test(path))) return (await parquetTable(bytes, path)).rows;
  return parseRows(bytes.toString('utf8'), path, { format: (builder ?? undefined) as DatasetFormat | undefined });
}
