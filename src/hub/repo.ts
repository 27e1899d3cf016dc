/**
 * A revision of a hub repo as one call sees it: its commit, its files, and `fetch` to place some of them in the
 * snapshot directory. Online, the file list comes from the hub's API (one request) and files the cache lacks are
 * downloaded; offline, or when the hub cannot be reached (Python falls back the same way), both come from the cache
 * and whatever is missing is an error that lists it.
 */
import { access, rm } from 'node:fs/promises';
import { HubError } from '../errors.js';
import {
  blobPath,
  cachedCommit,
  linkSnapshot,
  recordRef,
  repoFolder,
  snapshotDir,
  snapshotEntry,
  snapshotFiles,
} from './cache.js';
import { downloadBlob, fileMeta } from './download.js';
import { checkEtag } from './integrity.js';
import { describe, hfUrl, isTransient, request, TransientError, withRetries, type Subject } from './http.js';
import type { ProgressTracker } from './progress.js';
import type { HubSettings } from './settings.js';

export interface Revision {
  /** The commit; null offline when the cache has never seen this revision. */
  commit: string | null;
  /** The snapshot directory the fetched files are in. */
  dir: string;
  files: string[];
  fetch(paths: string[]): Promise<void>;
  /** The error for files this revision lacks (online: the repo has none; offline: the cache has none). */
  missing(paths: string[]): HubError;
}

/** Python's repo id rule: `name` or `org/name`, word characters, '-' and '.', no '--' or '..'. */
export function isRepoId(id: string): boolean {
  return id.length <= 96 && /^(\w([\w.-]*\w)?\/)?\w([\w.-]*\w)?$/.test(id) && !/--|\.\./.test(id);
}

export async function openRevision(s: HubSettings, subject: Subject, progress: ProgressTracker): Promise<Revision> {
  if (s.offline) return cachedRevision(s, subject, progress, 'offline mode');
  try {
    return await remoteRevision(s, subject, progress);
  } catch (e) {
    if (!(e instanceof HubError && isTransient(e.status))) throw e;
    const cached = await cachedRevision(s, subject, progress, `the hub is unreachable: ${e.message}`);
    if (cached.commit === null) throw e;
    return cached;
  }
}

/**
 * Like openRevision, but null for a branch that does not exist, or that neither the hub (unreachable) nor the cache
 * can show: the caller has another way to the data.
 */
export async function openBranchIfAny(s: HubSettings, subject: Subject, progress: ProgressTracker): Promise<Revision | null> {
  try {
    const revision = await openRevision(s, subject, progress);
    return revision.commit === null ? null : revision;
  } catch (e) {
    if (e instanceof HubError && (e.status === 404 || isTransient(e.status))) return null;
    throw e;
  }
}

async function remoteRevision(s: HubSettings, subject: Subject, progress: ProgressTracker): Promise<Revision> {
  const url = `${s.endpoint}/api/${subject.type}s/${subject.id}/revision/${encodeURIComponent(subject.revision!)}`;
  const text = await withRetries(s, subject, async () => {
    const response = await request(s, subject, url);
    return response.text().catch((e) => {
      throw new TransientError(`the hub's answer broke off (${describe(e)})`, 0);
    });
  });
  const info = parseJson(text) as { sha?: unknown; siblings?: Array<{ rfilename?: unknown }> } | null;
  if (typeof info?.sha !== 'string' || !Array.isArray(info.siblings)) {
    throw new HubError(`unexpected answer from ${url}: expected "sha" and "siblings"`, hfUrl(subject));
  }
  const commit = info.sha;
  const files = info.siblings.map((f) => f.rfilename).filter((f): f is string => typeof f === 'string');
  const folder = repoFolder(s.cacheDir, subject);
  await recordRef(folder, subject.revision!, commit);
  const pinned = { ...subject, revision: commit };
  return {
    commit,
    dir: snapshotDir(folder, commit),
    files,
    fetch: (paths) => eachLimit(paths, 4, (path) => fetchRemote(s, { ...pinned, file: path }, folder, progress)),
    missing: (paths) => new HubError(`the repo has no ${paths.join(', ')} (it has ${listed(files)})`, hfUrl(subject)),
  };
}

async function fetchRemote(s: HubSettings, subject: Subject, folder: string, progress: ProgressTracker): Promise<void> {
  const { revision: commit, file } = subject as Required<Subject>;
  progress.event('initiate', file);
  const cached = await snapshotEntry(folder, commit, file);
  if (!cached || (cached.etag !== null && !(await goodBlob(s, folder, cached.etag)))) {
    const meta = await fileMeta(s, subject);
    if (!(await goodBlob(s, folder, meta.etag))) {
      progress.event('download', file);
      progress.expect(file, meta.size ?? 0);
      await downloadBlob(s, subject, folder, meta, (loaded) => progress.bytes(file, loaded));
    }
    await linkSnapshot(folder, commit, file, meta.etag);
  }
  progress.event('done', file);
}

async function cachedRevision(s: HubSettings, subject: Subject, progress: ProgressTracker, reason: string): Promise<Revision> {
  const folder = repoFolder(s.cacheDir, subject);
  const commit = await cachedCommit(folder, subject.revision!);
  const dir = snapshotDir(folder, commit ?? subject.revision!);
  const missing = (paths: string[]): HubError => {
    const where = commit ? `looked in ${dir}` : `no refs/${subject.revision} in ${folder}`;
    return new HubError(`not in the cache (${reason}): ${paths.join(', ')}; ${where}`, hfUrl(subject));
  };
  const fetch = async (paths: string[]): Promise<void> => {
    const absent: string[] = [];
    for (const path of paths) {
      progress.event('initiate', path);
      const entry = commit ? await snapshotEntry(folder, commit, path) : null;
      const blob = entry?.etag ? await blobState(s, folder, entry.etag) : entry ? 'good' : 'missing';
      if (blob === 'good') progress.event('done', path);
      else absent.push(blob === 'removed' ? `${path} (damaged; removed)` : path);
    }
    if (absent.length > 0) throw missing(absent);
  };
  return { commit, dir, files: commit ? await snapshotFiles(folder, commit) : [], fetch, missing };
}

/** Whether blobs/<etag> is there and, when verifying, holds what its name promises; a damaged blob is removed. */
async function goodBlob(s: HubSettings, folder: string, etag: string): Promise<boolean> {
  return (await blobState(s, folder, etag)) === 'good';
}

/** 'missing': no blob; 'removed': it was there but damaged, and has just been removed. */
async function blobState(s: HubSettings, folder: string, etag: string): Promise<'good' | 'missing' | 'removed'> {
  const blob = blobPath(folder, etag);
  if (!(await access(blob).then(() => true, () => false))) return 'missing';
  if (!s.verify || (await checkEtag(blob, etag)) !== 'mismatch') return 'good';
  await rm(blob, { force: true });
  return 'removed';
}

async function eachLimit<T>(items: T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await task(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

const listed = (files: string[]): string =>
  files.length <= 20 ? files.join(', ') || 'no files' : `${files.slice(0, 20).join(', ')} and ${files.length - 20} more`;

