/**
 * Files on disk: JSON read with errors that name the file, atomic writes, and the weight map of a sharded
 * checkpoint's index (which the hub needs to know what shards to fetch).
 */
import { randomBytes } from 'node:crypto';
import { access, open, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FormatError, MissingError } from '../errors.js';

export async function readJson(path: string): Promise<unknown> {
  const text = await orMissing(path, () => readFile(path, 'utf8'));
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FormatError(`not valid JSON (${(e as Error).message})`, path);
  }
}

/** Writes through a temporary file in the same directory and a rename, so readers never see a half-written file. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temp, 'wx');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
}

/** The weight_map of a sharded checkpoint's index: [tensor name, shard file name] pairs, shards next to the index. */
export async function readWeightMap(indexPath: string): Promise<Array<[string, string]>> {
  const index = await readJson(indexPath);
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new FormatError('expected a "weight_map" object from tensor name to shard file', indexPath);
  }
  const entries = Object.entries(weightMap);
  for (const [name, file] of entries) {
    // Shards live next to the index; refusing paths keeps a hostile index from reading elsewhere.
    if (typeof file !== 'string' || ['', '.', '..'].includes(file) || file !== basename(file)) {
      const message = `weight_map["${name}"] is ${JSON.stringify(file)}; expected a file name in ${dirname(indexPath)}`;
      throw new FormatError(message, indexPath);
    }
  }
  return entries as Array<[string, string]>;
}

export async function readObject(path: string): Promise<Record<string, unknown>> {
  const value = await readJson(path);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FormatError('expected a JSON object', path);
  }
  return value as Record<string, unknown>;
}

export async function readOptionalObject(path: string): Promise<Record<string, unknown>> {
  return (await exists(path)) ? readObject(path) : {};
}

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/** Runs a read of `path`, turning "no such file" into a MissingError that names it. */
export async function orMissing<T>(path: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new MissingError('file not found', path);
    throw e;
  }
}
