/**
 * The rows of `softprompt compare` on a classification task. Every row is scored as `softprompt eval` scores a task
 * (lm-eval's multiple choice: acc, macro-F1) on the same eval rows; the trained rows are trained as `softprompt
 * train` trains in task mode (prompt-completion pairs, the loss on the completion only):
 * - prompt engineering: the base model with k labelled training examples in each context (lm-eval's few-shot
 *   construction, drawn from the training rows as `eval --fewshot_dataset` draws them), nothing trained;
 * - prompt tuning, P-tuning, prefix tuning: train's task-mode recipe (train/task-defaults.ts) with --peft_type,
 *   scored 0-shot, the PEFT adapter stored;
 * - fine-tuning: every weight, trained on the same examples with the same loop, scored 0-shot, a checkpoint stored.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dataCollatorForLanguageModeling } from '../data/collator.js';
import { promptCompletions, softPromptSlot, tokenizePromptCompletions } from '../data/completion.js';
import type { Row } from '../data/rows.js';
import { MissingError } from '../errors.js';
import { evaluateTask } from '../eval/evaluate.js';
import type { Variant } from '../eval/loglikelihood.js';
import { TASK_DEFAULTS as LM_EVAL_DEFAULTS, taskDocs, type TaskConfig } from '../eval/task.js';
import { exists, orFileSystemError, writeFileAtomic } from '../hub/local.js';
import type { PretrainedModel } from '../models/model.js';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../peft/adapter.js';
import { promptTuningConfig } from '../peft/config.js';
import { prefixTuningConfig, promptEncoderConfig } from '../peft/methods.js';
import { PeftModel } from '../peft/peft-model.js';
import type { TextTokenizer } from '../tokenizer/tokenizer.js';
import { FullFineTuning } from '../train/finetune.js';
import { TASK_DEFAULTS, TASK_LEARNING_RATES, taskEpochs } from '../train/task-defaults.js';
import type { TrainableModel } from '../train/trainable.js';
import { Trainer } from '../train/trainer.js';
import { storedBytes } from './methods.js';

export const TASK_METHODS = ['prompt engineering', 'prompt tuning', 'P-tuning', 'prefix tuning', 'fine-tuning'] as const;
export type TaskMethod = (typeof TASK_METHODS)[number];

/** The prompt-learning rows and the PEFT method each trains. */
const PEFT_TYPES = { 'prompt tuning': 'PROMPT_TUNING', 'P-tuning': 'P_TUNING', 'prefix tuning': 'PREFIX_TUNING' } as const;

/** The task as `train` and `eval` take it (their flag names). */
export interface TaskSpec {
  /** The prompt of each row, e.g. "Message: {text}\nAnswer:"; a {soft_prompt} slot places prompt tuning's tokens. */
  template: string;
  /** The answer trained on, e.g. " {label}". */
  completion_template: string;
  choices?: string[];
  choices_column?: string;
  label_column: string;
}

export interface TaskSettings {
  num_virtual_tokens: number;
  prompt_tuning_learning_rate: number;
  fine_tuning_learning_rate: number;
  /** Default: the recipe's (taskEpochs, from each run's training set size). */
  num_train_epochs?: number;
  /** > 0 overrides num_train_epochs (train's flag): the same steps at every training set size. */
  max_steps?: number;
  per_device_train_batch_size: number;
  /** Prompt init, shuffling, and the learning curve's subsets. */
  seed: number;
  /** Tokens per training example (default: the model's positions less the virtual tokens, as train's). */
  max_length?: number;
}

export interface TaskRows {
  /** A path or hub id, for messages and the results. */
  source: string;
  rows: Row[];
}

export interface TaskMethodRequest {
  method: TaskMethod;
  /** Prompt engineering's labelled examples per context; 0 for the trained methods. */
  num_fewshot: number;
  /** What the trained methods train on; prompt engineering's few-shot pool. */
  train: TaskRows;
  eval: TaskRows;
  task: TaskSpec;
  settings: TaskSettings;
  /** The tokenizer's padding side (tokenizer_config.json), as train pads. */
  padding_side: 'left' | 'right';
  /** Where the trained adapter (prompt tuning) or model (fine-tuning) is saved, if anywhere. */
  save_dir?: string;
}

