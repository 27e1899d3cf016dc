/**
 * `softprompt compare`: prompt engineering vs prompt tuning (and P-tuning, prefix tuning) vs fine-tuning on one model
 * and task, measured, printed as a table and written as Markdown and JSON (`--out NAME` writes NAME.md and NAME.json).
 * By held-out loss on texts; or, with --completion_template, on a classification task as `train` and `eval` see it
 * (accuracy, macro-F1), with a learning curve (--train_sizes, plotted to NAME.svg).
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import type { TopLevelSpec } from 'vega-lite';
import { withModelAndBook } from './book-options.js';
import { floatFlag, integer, integerFlag } from './number-flags.js';
import { unescapeFlag } from './escapes.js';
import { readRows } from './dataset-flags.js';
import { paddingSide } from './train.js';
import { learningCurveSpec, vegaLiteSvg } from './vega.js';
import { MissingError, OptionError } from '../errors.js';
import { compare, markdownTable } from '../compare/compare.js';
import type { CompareSettings } from '../compare/methods.js';
import { compareTask, type TaskComparison } from '../compare/task-compare.js';
import { taskMarkdown } from '../compare/task-table.js';
import { TRAINING_DEFAULTS } from '../train/args.js';
import { TASK_DEFAULTS, TASK_FINE_TUNING_LEARNING_RATE, TASK_LEARNING_RATES, TASK_MIN_STEPS } from '../train/task-defaults.js';

interface CompareFlags extends Partial<Omit<CompareSettings, 'prompt' | 'per_device_train_batch_size'>> {
  model: string;
  dataset: string;
  prompt: string;
  per_device_train_batch_size: number;
  max_examples: number;
  validation_split: number;
  eval_dataset?: string;
  template?: string;
  completion_template?: string;
  choices?: string[];
  choices_column?: string;
  label_column?: string;
  num_fewshot: number[];
  train_sizes: number[];
  max_steps?: number;
  seed: number;
  output_dir?: string;
  out?: string;
  json?: boolean;
}

/** Held-out loss on texts: the methods' defaults where task mode's recipe does not apply. */
const TEXT_DEFAULTS = { num_virtual_tokens: 8, prompt_tuning_learning_rate: 0.3, fine_tuning_learning_rate: 5e-4, num_train_epochs: 5, max_length: 128 };
const TEXT_ONLY = ['prompt', 'max_examples', 'validation_split'];
const TASK_ONLY = ['eval_dataset', 'template', 'choices', 'choices_column', 'label_column', 'num_fewshot', 'train_sizes', 'max_steps', 'seed', 'output_dir'];
const flagName = (key: string) => `--${key}`;

export async function runCompare(flags: CompareFlags, given: (key: string) => boolean): Promise<void> {
  if (!existsSync(flags.model)) throw new MissingError('no model directory here (pass --model DIR)', flags.model);
  const task = flags.completion_template !== undefined;
  for (const key of task ? TEXT_ONLY : TASK_ONLY) {
    if (given(key)) throw new OptionError(task ? 'applies to held-out loss on texts, not with --completion_template' : 'needs --completion_template (a classification task)', flagName(key));
  }
  const say = (line: string) => !flags.json && process.stderr.write(`${line}\n`);
  if (task) return runTaskCompare(flags, given, say);
  const { model, dataset, max_examples, validation_split, out, json, prompt, per_device_train_batch_size } = flags;
  const settings: CompareSettings = {
    prompt, per_device_train_batch_size, num_virtual_tokens: flags.num_virtual_tokens ?? TEXT_DEFAULTS.num_virtual_tokens,
    prompt_tuning_learning_rate: flags.prompt_tuning_learning_rate ?? TEXT_DEFAULTS.prompt_tuning_learning_rate,
    fine_tuning_learning_rate: flags.fine_tuning_learning_rate ?? TEXT_DEFAULTS.fine_tuning_learning_rate,
    num_train_epochs: flags.num_train_epochs ?? TEXT_DEFAULTS.num_train_epochs, max_length: flags.max_length ?? TEXT_DEFAULTS.max_length,
  };
  const result = await compare({ model, dataset, max_examples, validation_split, settings }, undefined, (row) =>
    say(`${row.method}: held-out loss ${row.held_out_loss.toFixed(4)} (${row.train_seconds.toFixed(1)} s training)`));
  await report(result, markdownTable(result), out, json, say);
}

