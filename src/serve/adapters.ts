/**
 * The adapters a server knows: every subdirectory of --adapters that holds a PEFT prompt-tuning, P-tuning or
 * prefix-tuning adapter (named after the directory; ones added later load on first request), and those loaded at run
 * time by name and path. Multitask prompt tuning adapters are refused: a request has no task id to pick the prompt. Paths given at
 * run time must stay inside --adapters: absolute paths, `..` and symlinks leading out are refused; a hub id
 * (`org/name`) not found there is fetched into the hub cache. Each adapter's prompt prefix (its keys/values) is
 * computed once, on first use, and kept while the adapter is loaded; a prefix-tuning adapter's prefix is its own.
 * Adapters whose virtual tokens go before the completion (virtual_tokens_position) have none: their keys/values depend
 * on each request's text, so their prompt runs in every request's prefill.
 */
import { realpath, readdir, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { SoftpromptError, UnsupportedError } from '../errors.js';
import { DecodeBatch, type PromptPrefix } from '../generate/batch.js';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, checkAdapterFits, type Adapter } from '../peft/adapter.js';
import { loadAdapter, locateAdapter } from '../peft/adapter-files.js';
import type { PretrainedModel } from '../models/model.js';
import type { HubOptions } from '../hub/settings.js';
import { ApiError } from './openai.js';

export const ADAPTER_NAME = /^[A-Za-z0-9._-]+$/;
const HUB_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;

export interface LoadedAdapter {
  name: string;
  /** Its directory (a hub id's cache snapshot). */
  path: string;
  adapter: Adapter;
  created: number;
}

export class AdapterRegistry {
  private readonly adapters = new Map<string, Promise<LoadedAdapter>>();
  private readonly prefixes = new Map<string, Promise<PromptPrefix>>();
  /** Names unloaded at run time: not loaded again from --adapters until load_adapter names them. */
  private readonly unloaded = new Set<string>();
  private root: string | null = null;

  constructor(
    private readonly model: PretrainedModel,
    /** The base model's id: no adapter may take it. */
    private readonly baseId: string,
    private readonly dir: string | null,
    private readonly hub: HubOptions = {},
    private readonly warn: (message: string) => void = () => {},
  ) {}

  /** Loads every adapter directory under --adapters; ones that fail are skipped with a warning. */
  async init(): Promise<void> {
    if (this.dir === null) return;
    this.root = await realpath(this.dir).catch(() => {
      throw new SoftpromptError('not a directory', this.dir!);
    });
    if (!(await stat(this.root)).isDirectory()) throw new SoftpromptError('not a directory', this.dir);
    const names = (await readdir(this.root)).filter((n) => ADAPTER_NAME.test(n) && n !== this.baseId).sort();
    await Promise.all(
      names.map(async (name) => {
        if (!(await isFile(join(this.root!, name, ADAPTER_CONFIG)))) return;
        try {
          await this.fromDirectory(name);
        } catch (e) {
          this.adapters.delete(name);
          this.warn(`adapter ${name} skipped: ${(e as Error).message}`);
        }
      }),
    );
  }

