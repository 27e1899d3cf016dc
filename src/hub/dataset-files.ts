/**
 * The files that hold one split of a hub dataset, fetched into the cache. First choice: the hub's own parquet
 * conversion, published on the branch `refs/convert/parquet` as <config>/<split>/NNNN.parquet (`partial-<split>/`
 * for large splits), the tables the dataset viewer shows. Otherwise (no conversion, or a pinned revision, which the
 * conversion need not match): the repo's CSV, JSON, JSONL and parquet files, assigned to splits by name as the
 * `datasets` library does (a "train"/"test"/"validation" word in the path; none at all means everything is train).
 */
import { HubError, OptionError } from '../errors.js';
import { hfUrl, type Subject } from './http.js';
import { ProgressTracker } from './progress.js';
import { isRepoId, openBranchIfAny, openRevision } from './repo.js';
import { hubSettings, type HubOptions } from './settings.js';

export interface DatasetSplitOptions extends HubOptions {
  /** Default "train". */
  split?: string;
  /** The subset; default "default" (or the only one there is). */
  config?: string;
}

export interface SplitFiles {
  /** The snapshot directory; `files` are relative to it. */
  dir: string;
  files: string[];
}

const PARQUET_BRANCH = 'refs/convert/parquet';
const DATA_FILE = /\.(csv|jsonl|json|parquet)$/i;
const SPLIT_WORDS: Record<string, string[]> = {
  train: ['train', 'training'],
  validation: ['validation', 'valid', 'val', 'dev'],
  test: ['test', 'testing', 'eval', 'evaluation'],
};

export async function fetchSplitFiles(id: string, opts: DatasetSplitOptions = {}): Promise<SplitFiles> {
  if (!isRepoId(id)) throw new OptionError('expected a hub dataset id (org/name)', id);
  const s = hubSettings(opts);
  const split = opts.split ?? 'train';
  const progress = new ProgressTracker(id, opts.progress_callback);
  const subject = (revision: string): Subject => ({ id, type: 'dataset', revision });
  let converted = '';
  if (opts.revision === undefined) {
    const parquet = await openBranchIfAny(s, subject(PARQUET_BRANCH), progress);
    if (parquet) {
      const files = parquetSplit(parquet.files, split, opts.config);
      if (files.length > 0) return parquet.fetch(files).then(() => ({ dir: parquet.dir, files }));
      converted = `the parquet conversion has ${configSplits(parquet.files) || 'no tables'}; `;
    }
  }
  const revision = await openRevision(s, subject(opts.revision ?? 'main'), progress);
  const files = rawSplit(revision.files, split, opts.config);
  if (files.length === 0) {
    const what = `data files (CSV, JSON, JSONL, parquet) for split "${split}"${opts.config ? ` of config "${opts.config}"` : ''}`;
    if (revision.commit === null || s.offline) {
      throw revision.missing([opts.revision === undefined ? `the parquet conversion (${PARQUET_BRANCH}) or ${what}` : what]);
    }
    const data = revision.files.filter((f) => DATA_FILE.test(f)).join(', ') || 'none';
    throw new HubError(`no ${what}: ${converted}the repo's data files are ${data}`, hfUrl(subject(opts.revision ?? 'main')));
  }
  await revision.fetch(files);
  return { dir: revision.dir, files };
}

/** <config>/<split>/NNNN.parquet paths, split into their three parts. */
const tables = (files: string[]): string[][] =>
  files.filter((f) => f.endsWith('.parquet')).map((f) => f.split('/')).filter((parts) => parts.length === 3);

function parquetSplit(files: string[], split: string, config: string | undefined): string[] {
  const configs = [...new Set(tables(files).map(([c]) => c))];
  const chosen = config ?? (configs.length === 1 ? configs[0] : 'default');
  const wanted = (c: string, s: string): boolean => c === chosen && (s === split || s === `partial-${split}`);
  return tables(files).filter(([c, s]) => wanted(c, s)).map((parts) => parts.join('/')).sort();
}

const configSplits = (files: string[]): string => [...new Set(tables(files).map(([c, s]) => `${c}/${s}`))].join(', ');

function rawSplit(files: string[], split: string, config: string | undefined): string[] {
  const inConfig = (f: string): boolean => !config || config === 'default' || f.startsWith(`${config}/`);
  const data = files.filter((f) => DATA_FILE.test(f) && inConfig(f) && !f.split('/').some((part) => part.startsWith('.')));
  const words = (f: string): string[] => f.toLowerCase().split(/[/._\- ]+/);
  const splitOf = (f: string): string | undefined =>
    Object.keys(SPLIT_WORDS).find((name) => words(f).some((w) => SPLIT_WORDS[name].includes(w)));
  const named = data.filter((f) => splitOf(f) !== undefined || words(f).includes(split));
  if (named.length === 0) return split === 'train' ? data.sort() : [];
  return named.filter((f) => splitOf(f) === split || words(f).includes(split)).sort();
}
