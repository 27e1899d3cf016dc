/**
 * `softprompt compare`: the seed article's table "prompt engineering vs prompt tuning vs fine-tuning", measured.
 * Each method runs in a fresh process (see run-method.ts) on the same model, texts and split; the table has trainable
 * parameters, bytes stored per task, training time, peak memory and held-out loss.
 */
import { fork } from 'node:child_process';
import { SoftpromptError } from '../errors.js';
import { METHODS, type Method, type MethodResult } from './methods.js';
import type { ChildRequest, Failure, MethodReply, MethodRequest } from './run-method.js';

export interface CompareRow extends MethodResult {
  peak_rss_mb: number;
}

export interface Comparison {
  model: string;
  dataset: string;
  examples: { train: number; held_out: number };
  settings: MethodRequest['settings'];
  rows: CompareRow[];
}

/** Runs one request in a fresh process (run-method.ts) and resolves with its answer; a typed error stays typed. */
export function runInChild<Reply extends { ok: true }>(req: ChildRequest): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const child = fork(new URL('./run-method.js', import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let replied = false;
    child.once('message', (reply: Reply | Failure) => {
      replied = true;
      if (reply.ok) resolve(reply);
      else reject(reply.typed ? new SoftpromptError(reply.message) : new Error(reply.message));
    });
    child.once('exit', (code) => {
      if (!replied) reject(new Error(`the ${req.method} run exited with code ${code} before answering`));
    });
    child.send(req);
  });
}

export async function compare(req: Omit<MethodRequest, 'method'>, methods: readonly Method[] = METHODS, onRow?: (row: CompareRow) => void): Promise<Comparison> {
  const rows: CompareRow[] = [];
  let examples = { train: 0, held_out: 0 };
  for (const method of methods) {
    const reply = await runInChild<Extract<MethodReply, { ok: true }>>({ kind: 'text', ...req, method });
    const row = { ...reply.result, peak_rss_mb: reply.peak_rss_bytes / 2 ** 20 };
    examples = reply.examples;
    rows.push(row);
    onRow?.(row);
  }
  return { model: req.model, dataset: req.dataset, examples, settings: req.settings, rows };
}

export const grouped = (x: number) => Math.round(x).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');

export function bytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 2 ** 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 2 ** 20).toFixed(1)} MiB`;
}

export function markdownTable(c: Comparison): string {
  const lines = [
    `Model \`${c.model}\`, dataset \`${c.dataset}\`: ${c.examples.train} training texts, ${c.examples.held_out} held out; ` +
      `${c.settings.num_train_epochs} epochs, batch ${c.settings.per_device_train_batch_size}; hand-written prompt ${JSON.stringify(c.settings.prompt)}.`,
    '',
    '| method | trainable params | stored per task | training time | peak memory (RSS) | held-out loss | perplexity |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...c.rows.map((r) =>
      `| ${r.method} | ${grouped(r.trainable_params)} | ${bytes(r.bytes_per_task)} | ${r.train_seconds.toFixed(1)} s | ${r.peak_rss_mb.toFixed(0)} MiB | ${r.held_out_loss.toFixed(4)} | ${Math.exp(r.held_out_loss).toFixed(2)} |`),
  ];
  return `${lines.join('\n')}\n`;
}
