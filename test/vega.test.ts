// The charts drawn through Vega-Lite are well-formed SVG that show their data: series and axis names, each confusion
// cell's count at its gold row and predicted column, the learning curve's sizes and baselines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { confusionSpec, learningCurveSpec, lossCurveSpec, vegaLiteSvg } from '../src/cli/vega.js';
import { assertSvg, svgTexts } from './svg.js';

test('loss curve: a line per series, both named in the legend (escaped), step and loss axes', async () => {
  const svg = await vegaLiteSvg(lossCurveSpec([
    { name: 'training loss', points: [[1, 5], [2, 4], [3, 3.5], [4, 3]] },
    { name: 'held-out loss <&>', points: [[0, 5.2], [4, 3.4]] },
  ], 'tuning'));
  assertSvg(svg);
  const texts = svgTexts(svg);
  for (const word of ['tuning', 'training loss', 'held-out loss <&>', 'step', 'loss']) assert.ok(texts.includes(word), word);
  assert.equal(svg.match(/aria-roledescription="line mark"/g)?.length, 2);
  // Few points: each is marked, so a one-point series still shows.
  assert.equal(svg.match(/aria-roledescription="point"/g)?.length, 6);
});

test('confusion matrices: one panel per variant, each count in its gold row and predicted column, white on dark cells', async () => {
  const svg = await vegaLiteSvg(confusionSpec([
    { name: 'base', labels: ['spam', 'ham'], confusion: [[3, 1], [0, 2]] },
    { name: 'runs/a-very-long-adapter-directory/adapter', labels: ['spam', 'ham'], confusion: [[4, 0], [2, 0]] },
  ], 'sms: confusion matrices'));
  assertSvg(svg);
  const cells = [...svg.matchAll(/<text aria-label="predicted: (\w+); gold: (\w+); text: (\d+)"[^>]* fill="(\w+)"/g)].map((m) => m.slice(1).join(' '));
  assert.deepEqual(cells, [
    'spam spam 3 white', 'ham spam 1 black', 'spam ham 0 black', 'ham ham 2 black',
    'spam spam 4 white', 'ham spam 0 black', 'spam ham 2 black', 'ham ham 0 black',
  ]);
  const texts = svgTexts(svg);
  for (const word of ['base', 'runs/a-very-long-adapter-directory/adapter', 'gold', 'predicted', 'docs']) assert.ok(texts.some((t) => t.includes(word)), word);
});

test('learning curve: training sizes on a log axis, a line per method, baselines named with their accuracy', async () => {
  const points = [16, 64, 256].flatMap((n, i) => [
    { method: 'prompt tuning', train_examples: n, accuracy: 0.5 + 0.1 * i },
    { method: 'fine-tuning', train_examples: n, accuracy: 0.55 + 0.1 * i },
  ]);
  const svg = await vegaLiteSvg(learningCurveSpec(points, 'sst2', [{ name: 'majority', accuracy: 0.5 }, { name: 'best 4-shot', accuracy: 0.58 }]));
  assertSvg(svg);
  const texts = svgTexts(svg);
  for (const word of ['sst2', '16', '64', '256', 'training examples', 'accuracy', '0.0', '1.0', 'prompt tuning', 'fine-tuning', 'majority 0.50', 'best 4-shot 0.58']) {
    assert.ok(texts.includes(word), word);
  }
  assert.ok(!texts.includes('32'), 'ticks only at the sizes measured');
  assert.equal(svg.match(/aria-roledescription="rule mark"/g)?.length, 2);
  assert.equal(svg.match(/aria-roledescription="line mark"/g)?.length, 2);
  assert.throws(() => learningCurveSpec([], 'empty'), /empty: a learning curve needs at least one point/);
  assert.throws(() => learningCurveSpec([{ method: 'zero-shot', train_examples: 0, accuracy: 0.5 }], 'k=0'), /train_examples >= 1/);
});
