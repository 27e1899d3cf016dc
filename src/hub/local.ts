/**
 * Reads a Hugging Face model directory from disk: config.json, model.safetensors or a sharded checkpoint
 * (model.safetensors.index.json whose weight_map sends each tensor name to a shard file), and the tokenizer files.
 */
import { randomBytes } from 'node:crypto';
import { access, open, readFile, rename, rm } from 'node:fs/promises';
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
    const file = Safetensors.parse(await readWhole(single), single);
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

async function loadSharded(dir: string, indexPath: string): Promise<WeightSource> {
  const index = await readJson(indexPath);
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new FormatError('expected a "weight_map" object from tensor name to shard file', indexPath);
  }
  const entries = Object.entries(weightMap);
  for (const [name, file] of entries) {
    // Shards live next to the index; refusing paths keeps a hostile index from reading elsewhere.
    if (typeof file !== 'string' || ['', '.', '..'].includes(file) || file !== basename(file)) {
      const message = `weight_map["${name}"] is ${JSON.stringify(file)}; expected a file name in ${dir}`;
      throw new FormatError(message, indexPath);
    }
  }
  const shardNames = [...new Set(entries.map(([, file]) => file as string))];
  const shards = new Map(
    await Promise.all(
      shardNames.map(async (file) => {
        const path = join(dir, file);
        return [file, Safetensors.parse(await readWhole(path), path)] as const;
      }),
    ),
  );
  const byName = new Map<string, Safetensors>();
  for (const [name, file] of entries) {
    const shard = shards.get(file as string)!;
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

/** fs.readFile refuses files over 2 GiB, and single-file checkpoints are often bigger, so read in chunks. */
async function readWhole(path: string): Promise<Uint8Array> {
  const handle = await orMissing(path, () => open(path, 'r'));
  try {
    const { size } = await handle.stat();
    const bytes = new Uint8Array(size);
    for (let at = 0; at < size; ) {
      const { bytesRead } = await handle.read(bytes, at, Math.min(size - at, 2 ** 30), at);
      if (bytesRead === 0) throw new FormatError(`file ended at byte ${at} of ${size} while being read`, path);
      at += bytesRead;
    }
    return bytes;
  } finally {
    await handle.close();
  }
}

async function orMissing<T>(path: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new MissingError('file not found', path);
    throw e;
  }
}
