// A stand-in for the Hugging Face hub on 127.0.0.1, serving in-memory repos under the hub's URL layout:
//   GET  /api/{models|datasets}/{id}/revision/{rev}       -> { sha, siblings: [{ rfilename }] }
//   HEAD|GET /{id}/resolve/{rev}/{path}                   (/datasets/{id}/resolve/... for datasets)
//        regular files: 200, ETag = git blob sha1, X-Repo-Commit, Range support
//        LFS files (*.safetensors, *.parquet): 302 to the CDN, X-Linked-Etag = sha256, X-Linked-Size
//   GET  <cdn>/blob/{sha256}                              a second server (another origin), Range support
// Errors as the hub sends them: 401 for a private repo without its token, 404 with X-Error-Code. Faults (a status, a
// connection cut after N bytes, a flipped byte) are armed per request and used up. Every request is logged.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeRepo {
  type: 'model' | 'dataset';
  id: string;
  /** Branches and tags -> commit. */
  refs: Record<string, string>;
  /** Commit -> file path -> contents. */
  commits: Record<string, Record<string, Uint8Array>>;
  /** A private repo: requests without this token get 401. */
  token?: string;
}

export interface Logged {
  server: 'hub' | 'cdn';
  method: string;
  path: string;
  range?: string;
  authorization?: string;
}

export interface Fault {
  /** Which request it hits: a substring of "<server> <METHOD> <path>", e.g. "cdn GET" or "hub GET /api/". */
  match: string;
  status?: number;
  /** Send the headers and only this many body bytes, then drop the connection. */
  cutAfter?: number;
  /** Flip the first body byte. */
  corrupt?: boolean;
  /** How many requests it hits (default 1). */
  times?: number;
}

export const isLfs = (path: string): boolean => /\.(safetensors|parquet)$/.test(path);

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

export const gitBlobSha1 = (bytes: Uint8Array): string =>
  createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');

/** The name Python's huggingface_hub gives the blob of this file. */
export const etagOf = (path: string, bytes: Uint8Array): string => (isLfs(path) ? sha256(bytes) : gitBlobSha1(bytes));

export class FakeHub {
  readonly log: Logged[] = [];
  readonly faults: Fault[] = [];
  private readonly blobs = new Map<string, Uint8Array>();

  private constructor(
    private readonly repos: FakeRepo[],
    private readonly hub: Server,
    private readonly cdn: Server,
  ) {}

