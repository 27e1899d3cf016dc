// Writes a cache the way Python's huggingface_hub does (file_download.py: blobs named by ETag, relative symlinks made
// with os.path.relpath from the snapshot entry's folder, refs holding the bare commit hash), independently of
// src/hub/cache.ts, so the tests check softprompt against the layout rather than against itself.
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { etagOf } from './server.js';

export async function writePythonCache(
  cacheDir: string,
  repo: { type: 'model' | 'dataset'; id: string },
  refs: Record<string, string>,
  commits: Record<string, Record<string, Uint8Array>>,
): Promise<string> {
  const folder = join(cacheDir, `${repo.type}s--${repo.id.replace('/', '--')}`);
  for (const [commit, files] of Object.entries(commits)) {
    for (const [path, bytes] of Object.entries(files)) {
      const blob = join(folder, 'blobs', etagOf(path, bytes));
      const pointer = join(folder, 'snapshots', commit, path);
      await mkdir(dirname(blob), { recursive: true });
      await mkdir(dirname(pointer), { recursive: true });
      await writeFile(blob, bytes);
      await symlink(relative(dirname(pointer), blob), pointer);
    }
  }
  for (const [ref, commit] of Object.entries(refs)) {
    await mkdir(dirname(join(folder, 'refs', ref)), { recursive: true });
    await writeFile(join(folder, 'refs', ref), commit);
  }
  return folder;
}
