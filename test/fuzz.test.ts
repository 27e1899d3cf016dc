// A seeded share of the fuzzing (`npm run fuzz` runs >= 10,000 inputs per target): every parser of user files either
// parses a malformed input or raises one typed, one-line SoftpromptError, quickly; every generated request to
// `softprompt serve` gets a 2xx or an OpenAI-shaped 4xx, and the server stays up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fixture } from './fixtures.js';
import { SERVE_TARGETS } from './fuzz/serve.js';
import { fuzz, TARGETS } from './fuzz/targets.js';

for (const target of [...TARGETS, ...SERVE_TARGETS]) {
  test(`fuzz: ${target.name} (300 seeded inputs)`, async (t) => {
    if (target.fixture && !fixture(t, ...target.fixture)) return;
    await target.setUp?.();
    try {
      const { runs, failure, slowestMs } = await fuzz(target, 300, 17);
      assert.equal(failure, null);
      assert.equal(runs, 300);
      assert.ok(slowestMs < (target.timeoutMs ?? 2000), `an input took ${slowestMs} ms`);
    } finally {
      await target.tearDown?.();
    }
  });
}
