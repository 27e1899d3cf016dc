/**
 * `softprompt compare`: prompt engineering vs prompt tuning vs fine-tuning on one model and task, measured, printed as
 * a table and written as Markdown and JSON (`--out NAME` writes NAME.md and NAME.json).
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { int, withModelAndBook } from './book-options.js';
import { MissingError, OptionError } from '../errors.js';
import { compare, markdownTable } from '../compare/compare.js';
import type { CompareSettings } from '../compare/methods.js';


interface CompareFlags extends CompareSettings {
  model: string;
  dataset: string;
  max_examples: number;
  validation_split: number;
  out?: string;
  json?: boolean;
}

export async function runCompare(flags: CompareFlags): Promise<void> {
  if (!existsSync(flags.model)) throw new MissingError('no model directory here (pass --model DIR)', flags.model);
  for (const key of ['num_virtual_tokens', 'per_device_train_batch_size', 'max_examples', 'max_length'] as const) {
    if (!(Number.isSafeInteger(flags[key]) && flags[key] >= 1)) throw new OptionError(`is ${flags[key]}; expected an integer >= 1`, `--${key}`);
  }
  const say = (line: string) => !flags.json && process.stderr.write(`${line}\n`);
  const { model, dataset, max_examples, validation_split, out, json, ...settings } = flags;
  const result = await compare({ model, dataset, max_examples, validation_split, settings }, undefined, (row) =>
    say(`${row.method}: held-out loss ${row.held_out_loss.toFixed(4)} (${row.train_seconds.toFixed(1)} s training)`));
  const table = markdownTable(result);
  if (out) {
    await writeFile(`${out}.md`, table);
    await writeFile(`${out}.json`, `${JSON.stringify(result, null, 2)}\n`);
    say(`wrote ${out}.md and ${out}.json`);
  }
  process.stdout.write(json ? `${JSON.stringify(result)}\n` : `\n${table}`);
}

export function registerCompare(program: Command): void {
  withModelAndBook(program.command('compare').description('prompt engineering vs prompt tuning vs fine-tuning on one task: parameters, storage, time, memory, held-out loss'))
    .option('--prompt <text>', 'the hand-written prompt (prompt engineering; also the TEXT init of prompt tuning)', 'CHAPTER 1. The sea and the whale. ')
    .option('--num_virtual_tokens <n>', 'soft prompt length', int, 8)
    .option('--prompt_tuning_learning_rate <lr>', 'AdamW learning rate of prompt tuning', Number, 0.3)
    .option('--fine_tuning_learning_rate <lr>', 'AdamW learning rate of fine-tuning', Number, 5e-4)
    .option('--num_train_epochs <n>', 'epochs (both trained methods)', Number, 5)
    .option('--per_device_train_batch_size <n>', 'batch size', int, 8)
    .option('--max_examples <n>', 'texts taken from the dataset', int, 400)
    .option('--max_length <n>', 'tokens per text', int, 128)
    .option('--validation_split <x>', 'fraction of the texts held out', Number, 0.25)
    .option('--out <name>', 'also write NAME.md and NAME.json')
    .option('--json', 'print the result as JSON')
    .action((flags: CompareFlags) => runCompare(flags));
}
