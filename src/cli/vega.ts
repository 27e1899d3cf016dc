/**
 * Charts as SVG through Vega-Lite, compiled to Vega and rendered headless in Node (no canvas, no browser): the
 * inspect heatmap, confusion matrices, learning curves. Specs are plain Vega-Lite JSON.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export async function vegaLiteSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** A heatmap of rows x columns, each cell coloured by `value` and labelled with `text`. */
export function heatmapSpec(cells: Array<{ row: string; column: string; value: number; text: string }>, opts: { title: string; rowTitle: string; columnTitle: string; valueTitle: string }): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: opts.title,
    data: { values: cells },
    encoding: {
      y: { field: 'row', type: 'ordinal', title: opts.rowTitle, sort: null },
      x: { field: 'column', type: 'ordinal', title: opts.columnTitle, sort: null },
    },
    layer: [
      { mark: 'rect', encoding: { color: { field: 'value', type: 'quantitative', title: opts.valueTitle, scale: { scheme: 'blues' } } } },
      { mark: { type: 'text', fontSize: 10 }, encoding: { text: { field: 'text' }, color: { condition: { test: 'datum.value > 0.6 * 1', value: 'white' }, value: 'black' } } },
    ],
    config: { view: { step: 56 }, axis: { labelFontSize: 11 } },
  } as TopLevelSpec;
}
