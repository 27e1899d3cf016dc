/** Reads and writes a PEFT adapter directory on disk (the format itself is in peft/adapter.ts). */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  ADAPTER_CONFIG, ADAPTER_WEIGHTS, parseAdapter, serializeAdapterConfig, serializeAdapterWeights, type Adapter, type SavedTensor,
} from '../peft/adapter.js';
import type { AnyPeftConfig } from '../peft/methods.js';
import { orMissing, readJson, writeFileAtomic } from '../hub/local.js';
import { locateFiles } from '../hub/model-files.js';
import type { HubOptions } from '../hub/settings.js';

/** An adapter directory, or a hub repo id whose adapter files are fetched into the cache. */
export function locateAdapter(pathOrId: string, opts: HubOptions = {}): Promise<string> {
  return locateFiles(pathOrId, [ADAPTER_CONFIG, ADAPTER_WEIGHTS], opts);
}

export async function loadAdapter(dir: string): Promise<Adapter> {
  const config = await readJson(join(dir, ADAPTER_CONFIG));
  const path = join(dir, ADAPTER_WEIGHTS);
  const bytes = await orMissing(path, () => readFile(path));
  return parseAdapter(config, bytes, dir);
}

/**
 * Writes adapter_model.safetensors, then adapter_config.json, each atomically, so no file is ever half-written. The
 * config goes last: a crash in between leaves a new directory without a config (refused as missing), or an overwritten
 * one with the previous config, whose shape the loader checks against the new prompt.
 */
export async function saveAdapter(dir: string, config: AnyPeftConfig, saved: Float32Array | SavedTensor[]): Promise<void> {
  const weights = serializeAdapterWeights(config, saved);
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, ADAPTER_WEIGHTS), weights);
  await writeFileAtomic(join(dir, ADAPTER_CONFIG), serializeAdapterConfig(config));
}
