/**
 * One file from the hub into the cache, the way Python's `hf_hub_download` does it: a HEAD on the resolve URL gives
 * the commit (X-Repo-Commit), the ETag that names the blob (X-Linked-Etag for LFS files) and the size; an LFS file
 * answers with a redirect to its CDN location, which is downloaded without the token. The download goes to
 * blobs/<etag>.incomplete and resumes with a Range request after an interruption, in this process or a later one
 * (Python's leftovers included), then must match its size and ETag before it becomes blobs/<etag>.
 */
import { mkdir, open, rename, rm, stat, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { HubError } from '../errors.js';
import { blobPath, isCommit } from './cache.js';
import { checkEtag } from './integrity.js';
import { describe, hfUrl, request, TransientError, withRetries, type Subject } from './http.js';
import type { HubSettings } from './settings.js';

export interface FileMeta {
  commit: string;
  etag: string;
  size: number | null;
  /** Where the bytes are: the resolve URL, or the CDN location it redirects to. */
  url: string;
}

export function resolveUrl(s: HubSettings, { id, type, revision, file }: Subject): string {
  const path = file!.split('/').map(encodeURIComponent).join('/');
  return `${s.endpoint}/${type === 'dataset' ? 'datasets/' : ''}${id}/resolve/${encodeURIComponent(revision!)}/${path}`;
}

export async function fileMeta(s: HubSettings, subject: Subject): Promise<FileMeta> {
  return withRetries(s, subject, async () => {
    let url = resolveUrl(s, subject);
    // Relative redirects are the hub's own (a renamed repo); an absolute one is the download location.
    for (let hops = 0; hops < 10; hops++) {
      const headers = { 'accept-encoding': 'identity' };
      const response = await request(s, subject, url, { method: 'HEAD', redirect: 'manual', headers });
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location && !/^([a-z][a-z0-9+.-]*:)?\/\//i.test(location)) {
        url = new URL(location, url).href;
        continue;
      }
      return metaFrom(response, url, subject);
    }
    throw new HubError('too many redirects', hfUrl(subject));
  });
}

function metaFrom(response: Response, url: string, subject: Subject): FileMeta {
  const h = response.headers;
  const commit = h.get('x-repo-commit');
  const etag = (h.get('x-linked-etag') ?? h.get('etag'))?.replace(/^W\//, '').replace(/"/g, '');
  if (!commit || !etag) {
    const message = `the server's answer has no ${commit ? 'ETag' : 'X-Repo-Commit'} header (is HF_ENDPOINT a Hugging Face hub?)`;
    throw new HubError(message, hfUrl(subject));
  }
  // Both name paths in the cache (snapshots/<commit>, blobs/<etag>): anything but hex could point outside it.
  if (!isCommit(commit)) throw new HubError(`the server's X-Repo-Commit ${JSON.stringify(commit.slice(0, 50))} is not a commit hash`, hfUrl(subject));
  if (!/^[0-9a-f]{40,64}$/i.test(etag)) throw new HubError(`the server's ETag ${JSON.stringify(etag.slice(0, 80))} is not a content hash`, hfUrl(subject));
  const size = Number(h.get('x-linked-size') ?? h.get('content-length') ?? NaN);
  return { commit, etag, size: Number.isFinite(size) ? size : null, url: h.get('location') ?? url };
}

/** Downloads `meta` into blobs/<etag> of `folder`, calling `onBytes` with the bytes on disk so far. */
export async function downloadBlob(
  s: HubSettings,
  subject: Subject,
  folder: string,
  meta: FileMeta,
  onBytes: (loaded: number) => void,
): Promise<void> {
  const blob = blobPath(folder, meta.etag);
  const partial = `${blob}.incomplete`;
  await mkdir(dirname(blob), { recursive: true });
  // A mismatch may come from a stale .incomplete or from bytes garbled on the way: one fresh download decides.
  for (let downloads = 1; ; downloads++) {
    await withRetries(s, subject, () => fetchInto(s, subject, meta, partial, onBytes));
    const size = await sizeOf(partial);
    const verdict = meta.size !== null && size !== meta.size ? 'mismatch' : await checkEtag(partial, meta.etag);
    if (verdict !== 'mismatch') return rename(partial, blob);
    await rm(partial, { force: true });
    if (downloads === 2) {
      const message = `downloaded ${size} bytes that do not match the hub's ETag ${meta.etag} (${meta.size ?? '?'} bytes)`;
      throw new HubError(message, hfUrl(subject));
    }
  }
}

/** One attempt: appends the missing bytes of the file to `partial`. */
async function fetchInto(
  s: HubSettings,
  subject: Subject,
  meta: FileMeta,
  partial: string,
  onBytes: (loaded: number) => void,
): Promise<void> {
  let start = await sizeOf(partial);
  // Longer than the file cannot be a prefix of it; start = 0 rewrites the file from the beginning.
  if (meta.size !== null && start > meta.size) start = 0;
  if (start > 0 && start === meta.size) return;
  const controller = new AbortController();
  const range: Record<string, string> = start > 0 ? { range: `bytes=${start}-` } : {};
  const response = await request(s, subject, meta.url, { headers: { 'accept-encoding': 'identity', ...range }, controller });
  if (response.status === 416) {
    await response.body?.cancel();
    await truncate(partial, 0);
    throw new TransientError(`the server refused to resume at byte ${start}; starting over`, 416);
  }
  // A server that ignores the range sends the whole file: rewrite it from the start.
  if (response.status === 200) start = 0;
  const out = await open(partial, start === 0 ? 'w' : 'a');
  let loaded = start;
  onBytes(loaded);
  const stall = setTimeout(() => controller.abort(), s.timeoutMs);
  try {
    for await (const chunk of response.body!) {
      await out.write(chunk);
      loaded += chunk.length;
      onBytes(loaded);
      stall.refresh();
    }
  } catch (e) {
    const cause = controller.signal.aborted ? `no data for ${s.timeoutMs / 1000} s` : describe(e);
    throw new TransientError(`download interrupted at byte ${loaded} (${cause})`, 0);
  } finally {
    clearTimeout(stall);
    await out.close();
  }
  if (meta.size !== null && loaded < meta.size) throw new TransientError(`download ended at byte ${loaded} of ${meta.size}`, 0);
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
}
