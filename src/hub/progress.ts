/**
 * Download progress, reported with transformers.js's `progress_callback` statuses so code written for it works here:
 * per file `initiate` -> (`download` -> `progress`*) -> `done` (cached files skip the middle), `progress_total` over
 * all the bytes one call downloads, and `ready` once everything is in place.
 */
export type ProgressInfo =
  | { status: 'initiate' | 'download' | 'done'; name: string; file: string }
  | { status: 'progress'; name: string; file: string; progress: number; loaded: number; total: number }
  | {
      status: 'progress_total';
      name: string;
      progress: number;
      loaded: number;
      total: number;
      files: Record<string, { loaded: number; total: number }>;
    }
  | { status: 'ready'; name: string; model: string; task: 'text-generation' | 'tokenizer' | 'dataset' };

/** transformers.js' progress_callback: called with each download's status and bytes. */
export type ProgressCallback = (info: ProgressInfo) => void;

const percent = (loaded: number, total: number): number => (total > 0 ? (100 * loaded) / total : 100);

/** Tracks the bytes of one call's downloads and emits per-file and total progress. */
export class ProgressTracker {
  private readonly files: Record<string, { loaded: number; total: number }> = {};

  constructor(
    private readonly name: string,
    private readonly callback?: ProgressCallback,
  ) {}

  event(status: 'initiate' | 'download' | 'done', file: string): void {
    this.callback?.({ status, name: this.name, file });
  }

  /** A download of `total` bytes is about to start (its total counts from now on). */
  expect(file: string, total: number): void {
    this.files[file] = { loaded: 0, total };
  }

  bytes(file: string, loaded: number): void {
    if (!this.callback) return;
    const entry = this.files[file];
    entry.loaded = loaded;
    const { name } = this;
    this.callback({ status: 'progress', name, file, progress: percent(loaded, entry.total), loaded, total: entry.total });
    let sumLoaded = 0;
    let sumTotal = 0;
    for (const f of Object.values(this.files)) {
      sumLoaded += f.loaded;
      sumTotal += f.total;
    }
    const progress = percent(sumLoaded, sumTotal);
    const files = structuredClone(this.files);
    this.callback({ status: 'progress_total', name, progress, loaded: sumLoaded, total: sumTotal, files });
  }
}
