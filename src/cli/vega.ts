/**
 * Charts as SVG through Vega-Lite, compiled to Vega and rendered headless in Node (no canvas, no browser): loss
 * curves, the inspect heatmap, confusion matrices, learning curves. Specs are plain Vega-Lite JSON.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { ShapeError } from '../errors.js';
import type { Series } from './chart.js';

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';
// Text sizes a chart shown at its own size (a README, a browser tab) can be read at.
const CONFIG = { font: 'sans-serif', title: { fontSize: 14 }, axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 320 } };

export async function vegaLiteSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Loss (or any value) against step, a line per series; a series of few points marks each (one alone is a point). */
export function lossCurveSpec(series: Series[], title: string, yTitle = 'loss'): TopLevelSpec {
  const values = series.flatMap((s) => s.points.map(([step, value]) => ({ series: s.name, step, value, marked: s.points.length <= 30 })));
  const names = series.map((s) => s.name);
  return {
    $schema: SCHEMA,
    title,
    width: 520,
    height: 280,
    data: { values },
    encoding: {
      // Steps are whole; the explicit formats also keep a one-point chart from labelling "2.500000".
      x: { field: 'step', type: 'quantitative', title: 'step', axis: { format: 'd', tickMinStep: 1 } },
      y: { field: 'value', type: 'quantitative', title: yTitle, scale: { zero: false }, axis: { format: '.4~r' } },
      color: { field: 'series', type: 'nominal', title: null, scale: { domain: names }, legend: { orient: 'top', direction: 'horizontal', symbolType: 'stroke', symbolStrokeWidth: 2 } },
    },
    layer: [
      { mark: { type: 'line', strokeWidth: 2 } },
      { transform: [{ filter: 'datum.marked' }], mark: { type: 'point', filled: true, size: 50, opacity: 1 } },
    ],
    config: CONFIG,
  } as TopLevelSpec;
}

/**
 * A heatmap of rows x columns, each cell coloured by `value` (over `domain`, default the data's range) and labelled
 * with `text`, white on the dark end of the scale; `panel` draws one heatmap per distinct value, side by side.
 */
export function heatmapSpec(
  cells: Array<{ row: string; column: string; value: number; text: string; panel?: string }>,
  opts: { title: string; rowTitle: string; columnTitle: string; valueTitle: string; domain?: [number, number] },
): TopLevelSpec {
  const [lo, hi] = opts.domain ?? [Math.min(...cells.map((c) => c.value)), Math.max(...cells.map((c) => c.value))];
  const heatmap = {
    encoding: {
      y: { field: 'row', type: 'ordinal', title: opts.rowTitle, sort: null },
      // Labels wider than a cell would run into each other if level: those are slanted.
      x: { field: 'column', type: 'ordinal', title: opts.columnTitle, sort: null, axis: { labelAngle: Math.max(...cells.map((c) => c.column.length)) > 8 ? -35 : 0 } },
    },
    layer: [
      { mark: 'rect', encoding: { color: { field: 'value', type: 'quantitative', title: opts.valueTitle, scale: { scheme: 'blues', domain: [lo, hi] } } } },
      { mark: { type: 'text', fontSize: 11 }, encoding: { text: { field: 'text' }, color: { condition: { test: `datum.value > ${lo + 0.55 * (hi - lo)}`, value: 'white' }, value: 'black' } } },
    ],
  };
  const panels = [...new Set(cells.flatMap((c) => (c.panel === undefined ? [] : [c.panel])))];
  // A panel's name (an adapter's path) may be wider than its panel: it is broken into lines after '/' to fit (a
  // header label that is an array of strings draws one line each).
  const width = Math.max(12, Math.floor((new Set(cells.map((c) => c.column)).size * 56) / 6.5));
  const header = { labelFontSize: 12, labelExpr: `${JSON.stringify(Object.fromEntries(panels.map((p) => [p, wrapPath(p, width)])))}[datum.value]` };
  return {
    $schema: SCHEMA,
    title: opts.title,
    data: { values: cells },
    ...(panels.length > 0 ? { facet: { column: { field: 'panel', type: 'nominal', title: null, sort: panels, header } }, spec: heatmap } : heatmap),
    config: { ...CONFIG, view: { step: 56 } },
  } as TopLevelSpec;
}

/** `text` in lines of at most `width` characters, broken after a '/' or '-' where one is near enough, else anywhere. */
function wrapPath(text: string, width: number): string[] {
  const lines: string[] = [];
  let rest = text;
  while (rest.length > width) {
    const at = Math.max(rest.lastIndexOf('/', width - 1), rest.lastIndexOf('-', width - 1));
    const cut = at >= width / 3 ? at + 1 : width;
    lines.push(rest.slice(0, cut));
    rest = rest.slice(cut);
  }
  return [...lines, rest];
}

/** Confusion matrices (gold on rows, predicted on columns, counts in the cells) of one task under several variants. */
export function confusionSpec(variants: Array<{ name: string; labels: string[]; confusion: number[][] }>, title: string): TopLevelSpec {
  const cells = variants.flatMap((v) => v.confusion.flatMap((row, g) => row.map((count, p) => ({
    panel: v.name, row: v.labels[g], column: v.labels[p], value: count, text: String(count),
  }))));
  const max = Math.max(1, ...cells.map((c) => c.value));
  return heatmapSpec(cells, { title, rowTitle: 'gold', columnTitle: 'predicted', valueTitle: 'docs', domain: [0, max] });
}

/**
 * Accuracy against training examples on a log scale (16 / 64 / 256 ...), a line per method, with dashed rules for
 * baselines that do not depend on the training set size (the majority class, the best k-shot prompt).
 */
export function learningCurveSpec(
  points: Array<{ method: string; train_examples: number; accuracy: number }>,
  title: string,
  baselines: Array<{ name: string; accuracy: number }> = [],
): TopLevelSpec {
  if (points.length === 0 || points.some((p) => !(p.train_examples >= 1))) {
    throw new ShapeError('a learning curve needs at least one point, each with train_examples >= 1 (a log scale)', title);
  }
  const sizes = [...new Set(points.map((p) => p.train_examples))].sort((a, b) => a - b);
  const x = { field: 'train_examples', type: 'quantitative', title: 'training examples', scale: { type: 'log', base: 2, domain: [sizes[0] / 1.4, sizes.at(-1)! * 1.4] }, axis: { values: sizes, format: 'd' } };
  const y = { field: 'accuracy', type: 'quantitative', title: 'accuracy', scale: { domain: [0, 1] } };
  // Baselines join the methods in the legend, with their accuracy: labels on the chart collide when two are close.
  const rules = baselines.map((b) => ({ method: `${b.name} ${b.accuracy.toFixed(2)}`, accuracy: b.accuracy }));
  const domain = [...new Set(points.map((p) => p.method)), ...rules.map((r) => r.method)];
  const color = { field: 'method', type: 'nominal', title: null, scale: { domain }, legend: { symbolType: 'stroke', symbolStrokeWidth: 2 } };
  return {
    $schema: SCHEMA,
    title,
    width: 420,
    height: 280,
    encoding: { y, color },
    layer: [
      ...(rules.length === 0 ? [] : [{ data: { values: rules }, mark: { type: 'rule', strokeDash: [6, 4], strokeWidth: 1.5 } }]),
      { data: { values: points }, mark: { type: 'line', point: { filled: true, size: 50 }, strokeWidth: 2 }, encoding: { x } },
    ],
    config: CONFIG,
  } as TopLevelSpec;
}
