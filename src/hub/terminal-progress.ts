/**
 * Download progress on the terminal for the CLI: a bar for the total and one per file being downloaded (files found
 * in the cache draw nothing), on stderr so stdout stays clean for results. Without a terminal: one line per download.
 */
import cliProgress from 'cli-progress';
import type { ProgressCallback, ProgressInfo } from './progress.js';

const megabytes = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MB`;

/** Runs `load` with a progress_callback that draws bars, and takes the bars down however `load` ends. */
export async function withTerminalProgress<T>(
  load: (progress_callback: ProgressCallback) => Promise<T>,
  stream: NodeJS.WriteStream = process.stderr,
): Promise<T> {
  let bars: cliProgress.MultiBar | null = null;
  let total: cliProgress.SingleBar | null = null;
  const files = new Map<string, cliProgress.SingleBar>();
  const show = (bar: cliProgress.SingleBar, loaded: number, size: number): void => {
    bar.setTotal(size);
    bar.update(loaded, { loaded: megabytes(loaded), size: megabytes(size) });
  };
  const callback = (info: ProgressInfo): void => {
    if (!stream.isTTY) {
      if (info.status === 'download') stream.write(`downloading ${info.name}: ${info.file}\n`);
      return;
    }
    if (info.status !== 'progress' && info.status !== 'progress_total') return;
    if (!bars) {
      const format = '{file} [{bar}] {percentage}% | {loaded} / {size}';
      const options = { stream, format, hideCursor: true, autopadding: true };
      bars = new cliProgress.MultiBar(options, cliProgress.Presets.shades_classic);
      total = bars.create(0, 0, { file: 'total'.padEnd(24) });
    }
    if (info.status === 'progress_total') return show(total!, info.loaded, info.total);
    let bar = files.get(info.file);
    if (!bar) files.set(info.file, (bar = bars.create(info.total, 0, { file: info.file.padEnd(24) })));
    show(bar, info.loaded, info.total);
  };
  try {
    return await load(callback);
  } finally {
    (bars as cliProgress.MultiBar | null)?.stop();
  }
}
