// The hub cache and requests under hostile conditions: refs/main must hold a commit hash (it names a directory), a
// request that can never succeed (a port fetch refuses) is not retried, and "(damaged; removed)" only when it was.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HubError, OptionError } from '../src/errors.js';
import { resolveModelDir } from '../src/hub/model-files.js';
import { repoFolder } from '../src/hub/cache.js';
import { hubSettings } from '../src/hub/settings.js';
import { tempDir } from './cli-helpers.js';
import { fixture } from './fixtures.js';
import { hubOptions, modelRepo, readDir, withHub } from './hub/repos.js';

test('a refs/main that is not a commit hash (pointing outside the cache) is refused, naming it', { timeout: 30_000 }, async () => {
  const cache = tempDir();
  const folder = repoFolder(cache, { id: 'org/model', type: 'model' });
  mkdirSync(join(folder, 'refs'), { recursive: true });
  for (const bad of ['../../../../etc', 'main\n', 'x'.repeat(200)]) {
    writeFileSync(join(folder, 'refs', 'main'), bad);
    await assert.rejects(
      resolveModelDir('org/model', { cache_dir: cache, offline: true }),
      (e) => e instanceof HubError && /refs\/main: holds .*; expected a 40-hex-digit commit hash/.test(e.message),
    );
  }
});

test('a bad port is not retried: one attempt, one clear error', { timeout: 30_000 }, async () => {
  const started = Date.now();
  await assert.rejects(
    resolveModelDir('org/model', { endpoint: 'http://127.0.0.1:6000', cache_dir: tempDir(), retries: 4, retry_delay_ms: 2000 }),
    (e) => e instanceof HubError && /bad port/.test(e.message) && !/gave up after/.test(e.message),
  );
  assert.ok(Date.now() - started < 1500, `${Date.now() - started} ms: retried`);
});

test('HF_ENDPOINT that is not an http(s) URL is an option error', () => {
  assert.throws(() => hubSettings({ endpoint: 'not a url' }), (e) => e instanceof OptionError && /endpoint: is "not a url"; expected an http\(s\) URL/.test(e.message));
});

test('offline, a snapshot entry that does not link into blobs/ is not reported as "(damaged; removed)"', { timeout: 30_000 }, async (t) => {
  const dir = fixture(t, 'models', 'bloom-tiny-4h');
  if (!dir) return;
  await withHub([modelRepo('tiny/bloom', await readDir(dir))], async (hub, cache) => {
    const snapshot = await resolveModelDir('tiny/bloom', hubOptions(hub, cache));
    // The link leads to a file, but not to a blob softprompt could have checked or removed.
    const elsewhere = join(tempDir(), 'config-copy.json');
    writeFileSync(elsewhere, '{}');
    rmSync(join(snapshot, 'config.json'));
    symlinkSync(elsewhere, join(snapshot, 'config.json'));
    await assert.rejects(resolveModelDir('tiny/bloom', hubOptions(hub, cache, { offline: true })), (e) => {
      assert.ok(e instanceof HubError && /config\.json/.test(e.message), String(e));
      assert.doesNotMatch(e.message, /damaged; removed/);
      return true;
    });
    assert.equal(readFileSync(elsewhere, 'utf8'), '{}');
  });
});
