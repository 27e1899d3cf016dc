/**
 * The hub cache, laid out exactly as Python's huggingface_hub lays it out, so either tool reuses the other's files:
 *
 *   <cache>/models--<org>--<name>/            (datasets--<org>--<name>/ for datasets)
 *     blobs/<etag>                            file contents, named by the hub's ETag: the sha256 for LFS files, the
 *                                             git blob sha1 for the others; <etag>.incomplete while downloading
 *     refs/<revision>                         the commit a branch or tag pointed to when last resolved, no newline
 *                                             (refs/refs/convert/parquet for the `refs/convert/parquet` branch)
 *     snapshots/<commit>/<path>               relative symlinks into blobs/ (copies where symlinks are not allowed)
 */
import { copyFile, lstat, mkdir, open, readdir, readlink, rm, stat, symlink } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { HubError, OptionError } from '../errors.js';
import { fileSystemError, writeFileAtomic } from './local.js';

export type RepoType = 'model' | 'dataset';

export interface Repo {
  id: string;
  type: RepoType;
}

export const isCommit = (revision: string): boolean => /^[0-9a-f]{40}$/.test(revision);

/** refs/<revision>, for a revision that stays inside refs/ (a branch or tag name may contain '/', never '..'). */
function refPath(folder: string, revision: string): string {
  if (revision.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw new OptionError(`"${revision}" is not a branch, tag or commit`, 'revision');
  }
  return join(folder, 'refs', revision);
}

export function repoFolder(cacheDir: string, repo: Repo): string {
  return join(cacheDir, `${repo.type}s--${repo.id.split('/').join('--')}`);
}

export const blobPath = (folder: string, etag: string): string => join(folder, 'blobs', etag);

export const snapshotDir = (folder: string, commit: string): string => join(folder, 'snapshots', commit);

/** The commit a revision names in the cache: itself when it is a commit hash, else what refs/ recorded. */
export async function cachedCommit(folder: string, revision: string): Promise<string | null> {
  if (isCommit(revision)) return revision;
  const path = refPath(folder, revision);
  let commit: string;
  try {
    const handle = await open(path, 'r');
    try {
      // A commit hash is 40 characters; reading a little more tells a longer (wrong) file apart, and no more.
      const buffer = new Uint8Array(64);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      commit = new TextDecoder().decode(buffer.subarray(0, bytesRead)).trim();
    } finally {
      await handle.close();
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fileSystemError(e, path);
  }
  // The snapshot directory is named after it: anything but a hash could point outside the cache.
  if (!isCommit(commit)) throw new HubError(`holds ${JSON.stringify(commit.slice(0, 50))}; expected a 40-hex-digit commit hash (a damaged cache?)`, path);
  return commit;
}

export async function recordRef(folder: string, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  const path = refPath(folder, revision);
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, commit);
}

/**
 * The blob a snapshot entry points to (null when the entry is missing or its blob is gone). `etag` is null for an
 * entry that is a plain file (a copy), which has no name to check its contents against.
 */
export async function snapshotEntry(
  folder: string,
  commit: string,
  path: string,
): Promise<{ file: string; etag: string | null } | null> {
  const file = join(snapshotDir(folder, commit), path);
  try {
    const link = await lstat(file);
    if (!link.isSymbolicLink()) return { file, etag: null };
    await stat(file);
    return { file, etag: basename(await readlink(file)) };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** Points snapshots/<commit>/<path> at blobs/<etag>, replacing what was there. */
export async function linkSnapshot(folder: string, commit: string, path: string, etag: string): Promise<string> {
  const file = join(snapshotDir(folder, commit), path);
  const blob = blobPath(folder, etag);
  await mkdir(dirname(file), { recursive: true });
  await rm(file, { force: true });
  try {
    await symlink(relative(dirname(file), blob), file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? '';
    // Another process linked the same file meanwhile: same commit and path, so the same blob.
    if (code === 'EEXIST') return file;
    // Windows without developer mode refuses symlinks; Python copies then too.
    if (!['EPERM', 'EACCES'].includes(code)) throw e;
    await copyFile(blob, file);
  }
  return file;
}

/** Every file path under a snapshot, '/'-separated, sorted (for offline listings). */
export async function snapshotFiles(folder: string, commit: string): Promise<string[]> {
  const root = snapshotDir(folder, commit);
  try {
    const entries = await readdir(root, { recursive: true, withFileTypes: true });
    const files = entries.filter((d) => !d.isDirectory()).map((d) => relative(root, join(d.parentPath, d.name)));
    return files.map((f) => f.split('\\').join('/')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}
