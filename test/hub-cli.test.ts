// The CLI with a hub id: `softprompt forward --model org/name` downloads (progress on stderr), `--offline` uses the
// cache alone, and a cache miss offline is one line naming the missing files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fixture } from './fixtures.js';
import { modelRepo, readDir, withHub } from './hub/repos.js';

/** Runs the bin without blocking this process, which serves the fake hub. */
function cli(env: Record<string, string>, ...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const options = { env: { ...process.env, ...env }, encoding: 'utf8' as const, timeout: 60_000 };
    execFile(process.execPath, ['bin/softprompt.js', ...args], options, (error, stdout, stderr) =>
      resolve({ status: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test('softprompt forward --model org/name downloads once, then runs --offline without the network', { timeout: 120_000 }, async (t) => {
  const dir = fixture(t, 'models', 'bloom-tiny-4h');
  if (!dir) return;
  await withHub([modelRepo('tiny/bloom', await readDir(dir))], async (hub, cache) => {
    const batch = join(cache, 'batch.json');
    await writeFile(batch, JSON.stringify({ input_ids: [[1, 2, 3]] }));
    const env = { HF_ENDPOINT: hub.url, HF_HUB_CACHE: cache };
    const args = ['forward', '--model', 'tiny/bloom', '--batch', batch, '--out', join(cache, 'out.safetensors'), '--json'];

    const online = await cli(env, ...args);
    assert.equal(online.status, 0, online.stderr);
    assert.deepEqual(JSON.parse(online.stdout).logits, [1, 3, 1000]);
    assert.match(online.stderr, /downloading tiny\/bloom: model\.safetensors/);

    hub.log.length = 0;
    const offline = await cli(env, ...args, '--offline');
    assert.equal(offline.status, 0, offline.stderr);
    assert.equal(offline.stderr, '');
    assert.equal(hub.log.length, 0);

    const missing = await cli({ ...env, HF_HUB_CACHE: join(cache, 'empty') }, ...args, '--offline');
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /^softprompt: hf:\/\/tiny\/bloom@main: not in the cache \(offline mode\): config\.json, model\.safetensors or/);
    assert.equal(missing.stderr.trim().split('\n').length, 1);
  });
});
