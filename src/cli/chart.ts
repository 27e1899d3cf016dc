/**
 * Loss curves for people: a terminal chart (rows of characters, one column per point bucket) and a standalone SVG
 * with axes and one polyline per series. Hand-written: a line chart needs no plotting library.
 */

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

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function svgChart(series: Series[], title: string, yLabel = 'loss'): string {
  const [W, H, left, right, top, bottom] = [640, 360, 60, 20, 40, 50];
  const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];
  const { x0, x1, y0, y1 } = bounds(series);
  const px = (x: number) => left + ((x - x0) / (x1 - x0)) * (W - left - right);
  const py = (y: number) => top + (1 - (y - y0) / (y1 - y0)) * (H - top - bottom);
  const ticks = Array.from({ length: 5 }, (_, i) => y0 + ((y1 - y0) * i) / 4);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${escape(title)}</text>`,
    `<line x1="${left}" y1="${H - bottom}" x2="${W - right}" y2="${H - bottom}" stroke="black"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${H - bottom}" stroke="black"/>`,
    ...ticks.map((t) => `<text x="${left - 6}" y="${py(t) + 4}" text-anchor="end">${t.toFixed(2)}</text>`),
    ...ticks.map((t) => `<line x1="${left}" y1="${py(t)}" x2="${W - right}" y2="${py(t)}" stroke="#ddd"/>`),
    `<text x="${left}" y="${H - bottom + 18}" text-anchor="middle">${x0}</text>`,
    `<text x="${W - right}" y="${H - bottom + 18}" text-anchor="middle">${x1}</text>`,
    `<text x="${(left + W - right) / 2}" y="${H - 12}" text-anchor="middle">step</text>`,
    `<text x="16" y="${(top + H - bottom) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(top + H - bottom) / 2})">${escape(yLabel)}</text>`,
  ];
  series.forEach((s, i) => {
    const color = colors[i % colors.length];
    const pts = s.points.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    parts.push(s.points.length > 1
      ? `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts}"/>`
      : `<circle cx="${px(s.points[0][0])}" cy="${py(s.points[0][1])}" r="4" fill="${color}"/>`);
    for (const [x, y] of s.points.length <= 12 ? s.points : []) parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${color}"/>`);
    parts.push(`<text x="${W - right - 150}" y="${top + 16 * (i + 1)}" fill="${color}">${escape(s.name)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
