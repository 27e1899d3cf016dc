// Loss curves: the terminal chart puts the first and last points at the corners of its range; a run's log_history
// becomes a training series and an eval series, and only those that have points.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lossSeries, terminalChart, type Series } from '../src/cli/chart.js';
import type { LogEntry } from '../src/train/checkpoint.js';

const train: Series = { name: 'training loss', points: [[1, 5], [2, 4], [3, 3.5], [4, 3]] };

test('terminal chart: falling curve from top left to bottom right, labelled axes and legend', () => {
  const lines = terminalChart([train], 20, 6).split('\n');
  assert.equal(lines.length, 6 + 3);
  assert.match(lines[0], /^ +\d+\.\d\d \|\*/);
  assert.match(lines[5], /\*$/);
  assert.match(lines.at(-1)!, /\* training loss/);
});

test('lossSeries: logged losses and evaluations by step; the run summary entry is neither', () => {
  const log: LogEntry[] = [
    { loss: 5, learning_rate: 0.1, epoch: 0.5, step: 2 }, { eval_loss: 4.5, eval_perplexity: 90, epoch: 0.5, step: 2 },
    { loss: 4, learning_rate: 0.1, epoch: 1, step: 4 }, { train_loss: 4.5, train_runtime: 1, epoch: 1, step: 4 },
  ];
  assert.deepEqual(lossSeries(log, 'held-out loss'), [
    { name: 'training loss', points: [[2, 5], [4, 4]] },
    { name: 'held-out loss', points: [[2, 4.5]] },
  ]);
  assert.deepEqual(lossSeries(log.filter((e) => !('eval_loss' in e))).map((s) => s.name), ['training loss']);
});