export interface TaskMethodResult {
  method: TaskMethod | 'majority class';
  num_fewshot: number;
  train_examples: number;
  /** Optimizer steps taken. */
  train_steps: number;
  trainable_params: number;
  /**
   * What a task keeps besides the shared base model: prompt engineering the mean bytes of few-shot text in front of
   * each message; prompt tuning its PEFT adapter files; fine-tuning a whole checkpoint (F32, as trained).
   */
  bytes_per_task: number;
  train_seconds: number;
  /** The process's peak RSS when training ended (loading included), before scoring; null for untrained rows. */
  train_peak_rss_mb: number | null;
  eval_seconds: number;
  acc: number;
  acc_stderr: number;
  /** Macro-F1. */
  f1: number;
  f1_stderr: number;
  /** Eval contexts cut from the left to fit the model. */
  truncated: number;
}

/** This process's peak resident memory so far, in bytes (maxRSS counts the onnxruntime worker threads too). */
export const peakRssBytes = () => process.resourceUsage().maxRSS * 1024;

/** The lm-eval task `eval` would build from the same flags (its defaults for delimiters and the few-shot seed). */
export function taskConfig(task: TaskSpec, num_fewshot: number, name: string): TaskConfig {
  return {
    ...LM_EVAL_DEFAULTS, task: name, template: softPromptSlot(task.template).template, choices: task.choices,
    choices_column: task.choices_column, label_column: task.label_column, num_fewshot, output_type: 'multiple_choice',
  };
}

