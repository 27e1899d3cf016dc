/** The Markdown of a task comparison: what was run, the methods' table, and the learning curve's. */
import { bytes, grouped } from './compare.js';
import { TASK_DEFAULTS, TASK_LEARNING_RATES, TASK_MIN_STEPS } from '../train/task-defaults.js';
import type { TaskComparison, TaskRow } from './task-compare.js';

const label = (r: TaskRow) => (r.method === 'prompt engineering' ? `prompt engineering, ${r.num_fewshot}-shot` : r.method);
const seconds = (x: number) => `${x.toFixed(1)} s`;
const mib = (x: number | null) => (x === null ? '-' : `${x.toFixed(0)} MiB`);

export function taskMarkdown(c: TaskComparison): string {
  const s = c.settings;
  const lines = [
    `Model \`${c.model}\`; trained on \`${c.dataset}\` (${c.examples.train} rows), scored on \`${c.eval_dataset}\` (${c.examples.eval} rows); ` +
      `template ${JSON.stringify(c.task.template)}, completion ${JSON.stringify(c.task.completion_template)}` +
      `${c.task.choices ? `, choices ${c.task.choices.join(' / ')}` : ''}. ${s.num_virtual_tokens} virtual tokens; lr: prompt tuning ` +
      `${s.prompt_tuning_learning_rate}, P-tuning ${TASK_LEARNING_RATES.P_TUNING}, prefix tuning ${TASK_LEARNING_RATES.PREFIX_TUNING}, fine-tuning ${s.fine_tuning_learning_rate}; all ${s.max_steps && s.max_steps > 0 ? `${s.max_steps} steps` : s.num_train_epochs === undefined ? `the recipe's epochs (${TASK_DEFAULTS.num_train_epochs}, or enough for ${TASK_MIN_STEPS} steps)` : `${s.num_train_epochs} epochs`}, ` +
      `batch ${s.per_device_train_batch_size}, seed ${s.seed}. Stored per task: k-shot, the mean bytes of few-shot text in front of ` +
      'each message; prompt tuning, P-tuning and prefix tuning, the PEFT adapter files; fine-tuning, a whole F32 checkpoint.',
    '',
    '| method | accuracy | macro-F1 | trainable params | stored per task | training time | eval time | peak RSS, training | peak RSS, whole row |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...c.rows.map((r) => `| ${label(r)} | ${r.acc.toFixed(3)} ± ${r.acc_stderr.toFixed(3)} | ${r.f1.toFixed(3)} | ${grouped(r.trainable_params)} | ` +
      `${bytes(r.bytes_per_task)} | ${seconds(r.train_seconds)} | ${seconds(r.eval_seconds)} | ${mib(r.train_peak_rss_mb)} | ${mib(r.peak_rss_mb)} |`),
  ];
  const truncated = c.rows.filter((r) => r.truncated > 0);
  if (truncated.length > 0) {
    lines.push('', `Contexts cut from the left to fit the model: ${truncated.map((r) => `${label(r)} ${r.truncated} of ${c.examples.eval}`).join('; ')}.`);
  }
  const sizes = [...new Set(c.learning_curve.map((p) => p.train_examples))];
  if (sizes.length > 0) {
    const cell = (method: string, n: number) => {
      const p = c.learning_curve.find((q) => q.method === method && q.train_examples === n)!;
      return `${p.accuracy.toFixed(3)} ± ${p.acc_stderr.toFixed(3)} | ${p.f1.toFixed(3)} | ${p.train_steps} | ${seconds(p.train_seconds)}`;
    };
    lines.push(
      '',
      'Learning curve (the first n rows of a seeded, class-balanced order; scored on every eval row):',
      '',
      '| training examples | prompt tuning accuracy | macro-F1 | steps | training time | fine-tuning accuracy | macro-F1 | steps | training time |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...sizes.map((n) => `| ${n} | ${cell('prompt tuning', n)} | ${cell('fine-tuning', n)} |`),
    );
  }
  return `${lines.join('\n')}\n`;
}
