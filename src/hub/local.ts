/**
 * Files on disk: JSON read with errors that name the file, atomic writes, and the weight map of a sharded
 * checkpoint's index (which the hub needs to know what shards to fetch).
 */
import { randomBytes } from 'node:crypto';
import { access, mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FileSystemError, FormatError, MissingError } from '../errors.js';

/** The most a JSON metadata file (config, adapter config, trainer state, index) may hold. */
export const MAX_JSON_BYTES = 64 * 2 ** 20;
/** tokenizer.json is metadata too, but a large vocabulary's runs to tens of MB. */
export const MAX_TOKENIZER_BYTES = 256 * 2 ** 20;
/** The most a text dataset file may hold (V8's longest string is about 2^29 characters). */
export const MAX_TEXT_BYTES = 2 ** 29 - 2 ** 20;

export async function readJson(path: string, maxBytes = MAX_JSON_BYTES): Promise<unknown> {
  const text = new TextDecoder().decode(await readFileCapped(path, maxBytes));
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FormatError(`not valid JSON (${(e as Error).message})`, path);
  }
}

/**
 * Reads a whole file of at most `maxBytes`: a larger regular file is refused from its size, and anything endless
 * (a symlink to /dev/zero, a FIFO) after `maxBytes` have been read, so memory stays bounded.
 */
export async function readFileCapped(path: string, maxBytes: number): Promise<Uint8Array> {
  const handle = await orMissing(path, () => open(path, 'r'));
  const tooLong = (size: string) =>
    new FormatError(`${size}, more than the ${formatBytes(maxBytes)} such a file may hold (is it the right file?)`, path);
  try {
    const info = await orFileSystemError(path, () => handle.stat());
    if (info.isFile() && info.size > maxBytes) throw tooLong(`is ${formatBytes(info.size)}`);
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const chunk = new Uint8Array(Math.max(1, Math.min(2 ** 20, maxBytes + 1 - total)));
      const { bytesRead } = await orFileSystemError(path, () => handle.read(chunk, 0, chunk.length, null));
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) throw tooLong('does not end within that size');
      chunks.push(chunk.subarray(0, bytesRead));
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  } finally {
    await handle.close();
  }
}

function formatBytes(n: number): string {
  return n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(n % 2 ** 20 ? 1 : 0)} MiB` : `${n} bytes`;
}

/**
 * Writes through a temporary file in the same directory and a rename, so readers never see a half-written file. On
 * failure (a full disk, ...) the temporary file is removed, `path` keeps what it held, and a FileSystemError names it.
 */
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
    await rm(temp, { force: true }).catch(() => {});
    throw fileSystemError(e, path);
  }
}

/** What each errno a file operation may end with means, for a one-line message. */
const FS_PROBLEMS: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large for the file system',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EEXIST: 'a file already exists there',
  EISDIR: 'is a directory, expected a file',
  ENOTDIR: 'a part of the path is a file, expected a directory',
  ENOTEMPTY: 'directory not empty',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many levels of symbolic links',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  EIO: 'input/output error',
  EBUSY: 'the file is busy',
  EXDEV: 'cannot move across file systems',
  ENOENT: 'no such file or directory',
};

/**
 * A Node file-system error (one with an errno `code` above) as a FileSystemError naming the path the operation was
 * on (Node's own `path` when it has one, else `path`); anything else comes back unchanged.
 */
export function fileSystemError(e: unknown, path?: string): unknown {
  if (e instanceof FileSystemError || !(e instanceof Error)) return e;
  const { code, path: nodePath, syscall } = e as NodeJS.ErrnoException;
  const problem = code === undefined ? undefined : FS_PROBLEMS[code];
  const where = nodePath ?? path;
  if (problem === undefined || where === undefined) return e;
  const what = code === 'EEXIST' && syscall === 'mkdir' ? 'a file is in the way; expected a directory' : problem;
  return new FileSystemError(`${what} (${code}${syscall ? ` in ${syscall}` : ''})`, where, code);
}

/** Runs `op` on `path`, turning a file-system error into a FileSystemError that names it. */
export async function orFileSystemError<T>(path: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (e) {
    throw fileSystemError(e, path);
  }
}

/**
 * Makes `dir` (and its parents) and proves a file can be written in it, so a run that will save there fails at once
 * rather than at its end: a read-only or full file system, no permission, or a file in the way.
 */
export async function ensureWritableDir(dir: string): Promise<void> {
  await orFileSystemError(dir, () => mkdir(dir, { recursive: true }));
  await writeFileAtomic(join(dir, '.softprompt-write-test'), 'ok');
  await orFileSystemError(dir, () => rm(join(dir, '.softprompt-write-test'), { force: true }));
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

export async function readObject(path: string, maxBytes = MAX_JSON_BYTES): Promise<Record<string, unknown>> {
  const value = await readJson(path, maxBytes);
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
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
    throw fileSystemError(e, path);
  }
}

/** Runs a read of `path`, turning "no such file" into a MissingError and other file-system errors into FileSystemErrors. */
export async function orMissing<T>(path: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new MissingError('file not found', path);
    throw fileSystemError(e, path);
  }
}