async function runTaskCompare(flags: CompareFlags, given: (key: string) => boolean, say: (line: string) => void): Promise<void> {
  if (!given('dataset')) throw new OptionError('a classification task trains on the rows of --dataset FILE', '--dataset');
  if (flags.eval_dataset === undefined) throw new OptionError('a classification task is scored on the rows of --eval_dataset FILE', '--eval_dataset');
  if (flags.template === undefined) throw new OptionError('a classification task builds each prompt with --template', '--template');
  if (flags.label_column === undefined) throw new OptionError('a classification task needs the gold answer\'s column', '--label_column');
  const warn = (message: string) => process.stderr.write(`softprompt: ${message}\n`);
  const read = (source: string, dataset_split: string) => readRows(source, { on_bad_row: 'error', dataset_split }, warn).then((rows) => ({ source, rows }));
  const result = await compareTask({
    model: flags.model,
    train: await read(flags.dataset, 'train'),
    eval: await read(flags.eval_dataset, 'test'),
    task: { template: flags.template, completion_template: flags.completion_template!, choices: flags.choices, choices_column: flags.choices_column, label_column: flags.label_column },
    num_fewshot: flags.num_fewshot,
    train_sizes: flags.train_sizes,
    settings: {
      num_virtual_tokens: flags.num_virtual_tokens ?? TASK_DEFAULTS.num_virtual_tokens,
      prompt_tuning_learning_rate: flags.prompt_tuning_learning_rate ?? TASK_LEARNING_RATES.PROMPT_TUNING,
      fine_tuning_learning_rate: flags.fine_tuning_learning_rate ?? TASK_FINE_TUNING_LEARNING_RATE,
      num_train_epochs: flags.num_train_epochs,
      max_steps: flags.max_steps,
      per_device_train_batch_size: flags.per_device_train_batch_size,
      seed: flags.seed,
      max_length: flags.max_length,
    },
    padding_side: await paddingSide(flags.model),
    output_dir: flags.output_dir,
  }, (row) => {
    const which = row.method === 'prompt engineering' ? `${row.num_fewshot}-shot prompt` : row.method;
    const time = row.train_steps > 0 ? `, ${row.train_steps} steps on ${row.train_examples} rows in ${row.train_seconds.toFixed(1)} s` : '';
    say(`${which}: accuracy ${row.acc.toFixed(3)}, macro-F1 ${row.f1.toFixed(3)}${time}`);
  });
  await report(result, taskMarkdown(result), flags.out, flags.json, say);
  if (flags.out && result.learning_curve.length > 0) {
    await writeFile(`${flags.out}.svg`, await vegaLiteSvg(curveSpec(result)));
    say(`wrote ${flags.out}.svg`);
  }
}

async function report(result: object, table: string, out: string | undefined, json: boolean | undefined, say: (line: string) => void): Promise<void> {
  if (out) {
    await writeFile(`${out}.md`, table);
    await writeFile(`${out}.json`, `${JSON.stringify(result, null, 2)}\n`);
    say(`wrote ${out}.md and ${out}.json`);
  }
  process.stdout.write(json ? `${JSON.stringify(result)}\n` : `\n${table}`);
}

/** The learning curve, read against the majority class and the best prompt without training (dashed). */
export function curveSpec(c: TaskComparison): TopLevelSpec {
  const majority = c.rows.find((r) => r.method === 'majority class')!;
  const shots = c.rows.filter((r) => r.method === 'prompt engineering');
  const best = shots.reduce((a, b) => (b.acc > a.acc ? b : a), shots[0]);
  const baselines = [{ name: 'majority class', accuracy: majority.acc }, ...(best ? [{ name: `best k-shot (k = ${best.num_fewshot})`, accuracy: best.acc }] : [])];
  const title = `${basename(c.dataset)}: accuracy on ${c.examples.eval} eval rows`;
  return learningCurveSpec(c.learning_curve, title, baselines);
}

