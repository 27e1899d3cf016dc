/**
 * Dataset files by format, named as HF's `load_dataset` builders are: csv, tsv (csv with a tab and no quoting), json
 * (a JSON array, or JSON Lines as HF's json builder also accepts), jsonl, and text (one row per line, column "text").
 */
import { OptionError } from '../errors.js';
import { parseCsv, type CsvOptions } from './csv.js';
import { parseJsonArray, parseJsonLines } from './json.js';
import type { BadRowOptions, Row } from './rows.js';

export type DatasetFormat = 'csv' | 'tsv' | 'json' | 'jsonl' | 'text';
export const DATASET_FORMATS: readonly DatasetFormat[] = ['csv', 'tsv', 'json', 'jsonl', 'text'];

export interface FileOptions extends BadRowOptions {
  /** Default: from the file extension. */
  format?: DatasetFormat;
  delimiter?: string;
  column_names?: string[];
}

const EXTENSIONS: Record<string, DatasetFormat> = {
  csv: 'csv', tsv: 'tsv', tab: 'tsv', json: 'json', jsonl: 'jsonl', ndjson: 'jsonl', txt: 'text',
};

function formatOf(path: string, given?: DatasetFormat): DatasetFormat {
  if (given !== undefined) {
    if (!DATASET_FORMATS.includes(given)) throw new OptionError(`is ${JSON.stringify(given)}; expected one of ${DATASET_FORMATS.join(', ')}`, 'format');
    return given;
  }
  const ext = /\.([A-Za-z]+)$/.exec(path)?.[1]?.toLowerCase();
  const format = ext === undefined ? undefined : EXTENSIONS[ext];
  if (!format) throw new OptionError(`cannot tell the format of ${path} from its name; set format to one of ${DATASET_FORMATS.join(', ')}`, 'format');
  return format;
}

export function parseRows(text: string, path: string, opts: FileOptions = {}): Row[] {
  const format = formatOf(path, opts.format);
  const csv: CsvOptions = { ...opts, ...(format === 'tsv' ? { delimiter: opts.delimiter ?? '\t', quoting: false } : {}) };
  switch (format) {
    case 'csv':
    case 'tsv':
      return parseCsv(text, path, csv);
    case 'json':
      return text.trimStart().startsWith('[') ? parseJsonArray(text, path, opts) : parseJsonLines(text, path, opts);
    case 'jsonl':
      return parseJsonLines(text, path, opts);
    case 'text':
      return text.split(/\r?\n/).filter((line) => line !== '').map((line) => ({ text: line }));
  }
}
