/**
 * One method of `softprompt compare` in a process of its own, so its peak memory (the process's maxRSS, the
 * onnxruntime worker included) is its own and not the high-water mark of whatever ran before it.
 * Receives a ChildRequest over IPC, answers with a MethodReply or a TaskMethodReply, and exits.
 */
import { trainValidationSplit } from '../data/select.js';
import { taskTexts } from '../data/corpora.js';
import { SoftpromptError } from '../errors.js';
import type { PretrainedModel } from '../models/model.js';
import { modelFromPretrained } from '../models/pretrained.js';
import { tokenizerFromPretrained } from '../tokenizer/pretrained.js';
import type { TextTokenizer } from '../tokenizer/tokenizer.js';
import { runMethod, type CompareSettings, type Method, type MethodResult } from './methods.js';
import { peakRssBytes, runTaskMethod, type TaskMethodRequest, type TaskMethodResult } from './task-methods.js';

export interface MethodRequest {
  method: Method;
  model: string;
  dataset: string;
  max_examples: number;
  /** Fraction of the texts held out. */
  validation_split: number;
  settings: CompareSettings;
}

/** Held-out loss on texts (kind text), or a row of a classification task (kind task). */
export type ChildRequest = ({ kind: 'text' } & MethodRequest) | ({ kind: 'task'; model: string } & TaskMethodRequest);

export type Failure = { ok: false; message: string; typed: boolean };
export type MethodReply = { ok: true; result: MethodResult; peak_rss_bytes: number; examples: { train: number; held_out: number } } | Failure;
export type TaskMethodReply = { ok: true; result: TaskMethodResult; peak_rss_bytes: number } | Failure;

async function textMethod(req: MethodRequest, model: PretrainedModel, tokenizer: TextTokenizer): Promise<MethodReply> {
  const texts = taskTexts(req.dataset).slice(0, req.max_examples);
  const split = trainValidationSplit(texts, req.validation_split, 42);
  const result = await runMethod(req.method, model, tokenizer, { train: split.train, heldOut: split.validation }, req.settings);
  const examples = { train: split.train.length, held_out: split.validation.length };
  return { ok: true, result, peak_rss_bytes: peakRssBytes(), examples };
}

async function run(req: ChildRequest): Promise<MethodReply | TaskMethodReply> {
  const tokenizer = await tokenizerFromPretrained(req.model);
  const model = await modelFromPretrained(req.model);
  try {
    if (req.kind === 'text') return await textMethod(req, model, tokenizer);
    return { ok: true, result: await runTaskMethod(req, model, tokenizer), peak_rss_bytes: peakRssBytes() };
  } finally {
    await model.engine.close();
  }
}


process.once('message', (req: ChildRequest) => {
  run(req)
    .catch((e: unknown): Failure => ({ ok: false, message: e instanceof Error ? e.message : String(e), typed: e instanceof SoftpromptError }))
    .then((reply) => process.send!(reply, () => process.exit(0)));
});