export async function runTaskMethod(req: TaskMethodRequest, model: PretrainedModel, tokenizer: TextTokenizer): Promise<TaskMethodResult> {
  const config = taskConfig(req.task, req.num_fewshot, 'task');
  const docs = taskDocs(req.eval.rows, config, req.eval.source);
  const score = async (scored: PretrainedModel, variant: Variant) => {
    const start = performance.now();
    const pool = taskDocs(req.train.rows, config, req.train.source);
    const evaluation = await evaluateTask(scored, tokenizer, config, docs, { pool, samePool: false }, [variant]);
    const m = evaluation.variants[0].metrics;
    if (m.kind !== 'multiple_choice') throw new Error('a classification task scores multiple choice');
    const eval_seconds = (performance.now() - start) / 1000;
    const scores = { acc: m.acc, acc_stderr: m.acc_stderr, f1: m.f1, f1_stderr: m.f1_stderr, truncated: evaluation.truncated, eval_seconds };
    return { scores, contexts: evaluation.variants[0].samples.map((s) => s.context) };
  };
  const s = req.settings;
  const n = req.train.rows.length;

  if (req.method === 'prompt engineering') {
    const { scores, contexts } = await score(model, { name: 'base', prompt: null });
    const utf8 = (text: string) => new TextEncoder().encode(text).length;
    const fewshotBytes = contexts.reduce((sum, context, d) => sum + utf8(context) - utf8(docs[d].text), 0) / docs.length;
    return { method: req.method, num_fewshot: req.num_fewshot, train_examples: 0, train_steps: 0, trainable_params: 0, bytes_per_task: fewshotBytes, train_seconds: 0, train_peak_rss_mb: null, ...scores };
  }

  const slot = softPromptSlot(req.task.template);
  const virtual = req.method === 'fine-tuning' ? 0 : s.num_virtual_tokens;
  const pairs = promptCompletions(req.train.rows, { template: slot.template, completion_template: req.task.completion_template }, req.train.source);
  const limit = s.max_length ?? (model.config.maxPositions === null ? undefined : model.config.maxPositions - virtual);
  const examples = tokenizePromptCompletions(pairs, tokenizer, limit, req.train.source);
  const pad = tokenizer.pad_token_id ?? tokenizer.eos_token_id;
  if (pad === null) throw new MissingError('the tokenizer defines neither a pad nor an eos token to pad batches with', model.source);
  const train = (trainable: TrainableModel, learning_rate: number) => new Trainer({
    model: trainable,
    args: {
      learning_rate, num_train_epochs: s.num_train_epochs ?? taskEpochs(examples.length, s.per_device_train_batch_size), max_steps: s.max_steps, per_device_train_batch_size: s.per_device_train_batch_size, seed: s.seed,
      save_strategy: 'no',
    },
    train_dataset: examples,
    data_collator: dataCollatorForLanguageModeling({ pad_token_id: pad, padding_side: req.padding_side }),
  }).train();

  if (req.method !== 'fine-tuning') {
    const peftType = PEFT_TYPES[req.method];
    // A prefix is every layer's keys and values, in front; the other methods' virtual tokens go where the recipe says.
    const position = peftType === 'PREFIX_TUNING' ? 'start' : (slot.position ?? TASK_DEFAULTS.virtual_tokens_position);
    const peftConfig = peftType === 'PROMPT_TUNING'
      ? promptTuningConfig({ num_virtual_tokens: virtual, prompt_tuning_init: TASK_DEFAULTS.prompt_tuning_init, virtual_tokens_position: position }, model.config, model.source)
      : peftType === 'P_TUNING'
        ? promptEncoderConfig({ num_virtual_tokens: virtual, virtual_tokens_position: position }, model.config, model.source)
        : prefixTuningConfig({ num_virtual_tokens: virtual }, model.config, model.source);
    const peft = PeftModel.create(model, peftConfig, { tokenizer, seed: s.seed });
    const out = await train(peft, peftType === 'PROMPT_TUNING' ? s.prompt_tuning_learning_rate : TASK_LEARNING_RATES[peftType]);
    const train_peak_rss_mb = peakRssBytes() / 2 ** 20;
    // Scored as eval scores the saved adapter: P-tuning's encoder output is its prompt, a prefix is past keys/values.
    const output = await peft.encoderOutput();
    const variant: Variant = peftType === 'PREFIX_TUNING'
      ? { name: req.method, prompt: null, prefix: output }
      : { name: req.method, prompt: output, position };
    const { scores } = await score(model, variant);
    if (req.save_dir) await peft.savePretrained(req.save_dir);
    const files = await peft.checkpointFiles();
    return {
      method: req.method, num_fewshot: 0, train_examples: n, train_steps: out.global_step, trainable_params: peft.parameters().length,
      bytes_per_task: storedBytes({ [ADAPTER_CONFIG]: files[ADAPTER_CONFIG], [ADAPTER_WEIGHTS]: files[ADAPTER_WEIGHTS] }),
      train_seconds: out.metrics.train_runtime, train_peak_rss_mb, ...scores,
    };
  }

  const tuning = FullFineTuning.of(model);
  const out = await train(tuning, s.fine_tuning_learning_rate);
  const train_peak_rss_mb = peakRssBytes() / 2 ** 20;
  const { scores } = await score(await tuning.trainedModel(), { name: 'fine-tuning', prompt: null });
  if (req.save_dir) await saveModel(tuning, req.save_dir);
  return {
    method: req.method, num_fewshot: 0, train_examples: n, train_steps: out.global_step, trainable_params: tuning.parameters().length,
    bytes_per_task: storedBytes(tuning.checkpointFiles()), train_seconds: out.metrics.train_runtime, train_peak_rss_mb, ...scores,
  };
}

/** The fine-tuned checkpoint with the base model's tokenizer files beside it, so `--model DIR` loads it whole. */
async function saveModel(tuning: FullFineTuning, dir: string): Promise<void> {
  await tuning.savePretrained(dir);
  for (const name of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json']) {
    const from = join(tuning.model.source, name);
    if (await exists(from)) await writeFileAtomic(join(dir, name), await orFileSystemError(from, () => readFile(from)));
  }
}
