/**
 * Model and adapter "directories" in a browser. A directory is a string, as on disk, and one of:
 * - a URL prefix holding a model's HF files (`/models/default/`, `https://host/path/`): files are fetched;
 * - `hub:<org/name>@<revision>/`: the hub's resolve URLs, each response kept in Cache Storage (`softprompt-hub`), so
 *   a model downloads once per browser;
 * - `files:<n>/`: files the user picked (`<input type=file>`, drag and drop), registered with `registerFiles`;
 * - `memory:<name>/`: what `save_pretrained` wrote in this page (`savedFiles` reads it back).
 */
import { FormatError, HubError, MissingError } from '../errors.js';
import { browser } from './dom.js';

const picked = new Map<string, Map<string, Blob>>();
const memory = new Map<string, Uint8Array>();
const HUB_CACHE = 'softprompt-hub';
const HUB_ENDPOINT = 'https://huggingface.co';

/** Joins a directory and a file name (or a subdirectory) the way a URL path joins. */
export function joinPath(dir: string, name: string): string {
  return `${dir.replace(/\/+$/, '')}/${name.replace(/^\/+/, '')}`;
}

/** The directory part of a path made with joinPath, and its last segment. */
function split(path: string): { dir: string; name: string } {
  const at = path.lastIndexOf('/');
  return { dir: path.slice(0, at), name: path.slice(at + 1) };
}

let nextPick = 0;

/**
 * Registers picked files as one directory and returns its name (`files:<n>/`). Files are known by their base name
 * (a folder picked with webkitdirectory gives relative paths; only the last segment counts), and a .zip's entries
 * stand in for it (see web/zip.ts via registerEntries).
 */
export function registerFiles(files: Iterable<File> | Record<string, Blob>): string {
  const dir = `files:${nextPick++}`;
  const entries = new Map<string, Blob>();
  const list: Array<[string, Blob]> = Symbol.iterator in files ? [...(files as Iterable<File>)].map((f) => [f.name, f]) : Object.entries(files);
  for (const [name, blob] of list) entries.set(name.split('/').pop()!, blob);
  picked.set(dir, entries);
  return `${dir}/`;
}

/** The names of the files in a directory made by registerFiles or written in memory. */
export function listFiles(dir: string): string[] {
  const key = dir.replace(/\/+$/, '');
  const files = picked.get(key);
  if (files) return [...files.keys()];
  return [...memory.keys()].filter((p) => split(p).dir === key).map((p) => split(p).name);
}

/** What save_pretrained wrote in memory under `dir` (its own files, not subdirectories'), by name. */
export function savedFiles(dir: string): Record<string, Uint8Array> {
  const key = normalize(dir);
  return Object.fromEntries([...memory].filter(([p]) => split(p).dir === key).map(([p, bytes]) => [split(p).name, bytes]));
}

/** In-memory paths: a bare name (`out`) saves under `memory:out`. */
export function normalize(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  return isRemote(trimmed) || trimmed.startsWith('files:') || trimmed.startsWith('memory:') || trimmed.startsWith('hub:') ? trimmed : `memory:${trimmed}`;
}

function isRemote(path: string): boolean {
  return /^[a-z]+:\/\//i.test(path) || path.startsWith('/') || path.startsWith('./') || path.startsWith('../');
}

/** A hub id (`org/name` or `name`) as a directory whose files come from the hub's resolve URLs. */
export function hubDir(id: string, revision = 'main'): string {
  return `hub:${id}@${revision}/`;
}

/** Where a model or adapter named by the user lives: hub ids become hub directories, the rest is taken as given. */
export function locate(pathOrId: string, revision?: string): string {
  const path = pathOrId.trim();
  if (path.startsWith('files:') || path.startsWith('memory:') || path.startsWith('hub:') || isRemote(path)) return path;
  if (/^[\w.-]+(\/[\w.-]+)?$/.test(path) && memory.size > 0 && [...memory.keys()].some((p) => p.startsWith(`memory:${path}/`))) {
    return `memory:${path}/`;
  }
  if (/^[\w.-]+(\/[\w.-]+)?$/.test(path)) return hubDir(path, revision);
  throw new MissingError('expected a URL prefix (/models/name/, https://...), a hub id (org/name) or picked files', path);
}

function hubUrl(path: string, endpoint = HUB_ENDPOINT): string {
  const m = /^hub:([^@]+)@([^/]+)\/(.+)$/.exec(path);
  if (!m) throw new MissingError('not a hub file path', path);
  return `${endpoint}/${m[1]}/resolve/${encodeURIComponent(m[2])}/${m[3]}`;
}

/** The bytes of a file, or null when the directory has no such file. */
export async function readOptionalBytes(path: string): Promise<Uint8Array | null> {
  const key = normalize(path);
  if (key.startsWith('memory:')) return memory.get(key) ?? null;
  if (key.startsWith('files:')) {
    const { dir, name } = split(key);
    const blob = picked.get(dir)?.get(name);
    return blob ? new Uint8Array(await blob.arrayBuffer()) : null;
  }
  if (key.startsWith('hub:')) return hubFetch(hubUrl(key), key);
  let response: Response;
  try {
    response = await fetch(key);
  } catch (e) {
    throw new HubError(`could not fetch (${(e as Error).message})`, key);
  }
  if (response.status === 404) return null;
  if (!response.ok) throw new HubError(`HTTP ${response.status} ${response.statusText}`, key);
  return new Uint8Array(await response.arrayBuffer());
}

/** Fetches a hub file through Cache Storage (when the page has it: secure contexts only). */
async function hubFetch(url: string, path: string): Promise<Uint8Array | null> {
  const cache = browser.caches ? await browser.caches.open(HUB_CACHE).catch(() => null) : null;
  const hit = await cache?.match(url);
  if (hit) return new Uint8Array(await hit.arrayBuffer());
  let response: Response;
  try {
    response = await fetch(url, { mode: 'cors' });
  } catch (e) {
    throw new HubError(`could not reach the hub (${(e as Error).message})`, url);
  }
  if (response.status === 404) return null;
  if (response.status === 401 || response.status === 403) throw new HubError(`HTTP ${response.status}: a private or gated repo needs a token, which the browser build does not send`, path);
  if (!response.ok) throw new HubError(`HTTP ${response.status} ${response.statusText}`, url);
  const bytes = new Uint8Array(await response.arrayBuffer());
  await cache?.put(url, new Response(bytes.slice(), { headers: { 'content-type': 'application/octet-stream' } })).catch(() => {});
  return bytes;
}

export async function readBytes(path: string): Promise<Uint8Array> {
  const bytes = await readOptionalBytes(path);
  if (bytes === null) throw new MissingError('no such file', path);
  return bytes;
}

export async function exists(path: string): Promise<boolean> {
  return (await readOptionalBytes(path)) !== null;
}

function parseJson(bytes: Uint8Array, path: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new FormatError(`not valid JSON (${(e as Error).message})`, path);
  }
}

export async function readJson(path: string): Promise<unknown> {
  return parseJson(await readBytes(path), path);
}

export async function readOptionalObject(path: string): Promise<Record<string, unknown>> {
  const bytes = await readOptionalBytes(path);
  if (bytes === null) return {};
  const value = parseJson(bytes, path);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new FormatError('expected a JSON object', path);
  return value as Record<string, unknown>;
}

/** Writes a file in memory (save_pretrained in a page). */
export function writeFile(path: string, data: Uint8Array | string): void {
  memory.set(normalize(path), typeof data === 'string' ? new TextEncoder().encode(data) : data.slice());
}
