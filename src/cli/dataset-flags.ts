/**
 * How `train` and `eval` (and `compare` on a task) read a dataset: a local CSV/TSV/JSON/JSONL/text file by its
 * format, or a hub dataset id by its config and split; the flags that say so, and the reader.
 */
import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { DATASET_FORMATS, parseRows, type DatasetFormat } from '../data/formats.js';
import { loadHubDataset } from '../data/hub-source.js';
import type { Row } from '../data/rows.js';
import { MissingError } from '../errors.js';
import { MAX_TEXT_BYTES, readFileCapped } from '../hub/local.js';
import { withTerminalProgress } from '../hub/terminal-progress.js';
import { choice } from './number-flags.js';

export interface DatasetFlags {
  format?: DatasetFormat;
  delimiter?: string;
  column_names?: string[];
  on_bad_row: 'error' | 'skip';
  dataset_config_name?: string;
  dataset_split: string;
}

const HUB_ID = /^[\w.-]+\/[\w.-]+$/;

/** The DatasetFlags options; a hub dataset's split defaults to `split`. */
export function withDatasetFlags(command: Command, split: string): Command {
  return command
    .option('--format <format>', `dataset format (default: from the extension): ${DATASET_FORMATS.join(', ')}`, choice('--format', DATASET_FORMATS))
    .option('--delimiter <char>', 'field delimiter for csv (default ",") or tsv (default tab)')
    .option('--column_names <a,b,...>', 'the file has no header row; name its columns', (v: string) => v.split(','))
    .option('--on_bad_row <error|skip>', 'a malformed row stops the run or is skipped with a warning', choice('--on_bad_row', ['error', 'skip'] as const), 'error')
    .option('--dataset_config_name <name>', 'hub dataset subset')
    .option('--dataset_split <name>', 'hub dataset split', split);
}

export async function readRows(source: string, flags: DatasetFlags, warn: (message: string) => void): Promise<Row[]> {
  const isFile = await stat(source).then((s) => s.isFile(), () => false);
  if (isFile) {
    return parseRows(new TextDecoder().decode(await readFileCapped(source, MAX_TEXT_BYTES)), source, {
      format: flags.format,
      delimiter: flags.delimiter,
      column_names: flags.column_names,
      on_bad_row: flags.on_bad_row,
      on_skip: (bad) => warn(`${source}:${bad.line}: ${bad.message} (skipped)`),
    });
  }
  if (!HUB_ID.test(source)) throw new MissingError('no such file (and not a hub dataset id like org/name)', source);
  const opts = { split: flags.dataset_split, config: flags.dataset_config_name };
  return withTerminalProgress((progress_callback) => loadHubDataset(source, { ...opts, progress_callback }));
}
