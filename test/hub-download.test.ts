import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HubError } from '../src/errors.js';
import { loadConfig } from '../src/models/pretrained.js';
import { loadWeights } from '../src/weights/files.js';
import { resolveModelDir } from '../src/hub/model-files.js';
import { tokenizerFromPretrained } from '../src/tokenizer/pretrained.js';
import type { ProgressInfo } from '../src/hub/progress.js';
import { fixture } from './fixtures.js';
import { commitOf, hubOptions, modelRepo, readDir, sharded, withHub } from './hub/repos.js';
import { etagOf, sha256 } from './hub/server.js';

const MODEL_FILES = [
  'config.json',
  'generation_config.json',
  'model.safetensors',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
];

const hubError = (pattern: RegExp, status?: number) => (e: unknown) =>
  e instanceof HubError && pattern.test(e.message) && (status === undefined || e.status === status);

test('a model by id lands in the cache in Python layout: refs/main, snapshot links to blobs named by ETag', { timeout: 30_000 }, async (t) => {
  const dir = fixture(t, 'models', 'bloom-tiny-4h');
  if (!dir) return;
  const files = await readDir(dir);
  await withHub([modelRepo('tiny/bloom', files)], async (hub, cache) => {
    const events: ProgressInfo[] = [];
    const snapshot = await resolveModelDir('tiny/bloom', hubOptions(hub, cache, { progress_callback: (e) => events.push(e) }));
    const folder = join(cache, 'models--tiny--bloom');
    const commit = commitOf('tiny/bloom');
    assert.equal(snapshot, join(folder, 'snapshots', commit));
    assert.equal(await readFile(join(folder, 'refs', 'main'), 'utf8'), commit);
    for (const file of MODEL_FILES) {
      assert.equal(await readlink(join(snapshot, file)), join('..', '..', 'blobs', etagOf(file, files[file])), file);
      assert.deepEqual(new Uint8Array(await readFile(join(snapshot, file))), files[file], file);
    }
    assert.equal(hub.requests('resolve/main/vocab.json').length, 0, 'only the files softprompt reads');
    assert.equal((await loadConfig(snapshot)).arch, 'bloom');
    // The LFS file went through the CDN; the resolve requests were made by commit, as Python makes them.
    assert.equal(hub.requests('cdn GET').length, 1);
    assert.equal(hub.requests(`resolve/${commit}/model.safetensors`).length, 1);

    const statuses = (file: string) => events.filter((e) => 'file' in e && e.file === file).map((e) => e.status);
    assert.deepEqual([...new Set(statuses('model.safetensors'))], ['initiate', 'download', 'progress', 'done']);
    const totals = events.filter((e) => e.status === 'progress_total');
    const last = totals.at(-1)!;
    assert.ok(last.status === 'progress_total' && last.loaded === last.total && last.progress === 100);
    assert.equal(last.total, MODEL_FILES.reduce((sum, f) => sum + files[f].length, 0));
    assert.deepEqual(events.at(-1), { status: 'ready', name: 'tiny/bloom', model: 'tiny/bloom', task: 'text-generation' });
  });
});

test('a second load is a cache hit: one listing request, no file requests, files verified', { timeout: 30_000 }, async (t) => {
  const dir = fixture(t, 'models', 'bloom-tiny-4h');
  if (!dir) return;
  await withHub([modelRepo('tiny/bloom', await readDir(dir))], async (hub, cache) => {
    const opts = hubOptions(hub, cache);
    const first = await resolveModelDir('tiny/bloom', opts);
    hub.log.length = 0;
    const events: ProgressInfo[] = [];
    assert.equal(await resolveModelDir('tiny/bloom', { ...opts, progress_callback: (e) => events.push(e) }), first);
    assert.deepEqual(hub.log.map((l) => `${l.method} ${l.path}`), ['GET /api/models/tiny/bloom/revision/main']);
    assert.ok(events.every((e) => ['initiate', 'done', 'ready'].includes(e.status)));
  });
});

