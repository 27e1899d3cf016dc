/**
 * peft/adapter-files.ts for browsers (package.json "browser" swaps it in): adapters read from web/files.ts
 * directories (URL prefixes, the hub, picked files) and saved in memory, from where web/index.ts hands them out as
 * Blobs or a .zip.
 */
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, parseAdapter, serializeAdapterConfig, serializeAdapterWeights, type Adapter } from '../peft/adapter.js';
import type { PromptTuningConfig } from '../peft/config.js';
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

export async function saveAdapter(dir: string, config: PromptTuningConfig, prompt: Float32Array): Promise<void> {
  writeFile(joinPath(dir, ADAPTER_WEIGHTS), serializeAdapterWeights(config, prompt));
  writeFile(joinPath(dir, ADAPTER_CONFIG), serializeAdapterConfig(config));
}
