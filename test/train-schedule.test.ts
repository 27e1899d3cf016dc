// Learning-rate schedules as transformers' get_scheduler builds them, and AdamW / clipping details torch fixes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AdamW, clipGradNorm } from '../src/train/adamw.js';
import { lrLambda, warmupSteps } from '../src/train/schedule.js';

const close = (got: number[], want: number[]) => got.every((g, i) => Math.abs(g - want[i]) < 1e-12);
const first = (f: (s: number) => number, n: number) => Array.from({ length: n }, (_, s) => f(s));

test('linear decays from the full rate at the first step to 0 after the last', () => {
  assert.ok(close(first(lrLambda('linear', 0, 3), 4), [1, 2 / 3, 1 / 3, 0]));
});

test('warmup ramps from 0 at the first step, then the schedule runs over the remaining steps', () => {
  assert.ok(close(first(lrLambda('linear', 2, 6), 7), [0, 0.5, 1, 0.75, 0.5, 0.25, 0]));
  assert.ok(close(first(lrLambda('cosine', 2, 6), 7), [0, 0.5, 1, (1 + Math.cos(Math.PI / 4)) / 2, 0.5, (1 + Math.cos((3 * Math.PI) / 4)) / 2, 0]));
  assert.ok(close(first(lrLambda('constant_with_warmup', 2, 6), 4), [0, 0.5, 1, 1]));
});

test("constant ignores warmup, as HF's does", () => {
  assert.ok(close(first(lrLambda('constant', 5, 10), 3), [1, 1, 1]));
});

test('warmup_steps wins over warmup_ratio, which rounds up', () => {
  assert.equal(warmupSteps(10, 3, 0.5), 3);
  assert.equal(warmupSteps(10, 0, 0.25), 3);
});

test('AdamW takes a first step of lr * sign(grad) (bias-corrected) and decays weights before the update', () => {
  const params = Float32Array.of(1, -1);
  new AdamW(2).step(params, Float32Array.of(0.5, -2), 0.1);
  assert.deepEqual([...params].map((x) => Number(x.toFixed(6))), [0.9, -0.9]);
  const decayed = Float32Array.of(1);
  new AdamW(1, { weight_decay: 0.5 }).step(decayed, Float32Array.of(0), 0.1);
  assert.equal(decayed[0], Math.fround(1 - 0.1 * 0.5));
});

test('clipping scales the gradient to max_norm and returns the norm from before', () => {
  const g = Float32Array.of(3, 4);
  assert.equal(clipGradNorm(g, 1), 5);
  assert.ok(Math.abs(Math.hypot(g[0], g[1]) - 1) < 1e-6);
  const small = Float32Array.of(0.3, 0.4);
  clipGradNorm(small, 1);
  assert.deepEqual(small, Float32Array.of(0.3, 0.4));
});