test('revisions: a tag, a branch and a commit resolve to their own snapshots; blobs are shared', { timeout: 30_000 }, async (t) => {
  const dir = fixture(t, 'models', 'bloom-tiny-4h');
  if (!dir) return;
  const v1 = await readDir(dir);
  const config = JSON.parse(new TextDecoder().decode(v1['config.json']));
  const v2 = { ...v1, 'config.json': new TextEncoder().encode(JSON.stringify({ ...config, layer_norm_epsilon: 1e-6 })) };
  const [c1, c2] = [commitOf('v1'), commitOf('v2')];
  const repo = { type: 'model' as const, id: 'tiny/bloom', refs: { main: c2, v1: c1 }, commits: { [c1]: v1, [c2]: v2 } };
  await withHub([repo], async (hub, cache) => {
    const folder = join(cache, 'models--tiny--bloom');
    const epsilon = async (revision?: string) =>
      (await loadConfig(await resolveModelDir('tiny/bloom', hubOptions(hub, cache, { revision })))).normEps;
    assert.equal(await epsilon('v1'), config.layer_norm_epsilon);
    assert.equal(await epsilon(), 1e-6);
    assert.equal(await epsilon(c1), config.layer_norm_epsilon);
    assert.equal(await readFile(join(folder, 'refs', 'v1'), 'utf8'), c1);
    assert.equal(await readFile(join(folder, 'refs', 'main'), 'utf8'), c2);
    await assert.rejects(readFile(join(folder, 'refs', c1)), 'a commit is not a ref');
    assert.equal(hub.requests('cdn GET').length, 1, 'the unchanged weights were downloaded once');
  });
});

test('a sharded checkpoint is fetched through its index and loads like the single file', { timeout: 30_000 }, async (t) => {
  const dir = fixture(t, 'models', 'bloom-tiny-4h');
  if (!dir) return;
  await withHub([modelRepo('tiny/sharded', sharded(await readDir(dir)))], async (hub, cache) => {
    const snapshot = await resolveModelDir('tiny/sharded', hubOptions(hub, cache));
    assert.equal(hub.requests('cdn GET').length, 2);
    const [got, want] = [await loadWeights(snapshot), await loadWeights(dir)];
    assert.deepEqual(got.names().sort(), want.names().sort());
    for (const name of want.names()) assert.deepEqual(got.float32(name), want.float32(name), name);
  });
});

test('an interrupted download resumes where it stopped, with a Range request', { timeout: 30_000 }, async (t) => {
  const dir = fixture(t, 'models', 'bloom-tiny-4h');
  if (!dir) return;
  const files = await readDir(dir);
  await withHub([modelRepo('tiny/bloom', files)], async (hub, cache) => {
    hub.faults.push({ match: 'cdn GET', cutAfter: 100_000 });
    const snapshot = await resolveModelDir('tiny/bloom', hubOptions(hub, cache));
    assert.deepEqual(hub.requests('cdn GET').map((r) => r.range), [undefined, 'bytes=100000-']);
    assert.deepEqual(new Uint8Array(await readFile(join(snapshot, 'model.safetensors'))), files['model.safetensors']);
  });
});

test('a partial download left by an earlier process (or by Python) is resumed, not restarted', { timeout: 30_000 }, async (t) => {
  const dir = fixture(t, 'models', 'bloom-tiny-4h');
  if (!dir) return;
  const files = await readDir(dir);
  const weights = files['model.safetensors'];
  await withHub([modelRepo('tiny/bloom', files)], async (hub, cache) => {
    const blobs = join(cache, 'models--tiny--bloom', 'blobs');
    await mkdir(blobs, { recursive: true });
    await writeFile(join(blobs, `${sha256(weights)}.incomplete`), weights.subarray(0, 5000));
    const snapshot = await resolveModelDir('tiny/bloom', hubOptions(hub, cache));
    assert.deepEqual(hub.requests('cdn GET').map((r) => r.range), ['bytes=5000-']);
    assert.deepEqual(new Uint8Array(await readFile(join(snapshot, 'model.safetensors'))), weights);
  });
});

