/**
 * Whether a file holds what its ETag promises. The hub's ETag of an LFS file is the sha256 of its contents; of any
 * other file, its git blob id: sha1("blob <size>\0" + contents). Blobs in the cache are named by that ETag, so a
 * cached file can be checked without asking the hub.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';

export type Verdict = 'ok' | 'mismatch' | 'unknown';

export async function checkEtag(path: string, etag: string): Promise<Verdict> {
  if (/^[0-9a-f]{64}$/.test(etag)) return (await hashFile(path, 'sha256')) === etag ? 'ok' : 'mismatch';
  if (/^[0-9a-f]{40}$/.test(etag)) {
    const { size } = await stat(path);
    return (await hashFile(path, 'sha1', `blob ${size}\0`)) === etag ? 'ok' : 'mismatch';
  }
  // Mirrors and other servers may use ETags that are not content hashes.
  return 'unknown';
}

async function hashFile(path: string, algorithm: 'sha256' | 'sha1', prefix = ''): Promise<string> {
  const hash = createHash(algorithm).update(prefix);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
