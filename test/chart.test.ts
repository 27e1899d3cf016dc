// Loss curves: the terminal chart puts the first and last points at the corners of its range; the SVG is one
// well-formed document with a polyline per series.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { svgChart, terminalChart, type Series } from '../src/cli/chart.js';

const train: Series = { name: 'training loss', points: [[1, 5], [2, 4], [3, 3.5], [4, 3]] };
const heldOut: Series = { name: 'held-out loss <&>', points: [[0, 5.2], [4, 3.4]] };

test('terminal chart: falling curve from top left to bottom right, labelled axes and legend', () => {
  const lines = terminalChart([train], 20, 6).split('\n');
  assert.equal(lines.length, 6 + 3);
  assert.match(lines[0], /^ +\d+\.\d\d \|\*/);
  assert.match(lines[5], /\*$/);
  assert.match(lines.at(-1)!, /\* training loss/);
});

test('svg chart: one polyline per multi-point series, escaped names, numeric axis labels', () => {
  const svg = svgChart([train, heldOut], 'loss');
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.equal(svg.match(/<polyline /g)?.length, 2);
  assert.match(svg, /held-out loss &lt;&amp;&gt;/);
  assert.ok(svg.trimEnd().endsWith('</svg>'));
});