test('a download that does not match its sha256 ETag is discarded and fetched again', { timeout: 30_000 }, async (t) => {
  const dir = fixture(t, 'models', 'bloom-tiny-4h');
  if (!dir) return;
  const files = await readDir(dir);
  await withHub([modelRepo('tiny/bloom', files)], async (hub, cache) => {
    hub.faults.push({ match: 'cdn GET', corrupt: true });
    const snapshot = await resolveModelDir('tiny/bloom', hubOptions(hub, cache));
    assert.equal(hub.requests('cdn GET').length, 2);
    assert.deepEqual(new Uint8Array(await readFile(join(snapshot, 'model.safetensors'))), files['model.safetensors']);

    hub.faults.push({ match: 'cdn GET', corrupt: true, times: 2 });
    const other = { ...hubOptions(hub, join(cache, 'other')) };
    await assert.rejects(resolveModelDir('tiny/bloom', other), hubError(/do not match the hub's ETag/));
  });
});

test('a blob damaged in the cache is detected and fetched again', { timeout: 30_000 }, async (t) => {
  const dir = fixture(t, 'models', 'bloom-tiny-4h');
  if (!dir) return;
  const files = await readDir(dir);
  await withHub([modelRepo('tiny/bloom', files)], async (hub, cache) => {
    const opts = hubOptions(hub, cache);
    const snapshot = await resolveModelDir('tiny/bloom', opts);
    for (const file of ['model.safetensors', 'config.json']) {
      const damaged = Buffer.from(files[file]);
      damaged[damaged.length >> 1] ^= 1;
      await writeFile(join(snapshot, file), damaged); // through the symlink, into the blob
    }
    hub.log.length = 0;
    await resolveModelDir('tiny/bloom', opts);
    assert.equal(hub.requests('cdn GET').length, 1);
    assert.equal(hub.requests('GET /tiny/bloom/resolve').filter((r) => r.path.endsWith('config.json')).length, 1);
    for (const file of ['model.safetensors', 'config.json']) {
      assert.deepEqual(new Uint8Array(await readFile(join(snapshot, file))), files[file], file);
    }
  });
});

test('transient failures (503, 502) are retried with backoff, then reported with the last status', { timeout: 30_000 }, async (t) => {
  const dir = fixture(t, 'models', 'bloom-tiny-4h');
  if (!dir) return;
  await withHub([modelRepo('tiny/bloom', await readDir(dir))], async (hub, cache) => {
    hub.faults.push({ match: 'hub GET /api/', status: 503, times: 2 }, { match: 'HEAD /tiny/bloom/resolve', status: 502 });
    await resolveModelDir('tiny/bloom', hubOptions(hub, cache));
    assert.equal(hub.requests('GET /api/').length, 3);

    hub.faults.push({ match: 'hub GET /api/', status: 503, times: 3 });
    const other = hubOptions(hub, join(cache, 'other'));
    await assert.rejects(resolveModelDir('tiny/bloom', other), hubError(/HTTP 503 \(gave up after 3 tries\)/, 503));
  });
});

test('errors name the repo and what is needed: token, repo, revision, weights', { timeout: 30_000 }, async (t) => {
  const dir = fixture(t, 'models', 'bloom-tiny-4h');
  if (!dir) return;
  const files = await readDir(dir);
  const { 'model.safetensors': _, ...noWeights } = files;
  const repos = [modelRepo('org/private', files, { token: 'hf_secret' }), modelRepo('org/pytorch-only', noWeights)];
  await withHub(repos, async (hub, cache) => {
    const opts = hubOptions(hub, cache);
    const needsToken = hubError(/^hf:\/\/org\/private@main: .*needs a token \(set HF_TOKEN\)/, 401);
    await assert.rejects(resolveModelDir('org/private', opts), needsToken);
    await assert.rejects(resolveModelDir('org/private', { ...opts, token: 'hf_wrong' }), hubError(/token was refused/, 401));
    await assert.rejects(resolveModelDir('org/missing', opts), hubError(/org\/missing@main: repo not found/, 404));
    const v9 = { ...opts, token: 'hf_secret', revision: 'v9' };
    await assert.rejects(resolveModelDir('org/private', v9), hubError(/revision "v9" not found/, 404));
    const noWeightsError = hubError(/the repo has no model.safetensors or model.safetensors.index.json/);
    await assert.rejects(resolveModelDir('org/pytorch-only', opts), noWeightsError);
    await assert.rejects(resolveModelDir('../not a repo', opts), /no such directory, and not a hub repo id/);

    hub.log.length = 0;
    await resolveModelDir('org/private', { ...opts, token: 'hf_secret' });
    assert.ok(hub.requests('hub ').every((r) => r.authorization === 'Bearer hf_secret'));
    assert.ok(hub.requests('cdn ').length > 0 && hub.requests('cdn ').every((r) => r.authorization === undefined), 'no token to the CDN');
  });
});

test('HF_ENDPOINT, HF_HUB_CACHE and HF_TOKEN are read from the environment, as in Python', { timeout: 30_000 }, async (t) => {
  const dir = fixture(t, 'models', 'bloom-tiny-4h');
  if (!dir) return;
  await withHub([modelRepo('org/private', await readDir(dir), { token: 'hf_env' })], async (hub, cache) => {
    Object.assign(process.env, { HF_ENDPOINT: `${hub.url}/`, HF_HUB_CACHE: cache, HF_TOKEN: 'hf_env' });
    try {
      const tokenizer = await tokenizerFromPretrained('org/private', { retries: 0 });
      assert.ok(tokenizer);
      assert.deepEqual((await readdir(join(cache, 'models--org--private', 'snapshots', commitOf('org/private')))).sort(), [
        'special_tokens_map.json',
        'tokenizer.json',
        'tokenizer_config.json',
      ]);
    } finally {
      for (const name of ['HF_ENDPOINT', 'HF_HUB_CACHE', 'HF_TOKEN']) delete process.env[name];
    }
  });
});
