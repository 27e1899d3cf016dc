// A few SIGKILLs of a checkpointed training run, each followed by --resume: the final adapter equals an uninterrupted
// run's byte for byte and no partial file is ever visible under its final name (`npm run fault` does 20).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { faultTest } from './fault/harness.js';
import { fixture } from './fixtures.js';

test('SIGKILL at 4 random points (one near the final save), then --resume: byte-identical adapter', { timeout: 120_000 }, async (t) => {
  if (!fixture(t, 'models', 'stories260K')) return;
  const report = await faultTest(4, 3);
  assert.equal(report.kills, 4);
});
