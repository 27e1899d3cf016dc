/**
 * `softprompt eval`: does the prompt solve the task? A dataset scored as lm-evaluation-harness scores a task (multiple
 * choice by summed log-likelihood of target_delimiter + choice, or --generate with exact_match), under the base model
 * and any number of adapters in one pass (mixed-task batches), with k-shot contexts as the prompt-engineering
 * baseline; with --apply_chat_template each context goes through the model's chat template, as lm-eval's flag does.
 * Writes lm-eval's results JSON (--output_path), per-row scores (--log_samples) and each variant's confusion matrix as
 * an SVG heatmap (--plot).
 */
import { DTYPE_HELP, parseDtypeFlag } from './dtype-option.js';
import type { WeightDtype } from '../weights/quantize.js';
import { writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import type { Command } from 'commander';
import { selectRange } from '../data/select.js';
import { OptionError, UnsupportedError } from '../errors.js';
import { evaluateTask, lmEvalResults, type TaskEvaluation } from '../eval/evaluate.js';
import type { Variant } from '../eval/loglikelihood.js';
import { TASK_DEFAULTS, taskDocs, type TaskConfig } from '../eval/task.js';
import { writeFileAtomic } from '../hub/local.js';
import { resolveModelDir } from '../hub/model-files.js';
import { withTerminalProgress } from '../hub/terminal-progress.js';
import { modelFromPretrained } from '../models/pretrained.js';
import { loadAdapter } from '../peft/adapter-files.js';
import { adapterConfigOf, checkAdapterFits } from '../peft/adapter.js';
import { softPromptSlot, SOFT_PROMPT_SLOT } from '../data/completion.js';
import { virtualTokensPosition } from '../peft/config.js';
import { tokenizerFromPretrained } from '../tokenizer/pretrained.js';
import { unescapeFlag } from './escapes.js';
import { float, integerFlag } from './number-flags.js';
import { readRows, withDatasetFlags, type DatasetFlags } from './dataset-flags.js';
import { confusionSpec, vegaLiteSvg } from './vega.js';

interface EvalFlags extends DatasetFlags {
  dtype?: WeightDtype;
  model: string;
  adapter: string[];
  dataset: string;
  template: string;
  choices?: string[];
  choices_column?: string;
  label_column: string;
  target_delimiter: string;
  fewshot_delimiter: string;
  description: string;
  num_fewshot: number;
  fewshot_dataset?: string;
  fewshot_seed: number;
  limit?: number;
  select?: string;
  task_name?: string;
  output_path?: string;
  log_samples?: boolean;
  plot?: string;
  generate?: boolean;
  max_gen_toks: number;
  max_length?: number;
  no_baseline?: boolean;
  bootstrap_iters: number;
  apply_chat_template?: boolean;
  fewshot_as_multiturn?: boolean;
  json?: boolean;
}

export async function runEval(flags: EvalFlags): Promise<void> {
  const warn = (message: string) => process.stderr.write(`softprompt: ${message}\n`);
  if (flags.log_samples && !flags.output_path) throw new OptionError('needs --output_path (the samples file goes next to it)', '--log_samples');
  if (flags.fewshot_as_multiturn === true && !flags.apply_chat_template) throw new OptionError('needs --apply_chat_template', '--fewshot_as_multiturn');
  // A training template's {soft_prompt} slot is dropped: each adapter records where its virtual tokens go.
  const slot = softPromptSlot(flags.template);
  const config: TaskConfig = {
    task: flags.task_name ?? basename(flags.dataset, extname(flags.dataset)).replace(/[^\w.-]+/g, '_'),
    template: slot.template,
    choices: flags.choices,
    choices_column: flags.choices_column,
    label_column: flags.label_column,
    target_delimiter: flags.target_delimiter,
    fewshot_delimiter: flags.fewshot_delimiter,
    num_fewshot: flags.num_fewshot,
    fewshot_seed: flags.fewshot_seed,
    description: flags.description,
    output_type: flags.generate ? 'generate_until' : 'multiple_choice',
    ...(flags.apply_chat_template ? { apply_chat_template: true, fewshot_as_multiturn: flags.fewshot_as_multiturn ?? true } : {}),
  };
  if (flags.generate && (flags.choices || flags.choices_column)) throw new OptionError('--generate scores free text; drop --choices', '--generate');
  if (flags.generate && flags.plot) throw new OptionError('draws confusion matrices, which need multiple choice; --generate scores free text', '--plot');
  let rows = await readRows(flags.dataset, flags, warn);
  if (flags.select !== undefined) rows = selectRange(rows, flags.select, flags.dataset);
  const all = taskDocs(rows, config, flags.dataset);
  const limit = flags.limit === undefined ? all.length : flags.limit < 1 ? Math.ceil(flags.limit * all.length) : Math.min(all.length, flags.limit);
  const docs = all.slice(0, limit);
  const fewshotDocs = flags.fewshot_dataset ? taskDocs(await readRows(flags.fewshot_dataset, flags, warn), config, flags.fewshot_dataset) : all;

  const modelDir = await withTerminalProgress((progress_callback) => resolveModelDir(flags.model, { progress_callback }));
  const tokenizer = await tokenizerFromPretrained(modelDir);
  const model = await modelFromPretrained(modelDir, { dtype: flags.dtype });
  let evaluation: TaskEvaluation;
  try {
    const variants: Variant[] = [];
    for (const dir of flags.adapter) {
      const adapter = await loadAdapter(dir);
      checkAdapterFits(adapter, model.config, dir);
      if (adapter.peftType === 'MULTITASK_PROMPT_TUNING') {
        throw new UnsupportedError('a MULTITASK_PROMPT_TUNING adapter needs a task id per row, which eval does not take', dir);
      }
      // P-tuning's saved prompt is its encoder's output; prefix tuning's, every layer's keys and values (always in front).
      const config = adapterConfigOf(adapter, dir);
      const position = config.peft_type === 'PREFIX_TUNING' ? 'start' : virtualTokensPosition(config);
      if (slot.position !== null && slot.position !== position) {
        throw new OptionError(`the template's ${SOFT_PROMPT_SLOT} says ${slot.position} but adapter ${dir} puts its virtual tokens at ${position}`, '--template');
      }
      variants.push(adapter.peftType === 'PREFIX_TUNING' ? { name: dir, prompt: null, prefix: adapter.prompt } : { name: dir, prompt: adapter.prompt, position });
    }
    if (variants.length === 0 || !flags.no_baseline) variants.push({ name: 'base', prompt: null });
    evaluation = await evaluateTask(model, tokenizer, config, docs, { pool: fewshotDocs, samePool: !flags.fewshot_dataset }, variants, {
      max_length: flags.max_length,
      max_gen_toks: flags.max_gen_toks,
      bootstrap_iters: flags.bootstrap_iters,
    });
  } finally {
    await model.engine.close();
  }
  if (evaluation.truncated > 0) {
    warn(`${evaluation.truncated} of ${docs.length} contexts were longer than the model reads and lost tokens from the left (as lm-eval truncates)`);
  }
  const date = Date.now() / 1000;
  const chat_template = flags.apply_chat_template ? tokenizer.chat_template?.source : null;
  const results = lmEvalResults(evaluation, { model: flags.model, dataset: flags.dataset, limit: flags.limit ?? null, date, bootstrap_iters: flags.bootstrap_iters, chat_template });
  if (flags.output_path) {
    const path = resultsPath(flags.output_path, date);
    await writeFileAtomic(path, `${JSON.stringify(results, null, 2)}\n`);
    if (flags.log_samples) await writeSamples(path, evaluation);
  }
  if (flags.plot) await writeFileAtomic(flags.plot, await vegaLiteSvg(confusionSpec(confusions(evaluation), `${evaluation.config.task}: confusion matrices (${evaluation.n_samples} docs)`)));
  process.stdout.write(flags.json ? `${JSON.stringify(results)}\n` : table(evaluation, results));
}

/** A path ending in .json is the file; anything else is a directory for results_<date>.json, as lm-eval does. */
function resultsPath(output: string, date: number): string {
  if (output.endsWith('.json')) return output;
  return join(output, `results_${new Date(date * 1000).toISOString().replace(/[:.]/g, '-')}.json`);
}

/** One JSONL file per variant next to the results: lm-eval's samples_<task>_<date>.jsonl rows. */
async function writeSamples(resultsFile: string, evaluation: TaskEvaluation): Promise<void> {
  const stem = basename(resultsFile, '.json');
  for (const [i, variant] of evaluation.variants.entries()) {
    const key = i === 0 ? evaluation.config.task : `${evaluation.config.task}@${basename(variant.name)}`;
    const file = join(dirname(resultsFile), `${stem}_samples_${key.replace(/[^\w.@-]+/g, '_')}.jsonl`);
    await writeFile(file, variant.samples.map((s) => JSON.stringify({ ...s, variant: variant.name })).join('\n') + '\n');
  }
}

function confusions(evaluation: TaskEvaluation) {
  return evaluation.variants.flatMap((v) => (v.metrics.kind === 'multiple_choice' ? [{ name: v.name, labels: v.metrics.labels, confusion: v.metrics.confusion }] : []));
}

/** lm-eval's markdown summary table, plus the majority-class share and each variant's confusion matrix. */
function table(evaluation: TaskEvaluation, results: Record<string, unknown>): string {
  const res = results.results as Record<string, Record<string, unknown>>;
  const lines = ['| Tasks | Variant | n-shot | Metric | Value | | Stderr |', '|---|---|---:|---|---:|---|---:|'];
  const f = (x: unknown) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(4) : 'N/A');
  for (const [key, entry] of Object.entries(res)) {
    for (const metric of ['acc', 'acc_norm', 'f1', 'exact_match']) {
      if (!(`${metric},none` in entry)) continue;
      lines.push(`| ${key} | ${entry.variant} | ${evaluation.config.num_fewshot} | ${metric} | ${f(entry[`${metric},none`])} | ± | ${f(entry[`${metric}_stderr,none`])} |`);
    }
  }
  const first = evaluation.variants[0].metrics;
  if (first.kind === 'multiple_choice') lines.push('', `majority class: ${f(first.majority)} (${evaluation.n_samples} docs)`);
  for (const v of evaluation.variants) {
    if (v.metrics.kind !== 'multiple_choice') continue;
    const m = v.metrics;
    lines.push('', `confusion matrix for ${v.name} (rows: gold, columns: predicted):`, `  ${['', ...m.labels].map((l) => l.padStart(10)).join(' ')}`);
    m.confusion.forEach((row, g) => lines.push(`  ${[m.labels[g], ...row.map(String)].map((c) => c.padStart(10)).join(' ')}`));
  }
  if (evaluation.truncated > 0) lines.push('', `${evaluation.truncated} contexts were cut from the left to fit the model`);
  return `${lines.join('\n')}\n`;
}

