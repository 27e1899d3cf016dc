/**
 * `softprompt compare`: prompt engineering vs prompt tuning (and P-tuning, prefix tuning) vs fine-tuning on one model
 * and task, measured, printed as a table and written as Markdown and JSON (`--out NAME` writes NAME.md and NAME.json).
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { withModelAndBook } from './book-options.js';
import { floatFlag, integerFlag } from './number-flags.js';
import { MissingError } from '../errors.js';
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
  withModelAndBook(program.command('compare').description('prompt engineering vs prompt tuning, P-tuning and prefix tuning vs fine-tuning on one task: parameters, storage, time, memory, held-out loss'))
    .option('--prompt <text>', 'the hand-written prompt (prompt engineering; also the TEXT init of prompt tuning)', 'CHAPTER 1. The sea and the whale. ')
    .option(...integerFlag('--num_virtual_tokens <n>', 'soft prompt length', 1, 8))
    .option(...floatFlag('--prompt_tuning_learning_rate <lr>', 'AdamW learning rate of prompt tuning', 0.3))
    .option(...floatFlag('--fine_tuning_learning_rate <lr>', 'AdamW learning rate of fine-tuning', 5e-4))
    .option(...floatFlag('--num_train_epochs <n>', 'epochs (both trained methods)', 5))
    .option(...integerFlag('--per_device_train_batch_size <n>', 'batch size', 1, 8))
    .option(...integerFlag('--max_examples <n>', 'texts taken from the dataset', 1, 400))
    .option(...integerFlag('--max_length <n>', 'tokens per text', 1, 128))
    .option(...floatFlag('--validation_split <x>', 'fraction of the texts held out', 0.25))
    .option('--out <name>', 'also write NAME.md and NAME.json')
    .option('--json', 'print the result as JSON')
    .action((flags: CompareFlags) => runCompare(flags));
}
