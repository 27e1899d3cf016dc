/**
 * Requests to the hub: the token goes only to the hub itself (never to the CDN its downloads redirect to), transient
 * failures are retried with exponential backoff, and error statuses become HubErrors that say what they mean.
 */
import { HubError } from '../errors.js';
import type { RepoType } from './cache.js';
import type { HubSettings } from './settings.js';

/** What a request is about, for messages: hf://org/name@rev/file (hf://datasets/... for datasets), as HfFileSystem spells it. */
export interface Subject {
  id: string;
  type: RepoType;
  revision?: string;
  file?: string;
}

export function hfUrl({ id, type, revision, file }: Subject): string {
  return `hf://${type === 'dataset' ? 'datasets/' : ''}${id}${revision ? `@${revision}` : ''}${file ? `/${file}` : ''}`;
}

/** A failure worth retrying: no response (status 0), a broken transfer, 429 or a 5xx. */
export class TransientError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export const isTransient = (status: number | undefined): boolean =>
  status === 0 || status === 429 || (status !== undefined && status >= 500);

/** fetch failures that are about the request itself, not the network: retrying cannot help. */
const NEVER_RETRIED = /^(bad port|invalid url|unknown scheme|ERR_INVALID_URL|ERR_INVALID_PROTOCOL|URL scheme must be)/i;

export async function withRetries<T>(s: HubSettings, subject: Subject, attempt: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (e) {
      if (!(e instanceof TransientError)) throw e;
      if (tries > s.retries) throw new HubError(`${e.message} (gave up after ${tries} tries)`, hfUrl(subject), e.status);
      await new Promise((resolve) => setTimeout(resolve, s.retryDelayMs * 2 ** (tries - 1)));
    }
  }
}

export interface RequestInit {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  redirect?: 'follow' | 'manual';
  /** Aborts the request, and its body while it is read; a timeout guards only the wait for the response. */
  controller?: AbortController;
}

/**
 * One request. Returns responses below 400 (and 416, for the downloader to handle); throws TransientError for what
 * a retry may fix and HubError for the rest.
 */
export async function request(s: HubSettings, subject: Subject, url: string, init: RequestInit = {}): Promise<Response> {
  const controller = init.controller ?? new AbortController();
  const timer = setTimeout(() => controller.abort(), s.timeoutMs);
  let response: Response;
  try {
    response = await fetch(url, {
      method: init.method ?? 'GET',
      redirect: init.redirect ?? 'follow',
      headers: { 'user-agent': 'softprompt', ...authorization(s, url), ...init.headers },
      signal: controller.signal,
    });
  } catch (e) {
    const cause = controller.signal.aborted ? `no response in ${s.timeoutMs / 1000} s` : describe(e);
    // What no retry can fix (a port fetch refuses to use, a malformed URL): say so at once.
    if (!controller.signal.aborted && NEVER_RETRIED.test(cause)) {
      throw new HubError(`cannot reach ${new URL(url).origin}: ${cause} (check HF_ENDPOINT)`, hfUrl(subject), 0);
    }
    throw new TransientError(`cannot reach ${new URL(url).origin}: ${cause}`, 0);
  } finally {
    clearTimeout(timer);
  }
  if (response.status < 400 || response.status === 416) return response;
  await response.body?.cancel();
  if (isTransient(response.status)) throw new TransientError(`the hub answered HTTP ${response.status}`, response.status);
  throw statusError(s, subject, response);
}

function authorization(s: HubSettings, url: string): Record<string, string> {
  const toHub = new URL(url).origin === new URL(s.endpoint).origin;
  return s.token && toHub ? { authorization: `Bearer ${s.token}` } : {};
}

function statusError(s: HubSettings, subject: Subject, response: Response): HubError {
  const code = response.headers.get('x-error-code');
  const detail = response.headers.get('x-error-message');
  const messages: Record<number, string> = {
    401: s.token
      ? 'the token was refused (invalid or expired; check HF_TOKEN)'
      : 'repo not found, or private/gated and needs a token (set HF_TOKEN)',
    403: 'access denied: a gated repo needs its terms accepted on the hub by the token owner, and a token with read access',
    404:
      code === 'RevisionNotFound'
        ? `revision "${subject.revision}" not found`
        : code === 'EntryNotFound'
          ? 'file not found in this revision'
          : code === 'RepoNotFound'
            ? 'repo not found'
            : 'repo or file not found',
  };
  const message = messages[response.status] ?? `the hub answered HTTP ${response.status}`;
  return new HubError(detail ? `${message} (hub: ${detail})` : message, hfUrl(subject), response.status);
}

export function describe(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (e instanceof Error ? e.message : String(e));
}
