// Hub repos for the tests, made from the fixture models and datasets, and the options that point softprompt at a
// FakeHub and a temporary cache. Importing this module clears the HF_* variables of the test process, so a
// developer's token, cache or offline setting can neither leak into nor change a test.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HubOptions } from '../../src/hub/settings.js';
import { Safetensors, serializeSafetensors } from '../../src/weights/safetensors.js';
import { FakeHub, type FakeRepo } from './server.js';

const HF_VARIABLES = ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'HF_TOKEN_PATH', 'HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE'];
for (const name of [...HF_VARIABLES, 'HF_ENDPOINT', 'HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE']) delete process.env[name];
process.env.HF_HOME = join(tmpdir(), 'softprompt-no-hf-home');

/** A made-up but well-formed commit hash. */
export const commitOf = (seed: string): string => createHash('sha1').update(seed).digest('hex');

export async function readDir(dir: string): Promise<Record<string, Uint8Array>> {
  const names = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isFile()).map((d) => d.name);
  return Object.fromEntries(await Promise.all(names.map(async (n) => [n, new Uint8Array(await readFile(join(dir, n)))] as const)));
}

/** The model's files with model.safetensors split into two shards and an index, as `save_pretrained` shards. */
export function sharded(files: Record<string, Uint8Array>): Record<string, Uint8Array> {
  const { 'model.safetensors': single, ...rest } = files;
  const weights = Safetensors.parse(single, 'model.safetensors');
  const names = weights.names().sort();
  const shards = [names.slice(0, names.length / 2), names.slice(names.length / 2)];
  const shardName = (i: number): string => `model-0000${i + 1}-of-00002.safetensors`;
  const index = {
    metadata: { total_size: single.length },
    weight_map: Object.fromEntries(shards.flatMap((group, i) => group.map((name) => [name, shardName(i)]))),
  };
  const tensor = (name: string) => ({ name, shape: weights.entry(name).shape, data: weights.float32(name) });
  const shardFiles = shards.map((group) => serializeSafetensors(group.map(tensor), { format: 'pt' }));
  return {
    ...rest,
    'model.safetensors.index.json': new TextEncoder().encode(JSON.stringify(index)),
    ...Object.fromEntries(shardFiles.map((bytes, i) => [shardName(i), bytes])),
  };
}

export function modelRepo(id: string, files: Record<string, Uint8Array>, extra: Partial<FakeRepo> = {}): FakeRepo {
  const commit = commitOf(id);
  return { type: 'model', id, refs: { main: commit }, commits: { [commit]: files }, ...extra };
}

/** Options aimed at `hub` with the cache in `cacheDir`: online, fast retries. */
export const hubOptions = <T extends HubOptions>(hub: FakeHub | { url: string }, cacheDir: string, extra?: T): HubOptions & T => ({
  endpoint: hub.url,
  cache_dir: cacheDir,
  offline: false,
  retries: 2,
  retry_delay_ms: 1,
  ...(extra as T),
});

/** Runs `body` with a fresh FakeHub serving `repos` and an empty cache directory; both are gone afterwards. */
export async function withHub(repos: FakeRepo[], body: (hub: FakeHub, cacheDir: string) => Promise<void>): Promise<void> {
  const hub = await FakeHub.start(repos);
  const cacheDir = await mkdtemp(join(tmpdir(), 'softprompt-hub-'));
  try {
    await body(hub, cacheDir);
  } finally {
    await hub.close();
    await rm(cacheDir, { recursive: true, force: true });
  }
}
