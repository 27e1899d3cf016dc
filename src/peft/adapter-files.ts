/** Reads and writes a PEFT adapter directory on disk (the format itself is in peft/adapter.ts). */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ADAPTER_CONFIG, ADAPTER_WEIGHTS, parseAdapter, serializeAdapterConfig, serializeAdapterWeights, type Adapter, type SavedTensor,
} from '../peft/adapter.js';
import type { AnyPeftConfig } from '../peft/methods.js';
import { orFileSystemError, readFileCapped, readJson, writeFileAtomic } from '../hub/local.js';
import { locateFiles } from '../hub/model-files.js';
import type { HubOptions } from '../hub/settings.js';

/** An adapter directory, or a hub repo id whose adapter files are fetched into the cache. */
export function locateAdapter(pathOrId: string, opts: HubOptions = {}): Promise<string> {
  return locateFiles(pathOrId, [ADAPTER_CONFIG, ADAPTER_WEIGHTS], opts);
}

/** Where save_pretrained puts a non-default adapter: `dir/<name>`, as PEFT does. */
export function adapterSubdir(dir: string, name: string): string {
  return join(dir, name);
}

export async function loadAdapter(dir: string): Promise<Adapter> {
  const config = await readJson(join(dir, ADAPTER_CONFIG));
  const path = join(dir, ADAPTER_WEIGHTS);
  // 256 MiB is a prompt of 8192 virtual tokens of width 8192: far past any real one, and it bounds what a wrong file costs.
  const bytes = await readFileCapped(path, 256 * 2 ** 20);
  return parseAdapter(config, bytes, dir);
}

/**
 * Writes adapter_model.safetensors, then adapter_config.json, each atomically, so no file is ever half-written. The
 * config goes last: a crash in between leaves a new directory without a config (refused as missing), or an overwritten
 * one with the previous config, whose shape the loader checks against the new prompt.
 */
export async function saveAdapter(dir: string, config: AnyPeftConfig, saved: Float32Array | SavedTensor[]): Promise<void> {
  const weights = serializeAdapterWeights(config, saved);
  await orFileSystemError(dir, () => mkdir(dir, { recursive: true }));
  await writeFileAtomic(join(dir, ADAPTER_WEIGHTS), weights);
  await writeFileAtomic(join(dir, ADAPTER_CONFIG), serializeAdapterConfig(config));
}
