/**
 * Training checkpoints on disk: `<output_dir>/checkpoint-<step>/`, one directory per checkpoint (the files are
 * described in train/checkpoint.ts). A checkpoint is written into a hidden temporary directory, its files synced, and
 * renamed into place, so an interrupted write never leaves a partial checkpoint-<step> behind.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { MissingError } from '../errors.js';
import { ensureWritableDir, fileSystemError, MAX_JSON_BYTES, orFileSystemError, readFileCapped } from '../hub/local.js';
import type { CheckpointStore } from './checkpoint.js';

export class DirectoryCheckpointStore implements CheckpointStore {
  constructor(readonly dir: string) {}

  /**
   * Before training: the directory exists and takes files (a read-only, full or forbidden one fails now), and what a
   * killed save left is tidied: its temporary directories and files are removed, and a checkpoint moved aside to be
   * replaced (`.<name>.<suffix>.old`) whose replacement never arrived is moved back.
   */
  async prepare(): Promise<void> {
    await ensureWritableDir(this.dir);
    const entries = await orFileSystemError(this.dir, () => readdir(this.dir));
    for (const entry of entries) {
      const leftover = /^\.(.+)\.[0-9a-f]{12}\.(tmp|old)$/.exec(entry);
      if (!leftover) continue;
      const [, name, kind] = leftover;
      const path = join(this.dir, entry);
      const target = join(this.dir, name);
      const restore = kind === 'old' && !entries.includes(name);
      await orFileSystemError(path, () => (restore ? rename(path, target) : rm(path, { recursive: true, force: true })));
    }
  }

  /** File-system failures (a full disk, ...) leave no temporary directory and become FileSystemErrors naming the path. */
  async write(name: string, files: Record<string, Uint8Array | string>): Promise<void> {
    await orFileSystemError(this.dir, () => mkdir(this.dir, { recursive: true }));
    const suffix = randomBytes(6).toString('hex');
    const temp = join(this.dir, `.${name}.${suffix}.tmp`);
    const target = join(this.dir, name);
    await orFileSystemError(temp, () => mkdir(temp));
    try {
      for (const [file, data] of Object.entries(files)) {
        const handle = await open(join(temp, file), 'wx');
        try {
          await handle.writeFile(data);
          await handle.sync();
        } finally {
          await handle.close();
        }
      }
      // A directory cannot be renamed over a non-empty one: move an older copy aside first, drop it after.
      const old = join(this.dir, `.${name}.${suffix}.old`);
      const replaced = await rename(target, old).then(() => true, (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return false;
        throw e;
      });
      await rename(temp, target);
      if (replaced) await rm(old, { recursive: true, force: true });
    } catch (e) {
      await rm(temp, { recursive: true, force: true }).catch(() => {});
      throw fileSystemError(e, target);
    }
  }

  async read(name: string): Promise<Record<string, Uint8Array>> {
    const dir = join(this.dir, name);
    const entries = await readdir(dir, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
      throw e.code === 'ENOENT' ? new MissingError('no such checkpoint', dir) : fileSystemError(e, dir);
    });
    const files: Record<string, Uint8Array> = {};
    for (const entry of entries) {
      const path = join(dir, entry.name);
      // JSON files are metadata; weights and moments may be large but not past what one Buffer holds.
      if (entry.isFile()) files[entry.name] = await readFileCapped(path, entry.name.endsWith('.json') ? MAX_JSON_BYTES : 2 ** 32 - 1);
    }
    return files;
  }

  async list(): Promise<string[]> {
    const entries = await readdir(this.dir, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return [];
      throw fileSystemError(e, this.dir);
    });
    return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
  }

  describe(name: string): string {
    return join(this.dir, name);
  }
}
