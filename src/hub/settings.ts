/**
 * Hub options, with the defaults Python's huggingface_hub takes from the environment: HF_ENDPOINT, HF_HOME,
 * HF_HUB_CACHE, HF_HUB_OFFLINE, HF_TOKEN (then the token file `hf auth login` writes), HF_HUB_DOWNLOAD_TIMEOUT.
 * Read on every call, so a process that changes its environment sees the change.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { OptionError } from '../errors.js';
import type { ProgressCallback } from './progress.js';

export interface HubOptions {
  /** A branch, tag or full commit hash; default "main". */
  revision?: string;
  /** Token for private and gated repos; default HF_TOKEN, then the saved login token. */
  token?: string;
  /** Use the cache only, never the network; default HF_HUB_OFFLINE. */
  offline?: boolean;
  /** The cache directory; default HF_HUB_CACHE, then HF_HOME/hub (~/.cache/huggingface/hub), shared with Python. */
  cache_dir?: string;
  /** The hub's base URL; default HF_ENDPOINT, then https://huggingface.co. */
  endpoint?: string;
  progress_callback?: ProgressCallback;
  /**
   * Hash cached files against their names before use (default true), so a blob damaged on disk is re-fetched. Costs
   * one read and sha256 of each file (about 1.6 GB/s on this project's machine); the OS cache then serves the loader.
   */
  verify?: boolean;
  /** Retries of a transient failure (network error, 429, 5xx), default 4, with exponential backoff... */
  retries?: number;
  /** ...starting at this many milliseconds (default 1000). */
  retry_delay_ms?: number;
}

export interface HubSettings {
  endpoint: string;
  cacheDir: string;
  offline: boolean;
  token?: string;
  verify: boolean;
  retries: number;
  retryDelayMs: number;
  /** How long a request may wait for a response, or a download for its next bytes. */
  timeoutMs: number;
}

const DEFAULT_ENDPOINT = 'https://huggingface.co';

export function hubSettings(opts: HubOptions = {}): HubSettings {
  const env = process.env;
  const hfHome = expandHome(env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'huggingface'));
  const endpoint = (opts.endpoint ?? env.HF_ENDPOINT ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
  if (!URL.canParse(endpoint) || !/^https?:$/.test(new URL(endpoint).protocol)) {
    throw new OptionError(`is ${JSON.stringify(endpoint)}; expected an http(s) URL`, opts.endpoint === undefined ? 'HF_ENDPOINT' : 'endpoint');
  }
  return {
    endpoint,
    cacheDir: expandHome(opts.cache_dir ?? env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE ?? join(hfHome, 'hub')),
    offline: opts.offline ?? isTrue(env.HF_HUB_OFFLINE ?? env.TRANSFORMERS_OFFLINE),
    token: opts.token ?? (env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || savedToken(env.HF_TOKEN_PATH ?? join(hfHome, 'token'))),
    verify: opts.verify ?? true,
    retries: opts.retries ?? 4,
    retryDelayMs: opts.retry_delay_ms ?? 1000,
    timeoutMs: 1000 * (Number(env.HF_HUB_DOWNLOAD_TIMEOUT) || 10),
  };
}

/** Python's `_is_true`. */
function isTrue(value: string | undefined): boolean {
  return ['1', 'ON', 'YES', 'TRUE'].includes((value ?? '').toUpperCase());
}

function expandHome(path: string): string {
  return path === '~' || path.startsWith('~/') ? join(homedir(), path.slice(1)) : path;
}

function savedToken(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}
