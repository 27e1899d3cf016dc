/**
 * Loss curves for people in a terminal: rows of characters, one column per point bucket (the SVG is vega.ts's
 * lossCurveSpec). Hand-written: a terminal chart needs no plotting library.
 */
import type { LogEntry } from '../train/checkpoint.js';

export interface Series {
  name: string;
  /** [step, value] pairs in step order. */
  points: Array<[number, number]>;
}

function bounds(series: Series[]): { x0: number; x1: number; y0: number; y1: number } {
  const all = series.flatMap((s) => s.points);
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const pad = (y1 - y0) * 0.05 || 0.5;
  return { x0: Math.min(...xs), x1: Math.max(...xs, Math.min(...xs) + 1), y0: y0 - pad, y1: y1 + pad };
}

/** `height` rows by `width` columns; each series draws with its own mark, later series on top. */
export function terminalChart(series: Series[], width = 60, height = 12): string {
  const marks = ['*', 'o', '+', 'x'];
  const { x0, x1, y0, y1 } = bounds(series);
  const grid = Array.from({ length: height }, () => new Array<string>(width).fill(' '));
  series.forEach((s, i) => {
    for (const [x, y] of s.points) {
      const col = Math.round(((x - x0) / (x1 - x0)) * (width - 1));
      const row = height - 1 - Math.round(((y - y0) / (y1 - y0)) * (height - 1));
      grid[row][col] = marks[i % marks.length];
    }
  });
  const label = (v: number) => v.toFixed(2).padStart(7);
  const lines = grid.map((row, r) => {
    const axis = r === 0 ? label(y1) : r === height - 1 ? label(y0) : ' '.repeat(7);
    return `${axis} |${row.join('')}`;
  });
  lines.push(`${' '.repeat(8)}+${'-'.repeat(width)}`);
  lines.push(`${' '.repeat(9)}step ${x0}${' '.repeat(Math.max(1, width - 10 - String(x0).length - String(x1).length))}${x1}`);
  lines.push(`${' '.repeat(9)}${series.map((s, i) => `${marks[i % marks.length]} ${s.name}`).join('   ')}`);
  return lines.join('\n');
}

/** A run's log_history as the training loss at each logging step and the eval loss at each evaluation, if any. */
export function lossSeries(log: LogEntry[], evalName = 'eval loss'): Series[] {
  const curve = (key: string) => log.filter((e) => key in e).map((e): [number, number] => [e.step, e[key]]);
  return [{ name: 'training loss', points: curve('loss') }, { name: evalName, points: curve('eval_loss') }].filter((s) => s.points.length > 0);
}
