/**
 * `--dataset org/name`: one split of a Hugging Face hub dataset as rows, read from the files hub/dataset-files.ts
 * fetches into the cache (the hub's parquet conversion, else the repo's CSV, JSON, JSONL or parquet files).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { FormatError } from '../errors.js';
import { fetchSplitFiles, type DatasetSplitOptions } from '../hub/dataset-files.js';
import { parquetTable, type Table } from './parquet.js';

export type Row = Record<string, unknown>;
export type HubDatasetOptions = DatasetSplitOptions;

/** A split's rows, its column names in file order (for errors about a missing column) and the files read. */
export async function readHubDataset(id: string, opts: HubDatasetOptions = {}): Promise<Table & { files: string[] }> {
  const { dir, files } = await fetchSplitFiles(id, opts);
  const tables: Table[] = [];
  for (const file of files) tables.push(await readTable(join(dir, file), file));
  opts.progress_callback?.({ status: 'ready', name: id, model: id, task: 'dataset' });
  return { rows: tables.flatMap((t) => t.rows), columns: [...new Set(tables.flatMap((t) => t.columns))], files };
}

export async function loadHubDataset(id: string, opts: HubDatasetOptions = {}): Promise<Row[]> {
  return (await readHubDataset(id, opts)).rows;
}

async function readTable(path: string, name: string): Promise<Table> {
  const bytes = await readFile(path);
  if (/\.parquet$/i.test(name)) return parquetTable(bytes, path);
  const text = bytes.toString('utf8');
  const rows = /\.csv$/i.test(name)
    ? csvRows(text, path)
    : /\.jsonl$/i.test(name)
      ? jsonLines(text, path)
      : jsonRows(text, path);
  return { rows, columns: [...new Set(rows.flatMap((row) => Object.keys(row)))] };
}

function csvRows(text: string, source: string): Row[] {
  const options = { columns: true, bom: true, skip_empty_lines: true } as const;
  try {
    return parse(text, options);
  } catch {
    // Hand-edited files such as awesome-chatgpt-prompts have a space before an opening quote (`, "...`), which a
    // strict parser rejects. Left-trimming every field accepts it, so it is only the fallback.
    try {
      return parse(text, { ...options, ltrim: true, relax_quotes: true });
    } catch (e) {
      throw new FormatError(`not valid CSV (${(e as Error).message})`, source);
    }
  }
}

const isRow = (v: unknown): v is Row => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A list of objects, an object of equal-length columns, or (as `datasets` also accepts in .json files) JSON Lines. */
function jsonRows(text: string, source: string): Row[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return jsonLines(text, source);
  }
  if (Array.isArray(value) && value.every(isRow)) return value;
  if (isRow(value)) {
    const columns = Object.entries(value);
    const n = Array.isArray(columns[0]?.[1]) ? columns[0][1].length : -1;
    if (n < 0 || !columns.every(([, c]) => Array.isArray(c) && c.length === n)) return [value];
    return Array.from({ length: n }, (_, i) => Object.fromEntries(columns.map(([k, c]) => [k, (c as unknown[])[i]])));
  }
  throw new FormatError('expected a list of objects, an object of equal-length lists, or JSON Lines', source);
}

function jsonLines(text: string, source: string): Row[] {
  return text.split('\n').flatMap((line, i) => {
    if (line.trim() === '') return [];
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new FormatError(`line ${i + 1} is not valid JSON (${(e as Error).message})`, source);
    }
    if (!isRow(row)) throw new FormatError(`line ${i + 1} is not a JSON object`, source);
    return [row];
  });
}
