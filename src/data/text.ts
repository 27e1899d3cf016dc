/**
 * The text to train on from each row: one column, or a template such as "Act as a {act}. Prompt: {prompt}" whose
 * {fields} name columns (Python str.format style: "{{" and "}}" are literal braces).
 */
import { FormatError, OptionError } from '../errors.js';
import type { Row } from './rows.js';

export interface TextSpec {
  /** Default: "text" when there is such a column, or the only column. */
  column?: string;
  template?: string;
}

export function rowTexts(rows: Row[], spec: TextSpec, source: string): string[] {
  if (spec.column !== undefined && spec.template !== undefined) throw new OptionError('give either a column or a template, not both', 'template');
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const available = `available columns: ${columns.join(', ') || '(none)'}`;
  const parts = spec.template === undefined ? [{ field: spec.column ?? defaultColumn(columns, available) }] : parseTemplate(spec.template);
  for (const part of parts) {
    if ('field' in part && !columns.includes(part.field)) {
      const where = spec.template === undefined ? 'column' : 'template';
      throw new OptionError(`no column "${part.field}" in ${source}; ${available}`, where);
    }
  }
  return rows.map((row, i) =>
    parts.map((part) => ('literal' in part ? part.literal : cell(row, part.field, `${source} row ${i + 1}`))).join(''),
  );
}

function defaultColumn(columns: string[], available: string): string {
  if (columns.includes('text')) return 'text';
  if (columns.length === 1) return columns[0];
  throw new OptionError(`which column holds the text? give a column or a template; ${available}`, 'column');
}

type Part = { literal: string } | { field: string };

function parseTemplate(template: string): Part[] {
  const parts: Part[] = [];
  let literal = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if ((c === '{' || c === '}') && template[i + 1] === c) {
      literal += c;
      i++;
    } else if (c === '{') {
      const end = template.indexOf('}', i);
      const field = end < 0 ? '' : template.slice(i + 1, end);
      if (field === '' || field.includes('{')) throw new OptionError(`has an unmatched or empty "{" at ${i} (write "{{" for a literal brace)`, 'template');
      if (literal) parts.push({ literal });
      parts.push({ field });
      literal = '';
      i = end;
    } else if (c === '}') {
      throw new OptionError(`has an unmatched "}" at ${i} (write "}}" for a literal brace)`, 'template');
    } else {
      literal += c;
    }
  }
  if (literal) parts.push({ literal });
  return parts;
}

function cell(row: Row, field: string, where: string): string {
  const value = row[field];
  if (value === undefined || value === null) throw new FormatError(`"${field}" is missing`, where);
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}
