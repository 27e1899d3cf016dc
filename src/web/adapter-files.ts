/**
 * peft/adapter-files.ts for browsers (package.json "browser" swaps it in): adapters read from web/files.ts
 * directories (URL prefixes, the hub, picked files) and saved in memory, from where web/index.ts hands them out as
 * Blobs or a .zip.
 */
import {
  ADAPTER_CONFIG, ADAPTER_WEIGHTS, parseAdapter, serializeAdapterConfig, serializeAdapterWeights, type Adapter, type SavedTensor,
} from '../peft/adapter.js';
import type { AnyPeftConfig } from '../peft/methods.js';
import type { HubOptions } from '../hub/settings.js';
import { joinPath, locate, readBytes, readJson, writeFile } from './files.js';

export function locateAdapter(pathOrId: string, opts: HubOptions = {}): Promise<string> {
  return Promise.resolve(locate(pathOrId, opts.revision));
}

export function adapterSubdir(dir: string, name: string): string {
  return joinPath(dir, name);
}

export async function loadAdapter(dir: string): Promise<Adapter> {
  const config = await readJson(joinPath(dir, ADAPTER_CONFIG));
  return parseAdapter(config, await readBytes(joinPath(dir, ADAPTER_WEIGHTS)), dir);
}

export async function saveAdapter(dir: string, config: AnyPeftConfig, saved: Float32Array | SavedTensor[]): Promise<void> {
  writeFile(joinPath(dir, ADAPTER_WEIGHTS), serializeAdapterWeights(config, saved));
  writeFile(joinPath(dir, ADAPTER_CONFIG), serializeAdapterConfig(config));
}