  /** The loaded adapters, by name. */
  async list(): Promise<LoadedAdapter[]> {
    const settled = await Promise.allSettled(this.adapters.values());
    return settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** An adapter by name: loaded, or a directory under --adapters that appeared since; 404 otherwise. */
  async get(name: string): Promise<LoadedAdapter> {
    const loaded = this.adapters.get(name);
    if (loaded) return loaded;
    if (this.root !== null && ADAPTER_NAME.test(name) && !this.unloaded.has(name) && name !== '.' && name !== '..') {
      if (await isFile(join(this.root, name, ADAPTER_CONFIG))) {
        const p = this.fromDirectory(name);
        p.catch(() => this.adapters.delete(name));
        return p;
      }
    }
    throw modelNotFound(name);
  }

  /** The adapter's keys/values, computed on first use. */
  prefix(a: LoadedAdapter): Promise<PromptPrefix> {
    let p = this.prefixes.get(a.name);
    if (!p) {
      p = DecodeBatch.promptPrefix(this.model, a.adapter);
      this.prefixes.set(a.name, p);
      p.catch(() => this.prefixes.delete(a.name));
    }
    return p;
  }

  /** POST /v1/load_adapter: `path` inside --adapters, or a hub id. */
  async load(name: string, path: string): Promise<LoadedAdapter> {
    checkName(name, this.baseId);
    if (this.adapters.has(name)) throw new ApiError(400, `adapter '${name}' is already loaded; unload it first`, 'adapter_name');
    const dir = await this.locate(path);
    const p = this.read(name, dir);
    this.adapters.set(name, p);
    try {
      const loaded = await p;
      this.unloaded.delete(name);
      return loaded;
    } catch (e) {
      this.adapters.delete(name);
      throw e;
    }
  }

  /** POST /v1/unload_adapter. Requests already running with it finish with it. */
  async unload(name: string): Promise<void> {
    checkName(name, this.baseId);
    const p = this.adapters.get(name);
    if (!p) throw new ApiError(404, `adapter '${name}' is not loaded`, 'adapter_name', 'model_not_found');
    this.adapters.delete(name);
    this.prefixes.delete(name);
    this.unloaded.add(name);
    await p.catch(() => {});
  }

  private fromDirectory(name: string): Promise<LoadedAdapter> {
    const p = this.read(name, join(this.root!, name), true);
    this.adapters.set(name, p);
    return p;
  }

  private async read(name: string, dir: string, inRoot = false): Promise<LoadedAdapter> {
    if (inRoot) await this.checkInside(dir, name);
    let adapter: Adapter;
    try {
      adapter = await loadAdapter(dir);
      checkAdapterFits(adapter, this.model.config, dir);
      if (adapter.peftType === 'MULTITASK_PROMPT_TUNING') {
        throw new UnsupportedError('MULTITASK_PROMPT_TUNING adapters need a task id per request, which the OpenAI API has no field for', dir);
      }
    } catch (e) {
      if (e instanceof SoftpromptError) throw new ApiError(400, `adapter '${name}': ${e.message}`, 'adapter_path');
      throw e;
    }
    return { name, path: dir, adapter, created: Math.floor(Date.now() / 1000) };
  }

  /** The directory `path` names: inside --adapters (no escape by `..`, absolute paths or symlinks), or a hub id. */
  private async locate(path: string): Promise<string> {
    if (path.length === 0 || path.length > 1024 || path.includes('\0')) throw new ApiError(400, 'adapter_path must be a non-empty relative path', 'adapter_path');
    if (isAbsolute(path) || /^[A-Za-z]:|^[\\/]/.test(path)) {
      throw new ApiError(400, 'adapter_path must be relative to the adapters directory (absolute paths are refused)', 'adapter_path');
    }
    if (this.root !== null) {
      const candidate = resolve(this.root, path);
      if (!within(this.root, candidate)) throw new ApiError(400, 'adapter_path leads outside the adapters directory', 'adapter_path');
      if (await exists(candidate)) {
        await this.checkInside(candidate, path);
        return candidate;
      }
    }
    if (HUB_ID.test(path) && !path.split('/').some((p) => p === '.' || p === '..')) {
      try {
        return await locateAdapter(path, this.hub);
      } catch (e) {
        if (e instanceof SoftpromptError) throw new ApiError(404, `adapter '${path}': ${e.message}`, 'adapter_path', 'adapter_not_found');
        throw e;
      }
    }
    throw new ApiError(404, `no adapter at '${path}'${this.root === null ? ' (the server has no --adapters directory; give a hub id)' : ' in the adapters directory'}`, 'adapter_path', 'adapter_not_found');
  }

  /** Symlinks may not lead out of --adapters. */
  private async checkInside(dir: string, shown: string): Promise<void> {
    const real = await realpath(dir).catch(() => null);
    if (real === null) throw new ApiError(404, `no adapter at '${shown}'`, 'adapter_path', 'adapter_not_found');
    const files = await Promise.all([ADAPTER_CONFIG, ADAPTER_WEIGHTS].map((f) => realpath(join(real, f)).catch(() => real)));
    for (const f of [real, ...files]) {
      if (!within(this.root!, f)) throw new ApiError(400, 'adapter_path leads outside the adapters directory (a symlink?)', 'adapter_path');
    }
  }
}

export function modelNotFound(name: string): ApiError {
  return new ApiError(404, `The model '${name}' does not exist.`, 'model', 'model_not_found');
}

function checkName(name: string, baseId: string): void {
  if (!ADAPTER_NAME.test(name) || name === '.' || name === '..' || name.length > 200) {
    throw new ApiError(400, 'adapter_name must match ^[A-Za-z0-9._-]+$ (at most 200 characters)', 'adapter_name');
  }
  if (name === baseId) throw new ApiError(400, `adapter_name '${name}' is the base model's id`, 'adapter_name');
}

function within(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function isFile(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isFile(),
    () => false,
  );
}
