/**
 * `softprompt compare` on a classification task: the majority class, prompt engineering at each k, prompt tuning,
 * P-tuning, prefix tuning and fine-tuning (task-methods.ts, each in its own process), then a learning curve: prompt tuning and fine-tuning
 * retrained on the first n training rows of a seeded, class-balanced order for each n, scored on every eval row.
 */
import { promptCompletions, softPromptSlot } from '../data/completion.js';
import { OptionError } from '../errors.js';
import { classificationMetrics } from '../eval/metrics.js';
import { taskDocs } from '../eval/task.js';
import { Generator } from '../random.js';
import { runInChild } from './compare.js';
import type { TaskMethodReply } from './run-method.js';
import { taskConfig, type TaskMethod, type TaskMethodRequest, type TaskMethodResult, type TaskRows, type TaskSettings, type TaskSpec } from './task-methods.js';

export interface TaskCompareRequest {
  model: string;
  train: TaskRows;
  eval: TaskRows;
  task: TaskSpec;
  /** Prompt engineering's k values, a row each. */
  num_fewshot: number[];
  /** The learning curve's training set sizes (none: no curve). */
  train_sizes: number[];
  settings: TaskSettings;
  padding_side: 'left' | 'right';
  /** Saves the full-size rows' adapters (prompt-tuning/, p-tuning/, prefix-tuning/) and model (fine-tuning/) here. */
  output_dir?: string;
}

export interface TaskRow extends TaskMethodResult {
  /** The row's process; null for the majority class, which needs none. */
  peak_rss_mb: number | null;
}

export interface CurvePoint {
  method: 'prompt tuning' | 'fine-tuning';
  train_examples: number;
  accuracy: number;
  acc_stderr: number;
  f1: number;
  train_steps: number;
  train_seconds: number;
}

export interface TaskComparison {
  model: string;
  dataset: string;
  eval_dataset: string;
  task: TaskSpec;
  examples: { train: number; eval: number };
  settings: TaskSettings;
  rows: TaskRow[];
  learning_curve: CurvePoint[];
}

export async function compareTask(req: TaskCompareRequest, onRow?: (row: TaskRow) => void): Promise<TaskComparison> {
  const { trainGolds, majority } = checkTask(req);
  const rows: TaskRow[] = [majority];
  onRow?.(majority);
  const run = async (method: TaskMethod, opts: Partial<TaskMethodRequest> = {}): Promise<TaskRow> => {
    const { model, train, eval: evalRows, task, settings, padding_side } = req;
    const reply = await runInChild<Extract<TaskMethodReply, { ok: true }>>({ kind: 'task', model, train, eval: evalRows, task, settings, padding_side, method, num_fewshot: 0, ...opts });
    const row = { ...reply.result, peak_rss_mb: reply.peak_rss_bytes / 2 ** 20 };
    onRow?.(row);
    return row;
  };
  for (const k of req.num_fewshot) rows.push(await run('prompt engineering', { num_fewshot: k }));
  const saveDir = (name: string) => (req.output_dir === undefined ? {} : { save_dir: `${req.output_dir}/${name}` });
  const full = { 'prompt tuning': await run('prompt tuning', saveDir('prompt-tuning')), 'fine-tuning': await run('fine-tuning', saveDir('fine-tuning')) };
  const deeper = [await run('P-tuning', saveDir('p-tuning')), await run('prefix tuning', saveDir('prefix-tuning'))];
  rows.push(full['prompt tuning'], ...deeper, full['fine-tuning']);

  const order = balancedOrder(trainGolds, req.settings.seed);
  const learning_curve: CurvePoint[] = [];
  for (const n of [...req.train_sizes].sort((a, b) => a - b)) {
    // The whole training set is the rows above, in the file's order as train reads it.
    const subset = { source: `${req.train.source} (${n} rows)`, rows: order.slice(0, n).map((i) => req.train.rows[i]) };
    for (const method of ['prompt tuning', 'fine-tuning'] as const) {
      const row = n === trainGolds.length ? full[method] : await run(method, { train: subset });
      learning_curve.push({ method, train_examples: n, accuracy: row.acc, acc_stderr: row.acc_stderr, f1: row.f1, train_steps: row.train_steps, train_seconds: row.train_seconds });
    }
  }
  return {
    model: req.model, dataset: req.train.source, eval_dataset: req.eval.source, task: req.task,
    examples: { train: req.train.rows.length, eval: req.eval.rows.length }, settings: req.settings, rows, learning_curve,
  };
}

/**
 * What the children would fail on late, checked before any runs: every row's label and templates, the k values and
 * curve sizes against the training rows. Returns the training rows' classes and the majority-class row.
 */
function checkTask(req: TaskCompareRequest): { trainGolds: number[]; majority: TaskRow } {
  const config = taskConfig(req.task, 0, 'task');
  const evalDocs = taskDocs(req.eval.rows, config, req.eval.source);
  const trainDocs = taskDocs(req.train.rows, config, req.train.source);
  const slot = softPromptSlot(req.task.template);
  promptCompletions(req.train.rows, { template: slot.template, completion_template: req.task.completion_template }, req.train.source);
  const n = trainDocs.length;
  const tooMany = (flag: string, values: number[]) => {
    const over = values.filter((v) => v > n);
    if (over.length > 0) throw new OptionError(`${over.join(', ')} is more than the ${n} training rows of ${req.train.source}`, flag);
  };
  tooMany('--num_fewshot', req.num_fewshot);
  tooMany('--train_sizes', req.train_sizes);
  // Always answering the eval set's most frequent class, scored by eval's own metrics (ties go to the first choice).
  const classes = Math.max(...evalDocs.map((d) => d.choices.length));
  const counts = Array.from({ length: classes }, (_, k) => evalDocs.filter((d) => d.gold === k).length);
  const top = counts.indexOf(Math.max(...counts));
  const m = classificationMetrics(evalDocs.map((d) => ({ gold: d.gold, choices: d.choices, loglikelihoods: d.choices.map((_, k) => (k === top ? 0 : -1)) })));
  const majority: TaskRow = {
    method: 'majority class', num_fewshot: 0, train_examples: 0, train_steps: 0, trainable_params: 0, bytes_per_task: 0, train_seconds: 0, train_peak_rss_mb: null, eval_seconds: 0,
    acc: m.acc, acc_stderr: m.acc_stderr, f1: m.f1, f1_stderr: m.f1_stderr, truncated: 0, peak_rss_mb: null,
  };
  return { trainGolds: trainDocs.map((d) => d.gold), majority };
}

/**
 * Row indices in a seeded shuffle, dealt round-robin by class (in the choices' order), so every prefix holds the
 * classes as evenly as the data allows and each curve point's rows include the smaller point's.
 */
export function balancedOrder(golds: number[], seed: number): number[] {
  const byClass = new Map<number, number[]>();
  for (const i of Generator.seeded(seed).permutation(golds.length)) {
    if (!byClass.has(golds[i])) byClass.set(golds[i], []);
    byClass.get(golds[i])!.push(i);
  }
  const queues = [...byClass.entries()].sort((a, b) => a[0] - b[0]).map(([, rows]) => rows);
  const order: number[] = [];
  for (let round = 0; order.length < golds.length; round++) for (const q of queues) if (round < q.length) order.push(q[round]);
  return order;
}
