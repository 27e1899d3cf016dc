/**
 * One method of `softprompt compare` in a process of its own, so its peak memory (the process's maxRSS, the
 * onnxruntime worker included) is its own and not the high-water mark of whatever ran before it.
 * Receives a MethodRequest over IPC, answers with a MethodReply, and exits.
 */
import { trainValidationSplit } from '../data/select.js';
import { taskTexts } from '../data/corpora.js';
import { SoftpromptError } from '../errors.js';
import { modelFromPretrained } from '../models/pretrained.js';
import { tokenizerFromPretrained } from '../tokenizer/pretrained.js';
import { runMethod, type CompareSettings, type Method, type MethodResult } from './methods.js';

export interface MethodRequest {
  method: Method;
  model: string;
  dataset: string;
  max_examples: number;
  /** Fraction of the texts held out. */
  validation_split: number;
  settings: CompareSettings;
}

export type MethodReply =
  | { ok: true; result: MethodResult; peak_rss_bytes: number; examples: { train: number; held_out: number } }
  | { ok: false; message: string; typed: boolean };

async function run(req: MethodRequest): Promise<MethodReply> {
  const texts = taskTexts(req.dataset).slice(0, req.max_examples);
  const split = trainValidationSplit(texts, req.validation_split, 42);
  const tokenizer = await tokenizerFromPretrained(req.model);
  const model = await modelFromPretrained(req.model);
  try {
    const result = await runMethod(req.method, model, tokenizer, { train: split.train, heldOut: split.validation }, req.settings);
    const examples = { train: split.train.length, held_out: split.validation.length };
    return { ok: true, result, peak_rss_bytes: process.resourceUsage().maxRSS * 1024, examples };
  } finally {
    await model.engine.close();
  }
}

process.once('message', (req: MethodRequest) => {
  run(req)
    .catch((e: unknown): MethodReply => ({ ok: false, message: e instanceof Error ? e.message : String(e), typed: e instanceof SoftpromptError }))
    .then((reply) => process.send!(reply, () => process.exit(0)));
});