/** An optional boolean value: the bare flag is true, and "true"/"false" say so (as lm-eval's). */
function booleanFlag(flag: string) {
  return (value: string): boolean => {
    if (value !== 'true' && value !== 'false') throw new OptionError(`is ${JSON.stringify(value)}; expected true or false`, flag);
    return value === 'true';
  };
}

/** --limit: a count (>= 1) or a fraction of the docs in (0, 1), as lm-eval's. */
function limitFlag(value: string): number {
  const x = float('--limit')(value);
  if (!(x > 0) || (x > 1 && !Number.isInteger(x))) throw new OptionError(`is ${JSON.stringify(value)}; expected a count >= 1 or a fraction in (0, 1)`, '--limit');
  return x;
}

export function registerEval(program: Command): void {
  const command = program
    .command('eval')
    .description('score a task as lm-evaluation-harness does (multiple choice or --generate), for the base model and adapters in one pass')
    .requiredOption('--model <dir|org/name>', 'base model directory or hub id')
    .option('--dtype <fp32|fp16|q8|q4>', DTYPE_HELP, parseDtypeFlag, 'fp32')
    .option('--adapter <dir>', 'a prompt-tuning, P-tuning or prefix-tuning adapter to score (repeat for several; all go through the same batches)', (v: string, all: string[]) => [...all, v], [] as string[])
    .requiredOption('--dataset <file|org/name>', 'CSV, TSV, JSON, JSONL or text file, or a hub dataset id')
    .requiredOption('--template <text>', 'doc_to_text: each doc\'s context from columns, e.g. "Email: {text}\\nAnswer:" (\\n, \\t: escapes)', unescapeFlag)
    .option('--choices <a,b,...>', 'the answer choices (multiple choice)', (v: string) => v.split(','))
    .option('--choices_column <name>', 'a column holding each row\'s list of choices')
    .requiredOption('--label_column <name>', 'the gold answer: a choice or its index (the expected text with --generate)')
    .option('--target_delimiter <text>', 'between the context and the answer', unescapeFlag, TASK_DEFAULTS.target_delimiter)
    .option('--fewshot_delimiter <text>', 'between few-shot examples', unescapeFlag, TASK_DEFAULTS.fewshot_delimiter)
    .option('--description <text>', 'text before the few-shot examples', unescapeFlag, TASK_DEFAULTS.description)
    .option(...integerFlag('--num_fewshot <k>', 'labelled examples in each context (the prompt-engineering baseline)', 0, TASK_DEFAULTS.num_fewshot))
    .option('--fewshot_dataset <file|org/name>', 'draw few-shot examples from here (default: the same dataset, never the doc itself)')
    .option(...integerFlag('--fewshot_seed <n>', 'seed for drawing few-shot examples', 0, TASK_DEFAULTS.fewshot_seed))
    .option('--limit <n>', 'score only the first n docs (or a fraction of them)', limitFlag)
    .option('--select <range>', 'rows to use: "0:50" = select(range(50)), "100", "10:"')
    .option('--task_name <name>', 'the task\'s key in the results (default: the dataset file name)')
    .option('--output_path <file.json|dir>', 'write lm-eval\'s results JSON here')
    .option('--log_samples', 'also write each doc\'s scores as JSONL next to the results')
    .option('--plot <file.svg>', 'also draw each variant\'s confusion matrix (gold rows, predicted columns, counts) side by side in one SVG; multiple choice only')
    .option('--generate', 'a generation task: greedy decoding until the few-shot delimiter, exact_match against the label')
    .option(...integerFlag('--max_gen_toks <n>', 'new tokens per answer with --generate', 1, 32))
    .option(...integerFlag('--max_length <n>', 'tokens the model reads per doc, virtual tokens excluded (default: the model\'s positions less the prompt)', 2))
    .option('--no_baseline', 'with adapters, do not also score the base model')
    .option(...integerFlag('--bootstrap_iters <n>', 'bootstrap resamples for the f1 standard error', 0, 1000))
    .option('--apply_chat_template', 'render each context with the model\'s chat template, opened for the assistant (add_generation_prompt): the description as a system turn, the examples and the doc as user turns; choices follow with no --target_delimiter (lm-eval\'s)')
    .option('--fewshot_as_multiturn [true|false]', 'with --apply_chat_template: each few-shot example as a user turn and an assistant turn (default true, as lm-eval), or false: everything after the description in one user turn', booleanFlag('--fewshot_as_multiturn'))
    .option('--json', 'print the results JSON instead of the table');
  withDatasetFlags(command, 'test').action((flags: EvalFlags) => runEval(flags));
}
