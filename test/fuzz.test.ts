// A seeded share of the fuzzing (`npm run fuzz` runs >= 10,000 inputs per parser): every parser of user files either
// parses a malformed input or raises one typed, one-line SoftpromptError, quickly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fuzz, TARGETS } from './fuzz/targets.js';

for (const target of TARGETS) {
  test(`fuzz: ${target.name} (300 seeded inputs)`, () => {
    const { runs, failure, slowestMs } = fuzz(target, 300, 17);
    assert.equal(failure, null);
    assert.equal(runs, 300);
    assert.ok(slowestMs < 2000, `an input took ${slowestMs} ms`);
  });
}
