/**
 * Reads a model's safetensors weights from a directory: model.safetensors, or a sharded checkpoint
 * (model.safetensors.index.json whose weight_map sends each tensor name to a shard file next to it). Tensors are read
 * when asked for, so a checkpoint is never held whole.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { FormatError, MissingError } from '../errors.js';
import { exists, orMissing, readWeightMap } from '../hub/local.js';
import { Safetensors } from './safetensors.js';
import { weightSource } from './source.js';

/** Model weights by tensor name, whether they come from one file or several shards. */
export interface WeightSource {
  names(): string[];
  has(name: string): boolean;
  shape(name: string): number[];
  /** May be a view of the file bytes: copy before writing to it. */
  float32(name: string): Float32Array;
  /** Rows start..end along the first axis, read alone (large matrices in pieces); float32(name).subarray where absent. */
  float32Rows?(name: string, start: number, end: number): Float32Array;
  /** True when float32() returns new memory on every call (read from disk), which may then be transferred. */
  readonly freshArrays?: boolean;
  /** The file the tensor is stored in. */
  source(name: string): string;
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