  static async start(repos: FakeRepo[]): Promise<FakeHub> {
    const [hub, cdn] = [createServer((q, r) => fake.serveHub(q, r)), createServer((q, r) => fake.serveCdn(q, r))];
    const fake: FakeHub = new FakeHub(repos, hub, cdn);
    await Promise.all([fake.hub, fake.cdn].map((s) => new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok))));
    for (const repo of repos) fake.addBlobs(repo);
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.hub.address() as AddressInfo).port}`;
  }

  private get cdnUrl(): string {
    return `http://127.0.0.1:${(this.cdn.address() as AddressInfo).port}`;
  }

  add(repo: FakeRepo): void {
    this.repos.push(repo);
    this.addBlobs(repo);
  }

  /** Requests whose "<server> <METHOD> <path>" contains `part`. */
  requests(part = ''): Logged[] {
    return this.log.filter((l) => `${l.server} ${l.method} ${l.path}`.includes(part));
  }

  async close(): Promise<void> {
    await Promise.all(
      [this.hub, this.cdn].map((s) => new Promise<void>((ok) => (s.closeAllConnections(), s.close(() => ok())))),
    );
  }

  private addBlobs(repo: FakeRepo): void {
    for (const files of Object.values(repo.commits)) {
      for (const [path, bytes] of Object.entries(files)) if (isLfs(path)) this.blobs.set(sha256(bytes), bytes);
    }
  }

  private record(server: 'hub' | 'cdn', req: IncomingMessage): Fault | undefined {
    const { range, authorization } = req.headers;
    const entry: Logged = { server, method: req.method!, path: req.url!, range, authorization };
    this.log.push(entry);
    const key = `${server} ${entry.method} ${entry.path}`;
    const i = this.faults.findIndex((f) => key.includes(f.match));
    if (i < 0) return undefined;
    const fault = this.faults[i];
    if ((fault.times = (fault.times ?? 1) - 1) <= 0) this.faults.splice(i, 1);
    return fault;
  }

  private serveHub(req: IncomingMessage, res: ServerResponse): void {
    const fault = this.record('hub', req);
    if (fault?.status) return void res.writeHead(fault.status).end();
    const parts = new URL(req.url!, this.url).pathname.split('/').slice(1).map(decodeURIComponent);
    if (parts[0] === 'api') {
      const at = parts.indexOf('revision');
      const type = parts[1] === 'datasets' ? 'dataset' : 'model';
      return this.serveRevision(req, res, type, parts.slice(2, at).join('/'), parts.slice(at + 1).join('/'));
    }
    const type = parts[0] === 'datasets' ? 'dataset' : 'model';
    const rest = type === 'dataset' ? parts.slice(1) : parts;
    const at = rest.indexOf('resolve');
    this.serveResolve(req, res, type, rest.slice(0, at).join('/'), rest[at + 1], rest.slice(at + 2).join('/'), fault);
  }

  /** The repo and commit a request names, or null after answering with the hub's error. */
  private find(req: IncomingMessage, res: ServerResponse, type: string, id: string, revision: string) {
    const repo = this.repos.find((r) => r.type === type && r.id === id);
    if (!repo || (repo.token && req.headers.authorization !== `Bearer ${repo.token}`)) {
      const [status, code] = repo ? [401, 'RepoNotFound'] : [404, 'RepoNotFound'];
      res.writeHead(status, { 'x-error-code': code, 'x-error-message': 'Repository not found' }).end();
      return null;
    }
    const commit = repo.refs[revision] ?? (repo.commits[revision] ? revision : undefined);
    if (!commit) {
      res.writeHead(404, { 'x-error-code': 'RevisionNotFound', 'x-error-message': `Invalid rev id: ${revision}` }).end();
      return null;
    }
    return { repo, commit, files: repo.commits[commit] };
  }

  private serveRevision(req: IncomingMessage, res: ServerResponse, type: string, id: string, revision: string): void {
    const found = this.find(req, res, type, id, revision);
    if (!found) return;
    const body = JSON.stringify({ id, sha: found.commit, siblings: Object.keys(found.files).map((rfilename) => ({ rfilename })) });
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  }

  private serveResolve(req: IncomingMessage, res: ServerResponse, type: string, id: string, revision: string, path: string, fault?: Fault): void {
    const found = this.find(req, res, type, id, revision);
    if (!found) return;
    const bytes = found.files[path];
    if (!bytes) {
      res.writeHead(404, { 'x-error-code': 'EntryNotFound', 'x-repo-commit': found.commit }).end();
      return;
    }
    const headers = { 'x-repo-commit': found.commit };
    if (isLfs(path)) {
      res.writeHead(302, {
        ...headers,
        location: `${this.cdnUrl}/blob/${sha256(bytes)}`,
        etag: `"${gitBlobSha1(new TextEncoder().encode(`oid sha256:${sha256(bytes)}`))}"`,
        'x-linked-etag': `"${sha256(bytes)}"`,
        'x-linked-size': String(bytes.length),
      }).end();
      return;
    }
    sendBytes(req, res, bytes, { ...headers, etag: `"${gitBlobSha1(bytes)}"` }, fault);
  }

  private serveCdn(req: IncomingMessage, res: ServerResponse): void {
    const fault = this.record('cdn', req);
    if (fault?.status) return void res.writeHead(fault.status).end();
    const bytes = this.blobs.get(req.url!.replace('/blob/', ''));
    if (!bytes) return void res.writeHead(404).end();
    sendBytes(req, res, bytes, { etag: `"${sha256(bytes)}"` }, fault);
  }
}

function sendBytes(req: IncomingMessage, res: ServerResponse, bytes: Uint8Array, headers: Record<string, string>, fault?: Fault): void {
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const start = range ? Number(range[1]) : 0;
  if (start > 0 && start >= bytes.length) {
    res.writeHead(416, { 'content-range': `bytes */${bytes.length}` }).end();
    return;
  }
  let body = Buffer.from(bytes.subarray(start));
  if (fault?.corrupt) (body = Buffer.from(body))[0] ^= 0xff;
  res.writeHead(range ? 206 : 200, {
    ...headers,
    'content-length': String(body.length),
    ...(range ? { 'content-range': `bytes ${start}-${bytes.length - 1}/${bytes.length}` } : {}),
  });
  if (req.method === 'HEAD') return void res.end();
  if (fault?.cutAfter === undefined) return void res.end(body);
  res.write(body.subarray(0, fault.cutAfter), () => res.destroy());
}
