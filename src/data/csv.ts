/**
 * CSV (RFC 4180) and TSV rows through csv-parse. Quoted fields may hold delimiters, doubled quotes and newlines; CRLF
 * or LF line ends; a UTF-8 BOM is dropped; blank lines are skipped (as pandas does). A quote inside an unquoted field
 * is a literal character, as in Python's csv and pandas. Spaces at the start of a field are skipped (pandas'
 * skipinitialspace=True), so `, "..."` reads as a quoted field: the awesome-chatgpt-prompts CSV has one, which strict
 * parsers reject and Python's csv splits at every comma inside it. A record whose field count differs from the
 * header's is a bad row.
 * TSV has no quoting at all (IANA text/tab-separated-values).
 */
import { CsvError, parse } from 'csv-parse/sync';
import { FormatError } from '../errors.js';
import type { BadRowOptions, Row } from './rows.js';

export interface CsvOptions extends BadRowOptions {
  /** Default ','. */
  delimiter?: string;
  /** Default true; false reads every character literally (TSV). */
  quoting?: boolean;
  /** The file has no header row; these name its columns (HF's / pandas' column_names). */
  column_names?: string[];
}

export function parseCsv(text: string, source: string, opts: CsvOptions = {}): Row[] {
  const quoting = opts.quoting ?? true;
  // The line each record ends on, for messages (csv-parse counts lines across quoted newlines).
  const lines: number[] = [];
  let records: string[][];
  try {
    records = parse(text, {
      delimiter: opts.delimiter ?? ',',
      quote: quoting ? '"' : false,
      ltrim: quoting,
      relax_quotes: true,
      relax_column_count: true,
      bom: true,
      skip_empty_lines: true,
      on_record: (record: string[], context) => {
        lines.push(context.lines);
        return record;
      },
    });
  } catch (e) {
    if (e instanceof CsvError && e.code === 'CSV_QUOTE_NOT_CLOSED') {
      // Everything after an unclosed quote is one field, so no later row can be trusted: always fatal.
      throw new FormatError('a quoted field in the record starting here is never closed', `${source}:${(lines.at(-1) ?? 0) + 1}`);
    }
    throw new FormatError(`not valid CSV (${(e as Error).message})`, source);
  }
  const header = opts.column_names ?? records[0];
  if (!header) return [];
  const first = opts.column_names ? 0 : 1;
  const rows: Row[] = [];
  for (let r = first; r < records.length; r++) {
    const record = records[r];
    if (record.length !== header.length) {
      const message = `expected ${header.length} fields (${header.join(', ')}), got ${record.length}`;
      if (opts.on_bad_row !== 'skip') throw new FormatError(`${message} (use on_bad_row 'skip' to drop bad rows)`, `${source}:${lines[r]}`);
      opts.on_skip?.({ line: lines[r], message });
      continue;
    }
    rows.push(Object.fromEntries(header.map((name, i) => [name, record[i]])));
  }
  return rows;
}
