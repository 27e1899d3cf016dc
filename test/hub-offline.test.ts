import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HubError } from '../src/errors.js';
import { loadConfig } from '../src/models/pretrained.js';
import { loadWeights } from '../src/weights/files.js';
import { resolveModelDir } from '../src/hub/model-files.js';
import { tokenizerFromPretrained } from '../src/tokenizer/pretrained.js';
import { fixture } from './fixtures.js';
import { writePythonCache } from './hub/python-cache.js';
import { commitOf, hubOptions, modelRepo, readDir, sharded, withHub } from './hub/repos.js';
import { FakeHub } from './hub/server.js';

const offlineError = (...missing: string[]) => (e: unknown) =>
  e instanceof HubError && /not in the cache \(offline mode\)/.test(e.message) && missing.every((m) => e.message.includes(m));

/** An endpoint where nothing listens: a server started and closed again. */
async function deadEndpoint(): Promise<{ url: string }> {
  const hub = await FakeHub.start([]);
  const url = hub.url;
  await hub.close();
  return { url };
}

test('offline with an empty cache: the error lists every missing file and nothing is requested', { timeout: 30_000 }, async (t) => {
  const dir = fixture(t, 'models', 'bloom-tiny-4h');
  if (!dir) return;
  await withHub([modelRepo('tiny/bloom', await readDir(dir))], async (hub, cache) => {
    const opts = hubOptions(hub, cache, { offline: true });
    await assert.rejects(
      resolveModelDir('tiny/bloom', opts),
      offlineError('config.json', 'tokenizer.json', 'model.safetensors or model.safetensors.index.json', 'no refs/main'),
    );
    // Only the tokenizer cached: the model's files are what is missing, and nothing else.
    await tokenizerFromPretrained('tiny/bloom', { ...opts, offline: false });
    hub.log.length = 0;
    await tokenizerFromPretrained('tiny/bloom', opts);
    const modelFilesOnly = (e: unknown) => offlineError('config.json')(e) && !(e as Error).message.includes('tokenizer.json');
    await assert.rejects(resolveModelDir('tiny/bloom', opts), modelFilesOnly);
    assert.equal(hub.log.length, 0);
  });
});

test('offline with the files in the cache: same snapshot, no request (option, HF_HUB_OFFLINE=1)', { timeout: 30_000 }, async (t) => {
  const dir = fixture(t, 'models', 'bloom-tiny-4h');
  if (!dir) return;
  await withHub([modelRepo('tiny/sharded', sharded(await readDir(dir)))], async (hub, cache) => {
    const online = await resolveModelDir('tiny/sharded', hubOptions(hub, cache));
    hub.log.length = 0;
    assert.equal(await resolveModelDir('tiny/sharded', hubOptions(hub, cache, { offline: true })), online);
    process.env.HF_HUB_OFFLINE = '1';
    try {
      assert.equal(await resolveModelDir('tiny/sharded', { endpoint: hub.url, cache_dir: cache }), online);
    } finally {
      delete process.env.HF_HUB_OFFLINE;
    }
    assert.equal(hub.log.length, 0);
    // A missing shard is named, and so is a blob damaged on disk (which offline cannot replace).
    await rm(join(online, 'model-00002-of-00002.safetensors'));
    await writeFile(join(online, 'config.json'), '{}');
    await assert.rejects(
      resolveModelDir('tiny/sharded', hubOptions(hub, cache, { offline: true })),
      offlineError('config.json (damaged; removed)', 'model-00002-of-00002.safetensors'),
    );
  });
});

test("a cache in Python's layout is used without any download, online or offline", { timeout: 30_000 }, async (t) => {
  const dir = fixture(t, 'models', 'bloom-tiny-4h');
  if (!dir) return;
  const files = await readDir(dir);
  const repo = modelRepo('bigscience/bloomz-560m', files);
  await withHub([repo], async (hub, cache) => {
    const folder = await writePythonCache(cache, repo, repo.refs, repo.commits);
    const snapshot = join(folder, 'snapshots', commitOf('bigscience/bloomz-560m'));
    assert.equal(await resolveModelDir('bigscience/bloomz-560m', hubOptions(hub, cache, { offline: true })), snapshot);
    assert.equal(hub.log.length, 0);
    assert.equal(await resolveModelDir('bigscience/bloomz-560m', hubOptions(hub, cache)), snapshot);
    assert.deepEqual(hub.log.map((l) => `${l.method} ${l.path}`), ['GET /api/models/bigscience/bloomz-560m/revision/main']);
    assert.equal((await loadConfig(snapshot)).arch, 'bloom');
    assert.deepEqual((await loadWeights(snapshot)).names(), (await loadWeights(dir)).names());
  });
});

test('a pinned commit needs no ref: offline it is found by its hash alone', { timeout: 30_000 }, async (t) => {
  const dir = fixture(t, 'models', 'bloom-tiny-4h');
  if (!dir) return;
  const repo = modelRepo('tiny/bloom', await readDir(dir));
  const cache = await mkdtemp(join(tmpdir(), 'softprompt-hub-'));
  try {
    const commit = commitOf('tiny/bloom');
    await writePythonCache(cache, repo, {}, repo.commits);
    const opts = { cache_dir: cache, offline: true };
    const snapshot = join(cache, 'models--tiny--bloom', 'snapshots', commit);
    assert.equal(await resolveModelDir('tiny/bloom', { ...opts, revision: commit }), snapshot);
    await assert.rejects(resolveModelDir('tiny/bloom', opts), offlineError('no refs/main'));
  } finally {
    await rm(cache, { recursive: true, force: true });
  }
});

test('an unreachable hub: the cache is used if it has the files, else the network error is reported', { timeout: 30_000 }, async (t) => {
  const dir = fixture(t, 'models', 'bloom-tiny-4h');
  if (!dir) return;
  const repo = modelRepo('tiny/bloom', await readDir(dir));
  await withHub([repo], async (hub, cache) => {
    const snapshot = await resolveModelDir('tiny/bloom', hubOptions(hub, cache));
    const dead = await deadEndpoint();
    assert.equal(await resolveModelDir('tiny/bloom', hubOptions(dead, cache)), snapshot);
    const empty = join(cache, 'empty');
    await assert.rejects(
      resolveModelDir('tiny/bloom', hubOptions(dead, empty)),
      (e: unknown) => e instanceof HubError && e.status === 0 && /cannot reach http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/.test(e.message),
    );
  });
});
