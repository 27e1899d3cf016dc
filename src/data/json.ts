/**
 * JSON datasets: a JSON array of objects (or of strings, read as {"text": ...}), or JSON Lines with one object per
 * line (blank lines skipped). An item that is not an object or string, or a JSONL line that does not parse, is a bad
 * row.
 */
import { FormatError } from '../errors.js';
import type { BadRowOptions, Row } from './rows.js';

export function parseJsonArray(text: string, source: string, opts: BadRowOptions = {}): Row[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new FormatError(`not valid JSON (${(e as Error).message})`, source);
  }
  if (!Array.isArray(value)) throw new FormatError('expected a JSON array of objects (or of strings)', source);
  return collect(value.map((item, i) => [i + 1, () => item]), source, 'item', opts);
}

export function parseJsonLines(text: string, source: string, opts: BadRowOptions = {}): Row[] {
  const lines = text.split(/\r?\n/).map((line, i) => [i + 1, line] as const).filter(([, line]) => line.trim() !== '');
  return collect(lines.map(([n, line]) => [n, () => JSON.parse(line)]), source, 'line', opts);
}

function collect(items: Array<[number, () => unknown]>, source: string, unit: string, opts: BadRowOptions): Row[] {
  const rows: Row[] = [];
  for (const [n, read] of items) {
    let message: string;
    try {
      const value = read();
      if (typeof value === 'string') {
        rows.push({ text: value });
        continue;
      }
      if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
        rows.push(value as Row);
        continue;
      }
      message = `expected an object (or a string), got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`;
    } catch (e) {
      message = `not valid JSON (${(e as Error).message})`;
    }
    const where = unit === 'line' ? `${source}:${n}` : `${source}[${n - 1}]`;
    if (opts.on_bad_row !== 'skip') throw new FormatError(`${message} (use on_bad_row 'skip' to drop bad rows)`, where);
    opts.on_skip?.({ line: n, message });
  }
  return rows;
}