/** "0,1,2,4,8": integers >= min, as each flag's own message says. */
function integerList(flag: string, min: number) {
  const each = integer(flag, min);
  return (value: string): number[] => value.split(',').map((v) => each(v));
}

export function registerCompare(program: Command): void {
  const command = withModelAndBook(program.command('compare').description('prompt engineering vs prompt tuning, P-tuning and prefix tuning vs fine-tuning: parameters, storage, time, memory, and held-out loss or (with --completion_template) task accuracy'));
  command
    .option('--prompt <text>', 'the hand-written prompt (prompt engineering; also the TEXT init of prompt tuning)', 'CHAPTER 1. The sea and the whale. ')
    .option(...integerFlag('--num_virtual_tokens <n>', `soft prompt length (default: ${TEXT_DEFAULTS.num_virtual_tokens}; task mode ${TASK_DEFAULTS.num_virtual_tokens})`, 1))
    .option(...floatFlag('--prompt_tuning_learning_rate <lr>', `AdamW learning rate of prompt tuning (default: ${TEXT_DEFAULTS.prompt_tuning_learning_rate}; task mode ${TASK_LEARNING_RATES.PROMPT_TUNING}, train's)`))
    .option(...floatFlag('--fine_tuning_learning_rate <lr>', `AdamW learning rate of fine-tuning (default: ${TEXT_DEFAULTS.fine_tuning_learning_rate}; task mode ${TASK_FINE_TUNING_LEARNING_RATE})`))
    .option(...floatFlag('--num_train_epochs <n>', `epochs, both trained methods (default: ${TEXT_DEFAULTS.num_train_epochs}; task mode: train's, ${TASK_DEFAULTS.num_train_epochs} or enough for ${TASK_MIN_STEPS} steps)`))
    .option(...integerFlag('--per_device_train_batch_size <n>', 'batch size', 1, TRAINING_DEFAULTS.per_device_train_batch_size))
    .option(...integerFlag('--max_examples <n>', 'texts taken from the dataset', 1, 400))
    .option(...integerFlag('--max_length <n>', `tokens per example (default: ${TEXT_DEFAULTS.max_length}; task mode the model's positions less the virtual tokens, as train's)`, 1))
    .option(...floatFlag('--validation_split <x>', 'fraction of the texts held out', 0.25))
    .option('--completion_template <text>', 'task mode: the answer trained on, e.g. " {label}" (train\'s flag); --dataset is then the training rows (CSV, JSON, JSONL, hub id)', unescapeFlag)
    .option('--eval_dataset <file|org/name>', 'task mode: the rows every method is scored on')
    .option('--template <text>', 'task mode: each prompt from columns, e.g. "Message: {text}\\nAnswer:" (train\'s and eval\'s flag)', unescapeFlag)
    .option('--choices <a,b,...>', 'task mode: the answer choices (eval\'s flag)', (v: string) => v.split(','))
    .option('--choices_column <name>', 'task mode: a column holding each row\'s list of choices')
    .option('--label_column <name>', 'task mode: the gold answer, a choice or its index')
    .option('--num_fewshot <k,k,...>', 'task mode: a prompt-engineering row for each k (labelled training rows in each context)', integerList('--num_fewshot', 0), [0, 1, 2, 4, 8])
    .option('--train_sizes <n,n,...>', 'task mode: a learning curve, prompt tuning and fine-tuning on the first n rows of a seeded class-balanced order', integerList('--train_sizes', 1), [] as number[])
    .option(...integerFlag('--max_steps <n>', 'task mode: optimizer steps of every trained run, > 0 overrides --num_train_epochs (train\'s flag): the same steps at every curve size', -1))
    .option(...integerFlag('--seed <n>', 'task mode: seed for the prompt init, shuffling and the curve\'s rows', 0, TRAINING_DEFAULTS.seed))
    .option('--output_dir <dir>', 'task mode: save the adapters (DIR/prompt-tuning, DIR/p-tuning, DIR/prefix-tuning) and the fine-tuned model (DIR/fine-tuning)')
    .option('--out <name>', 'also write NAME.md and NAME.json (task mode with a curve: NAME.svg too)')
    .option('--json', 'print the result as JSON')
    .action((flags: CompareFlags) => runCompare(flags, (key) => command.getOptionValueSource(key) === 'cli'));
}
