/**
 * Reads a Hugging Face model directory from disk: config.json, model.safetensors or a sharded checkpoint
 * (model.safetensors.index.json whose weight_map sends each tensor name to a shard file), and the tokenizer files.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { access, open, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FormatError, MissingError } from '../errors.js';
import { parseModelConfig, type ModelConfig } from '../models/config.js';
import { TextTokenizer } from '../tokenizer/tokenizer.js';
import { Safetensors } from '../weights/safetensors.js';

/** Model weights by tensor name, whether they come from one file or several shards. */
export interface WeightSource {
  names(): string[];
  has(name: string): boolean;
  shape(name: string): number[];
  /** May be a view of the file bytes: copy before writing to it. */
  float32(name: string): Float32Array;
  /** True when float32() returns new memory on every call (read from disk), which may then be transferred. */
  readonly freshArrays?: boolean;
  /** The file the tensor is stored in. */
  source(name: string): string;
}

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

export async function loadConfig(dir: string): Promise<ModelConfig> {
  const path = join(dir, 'config.json');
  return parseModelConfig(await readJson(path), path);
}

export async function loadWeights(dir: string): Promise<WeightSource> {
  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  if (await exists(single)) {
    const file = await openSafetensors(single);
    return weightSource(new Map(file.names().map((name) => [name, file])), dir);
  }
  if (await exists(index)) return loadSharded(dir, index);
  throw new MissingError(
    'no model.safetensors or model.safetensors.index.json (only safetensors weights are supported)',
    dir,
  );
}

export async function loadTokenizer(dir: string): Promise<TextTokenizer> {
  const path = join(dir, 'tokenizer.json');
  if (!(await exists(path))) {
    throw new MissingError(
      'tokenizer.json is required (the fast-tokenizer file; vocab.json/merges.txt or *.model alone are not read)',
      path,
    );
  }
  const tokenizerJson = await readObject(path);
  // transformers lets tokenizer_config.json win over special_tokens_map.json.
  const specialTokensMap = await readOptionalObject(join(dir, 'special_tokens_map.json'));
  const tokenizerConfig = await readOptionalObject(join(dir, 'tokenizer_config.json'));
  return TextTokenizer.fromJSON(tokenizerJson, { ...specialTokensMap, ...tokenizerConfig }, dir);
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

async function loadSharded(dir: string, indexPath: string): Promise<WeightSource> {
  const entries = await readWeightMap(indexPath);
  const shardNames = [...new Set(entries.map(([, file]) => file))];
  const shards = new Map(
    await Promise.all(
      shardNames.map(async (file) => {
        const path = join(dir, file);
        return [file, await openSafetensors(path)] as const;
      }),
    ),
  );
  const byName = new Map<string, Safetensors>();
  for (const [name, file] of entries) {
    const shard = shards.get(file)!;
    if (!shard.has(name)) {
      throw new MissingError(`tensor "${name}" listed in ${basename(indexPath)} is not in it`, shard.source);
    }
    byName.set(name, shard);
  }
  return weightSource(byName, dir);
}

function weightSource(byName: Map<string, Safetensors>, dir: string): WeightSource {
  const file = (name: string): Safetensors => {
    const f = byName.get(name);
    if (!f) throw new MissingError(`no tensor "${name}" in the model weights`, dir);
    return f;
  };
  return {
    names: () => [...byName.keys()],
    has: (name) => byName.has(name),
    shape: (name) => [...file(name).entry(name).shape],
    float32: (name) => file(name).float32(name),
    source: (name) => file(name).source,
    freshArrays: [...byName.values()].every((f) => f.freshReads),
  };
}

async function readObject(path: string): Promise<Record<string, unknown>> {
  const value = await readJson(path);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FormatError('expected a JSON object', path);
  }
  return value as Record<string, unknown>;
}

async function readOptionalObject(path: string): Promise<Record<string, unknown>> {
  return (await exists(path)) ? readObject(path) : {};
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/**
 * Reads only the header now; each tensor is read from the file when asked for, into fresh memory. So a checkpoint
 * is never held whole in this thread: the engine gets each weight once (transferred, not copied) and keeps the only
 * copy, and a 2 GB checkpoint costs 2 GB, not 4.
 */
async function openSafetensors(path: string): Promise<Safetensors> {
  const handle = await orMissing(path, () => open(path, 'r'));
  try {
    const { size } = await handle.stat();
    const first8 = new Uint8Array(8);
    await handle.read(first8, 0, Math.min(8, size), 0);
    const headerLength = Safetensors.headerLength(first8, size, path);
    const head = new Uint8Array(8 + headerLength);
    await readFully(handle, head, 0, path, size);
    const dataStart = 8 + headerLength;
    return Safetensors.fromHeader(head, size, path, (begin, end) => readRange(path, dataStart + begin, dataStart + end), true);
  } finally {
    await handle.close();
  }
}

async function readFully(handle: FileHandle, into: Uint8Array, position: number, path: string, size: number): Promise<void> {
  for (let at = 0; at < into.length; ) {
    const { bytesRead } = await handle.read(into, at, Math.min(into.length - at, 2 ** 30), position + at);
    if (bytesRead === 0) throw new FormatError(`file ended at byte ${position + at} of ${size} while being read`, path);
    at += bytesRead;
  }
}

/** Synchronous so WeightSource.float32 stays synchronous; reads in 1 GiB pieces (the per-call limit is 2 GiB). */
function readRange(path: string, begin: number, end: number): Uint8Array {
  const out = new Uint8Array(end - begin);
  const fd = openSync(path, 'r');
  try {
    for (let at = 0; at < out.length; ) {
      const n = readSync(fd, out, at, Math.min(out.length - at, 2 ** 30), begin + at);
      if (n === 0) throw new FormatError(`file ended at byte ${begin + at} while reading a tensor (was it truncated?)`, path);
      at += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
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
