/**
 * One task evaluated under several variants at once (the base model, adapters): every doc's context is built once
 * (few-shot examples included), every (doc, choice, variant) log-likelihood request goes through the same mixed-task
 * batches, and each variant gets lm-eval's metrics. `--generate` tasks decode greedily instead, until the few-shot
 * delimiter or EOS, and score exact_match of the stripped answer against the label. With a chat template
 * (task.ts renders the contexts) a choice follows the context with no target delimiter, as lm-eval's
 * construct_requests has it; and as lm-eval's tok_encode, a context that starts with the BOS token's text (a template
 * wrote it) is encoded without a second BOS.
 */
import { ShapeError } from '../errors.js';
import { generate } from '../generate/generate.js';
import type { PretrainedModel } from '../models/model.js';
import type { TextTokenizer } from '../tokenizer/tokenizer.js';
import { loglikelihoods, virtualTokens, type Loglikelihood, type TokenEncoder, type Variant } from './loglikelihood.js';
import { classificationMetrics, meanStderr, normalizedPrediction, prediction, type ClassificationMetrics } from './metrics.js';
import { fewshotContexts, type Doc, type TaskConfig } from './task.js';

export interface EvaluateOptions {
  /** Tokens the model may read, virtual tokens excluded (default: the model's positions less the prompt). */
  max_length?: number;
  /** New tokens per answer for generation tasks (default 32; lm-eval's is 256). */
  max_gen_toks?: number;
  bootstrap_iters?: number;
  on_progress?: (done: number, total: number) => void;
}

export interface Sample {
  doc_id: number;
  context: string;
  target: string;
  /** Multiple choice: [loglikelihood, is_greedy] per choice; generation: the answer. */
  resps: Array<[number, boolean]> | string;
  pred: string;
  acc?: number;
  acc_norm?: number;
  exact_match?: number;
}

export interface VariantResult {
  name: string;
  /** Multiple choice: lm-eval's metrics; generation: exact_match. */
  metrics: (ClassificationMetrics & { kind: 'multiple_choice' }) | { kind: 'generate_until'; exact_match: number; exact_match_stderr: number };
  samples: Sample[];
}

export interface TaskEvaluation {
  config: TaskConfig;
  n_samples: number;
  /** Contexts that lost tokens from the left to fit the model (counted once per context, not per variant). */
  truncated: number;
  variants: VariantResult[];
}

export async function evaluateTask(
  model: PretrainedModel,
  tokenizer: TextTokenizer,
  config: TaskConfig,
  docs: Doc[],
  fewshot: { pool: Doc[]; samePool: boolean },
  variants: Variant[],
  opts: EvaluateOptions = {},
): Promise<TaskEvaluation> {
  if (docs.length === 0) throw new ShapeError('no docs to evaluate', 'dataset');
  const chat = config.apply_chat_template ? tokenizer.requireChatTemplate('--apply_chat_template') : undefined;
  const contexts = fewshotContexts(docs, fewshot.pool, fewshot.samePool, config, chat);
  const encoder = lmEvalEncoder(tokenizer);
  if (config.output_type === 'generate_until') return evaluateGeneration(model, tokenizer, encoder, config, docs, contexts, variants, opts);
  const delimiter = chat ? '' : config.target_delimiter;
  const requests = variants.flatMap((_, variant) =>
    docs.flatMap((doc, d) => doc.choices.map((choice) => ({ context: contexts[d], continuation: delimiter + choice, variant }))),
  );
  const lls = await loglikelihoods(model, encoder, requests, variants, { max_length: opts.max_length, on_progress: opts.on_progress });
  let at = 0;
  const perVariant = variants.map(() => docs.map((doc) => {
    const scores = lls.slice(at, at + doc.choices.length);
    at += doc.choices.length;
    return scores;
  }));
  const truncated = docs.filter((_, d) => perVariant.some((v) => v[d].some((s) => s.truncated))).length;
  return {
    config,
    n_samples: docs.length,
    truncated,
    variants: variants.map((variant, v) => {
      const scored = docs.map((doc, d) => ({ gold: doc.gold, choices: doc.choices, loglikelihoods: perVariant[v][d].map((s) => s.logprob) }));
      const metrics = classificationMetrics(scored, opts.bootstrap_iters);
      return { name: variant.name, metrics: { kind: 'multiple_choice' as const, ...metrics }, samples: docs.map((doc, d) => choiceSample(doc, contexts[d], perVariant[v][d], scored[d])) };
    }),
  };
}

function choiceSample(doc: Doc, context: string, scores: Loglikelihood[], scored: Parameters<typeof prediction>[0]): Sample {
  const pred = prediction(scored);
  return {
    doc_id: doc.index,
    context,
    target: doc.target,
    resps: scores.map((s) => [s.logprob, s.is_greedy]),
    pred: doc.choices[pred],
    acc: pred === doc.gold ? 1 : 0,
    acc_norm: normalizedPrediction(scored) === doc.gold ? 1 : 0,
  };
}

/** lm-eval's tok_encode: default special tokens, unless the text already starts with the BOS token's text. */
function lmEvalEncoder(tokenizer: TextTokenizer): TokenEncoder {
  const bos = tokenizer.bos_token_id === null ? '' : tokenizer.decode([tokenizer.bos_token_id]);
  return {
    encode: (text) => tokenizer.encode(text, { add_special_tokens: bos === '' || !text.startsWith(bos) }),
    eos_token_id: tokenizer.eos_token_id,
  };
}

async function evaluateGeneration(
  model: PretrainedModel, tokenizer: TextTokenizer, encoder: TokenEncoder, config: TaskConfig, docs: Doc[], contexts: string[], variants: Variant[],
  opts: EvaluateOptions,
): Promise<TaskEvaluation> {
  const maxNew = opts.max_gen_toks ?? 32;
  let truncated = 0;
  const encoded = variants.map((variant) => contexts.map((context) => {
    const n = virtualTokens(model, variant);
    const max = (opts.max_length ?? (model.config.maxPositions ?? 2048) - n) - maxNew;
    if (max < 1) throw new ShapeError(`max_gen_toks ${maxNew} leaves no room for the context in ${max + maxNew} positions`, 'max_gen_toks');
    const ids = encoder.encode(context);
    return { ids: ids.slice(-max), truncated: ids.length > max };
  }));
  truncated = contexts.filter((_, d) => encoded.some((v) => v[d].truncated)).length;
  const stop = config.fewshot_delimiter;
  const total = variants.length * docs.length;
  const answers: string[][] = variants.map(() => []);
  const batch = 8;
  let done = 0;
  for (let v = 0; v < variants.length; v++) {
    for (let start = 0; start < docs.length; start += batch) {
      const rows = encoded[v].slice(start, start + batch).map((e) => e.ids);
      const width = Math.max(...rows.map((r) => r.length));
      const out = await generate(model, tokenizer, {
        input_ids: rows,
        prompts: rows.map(() => (variants[v].prefix ? { prefix: variants[v].prefix! } : variants[v].prompt)),
        prompt_position: variants[v].position,
        max_new_tokens: maxNew,
        do_sample: false,
        stop_strings: stop ? [stop] : [],
        pad_token_id: tokenizer.pad_token_id ?? tokenizer.eos_token_id ?? 0,
      });
      for (const seq of out.sequences) {
        const text = tokenizer.decode(seq.slice(width), { skip_special_tokens: true });
        answers[v].push(stop && text.includes(stop) ? text.slice(0, text.indexOf(stop)) : text);
      }
      done += rows.length;
      opts.on_progress?.(done, total);
    }
  }
  return {
    config,
    n_samples: docs.length,
    truncated,
    variants: variants.map((variant, v) => {
      const hits = docs.map((doc, d): number => (answers[v][d].trim() === doc.target.trim() ? 1 : 0));
      const samples = docs.map((doc, d): Sample => ({ doc_id: doc.index, context: contexts[d], target: doc.target, resps: answers[v][d], pred: answers[v][d].trim(), exact_match: hits[d] }));
      const exact_match = hits.reduce((a, b) => a + b, 0) / hits.length;
      return { name: variant.name, metrics: { kind: 'generate_until' as const, exact_match, exact_match_stderr: meanStderr(hits) }, samples };
    }),
  };
}

export interface ResultMeta {
  model: string;
  /** The dataset path or hub id. */
  dataset: string;
  limit: number | null;
  /** Unix seconds. */
  date: number;
  bootstrap_iters: number;
  /** The chat template the contexts were rendered with (lm-eval's results record it). */
  chat_template?: string | null;
}

/**
 * lm-eval's results JSON: results / configs / versions / n-shot / higher_is_better / n-samples per task key, the run's
 * config and date. The first variant's numbers sit under the task's name; every other variant under "task@variant".
 */
export function lmEvalResults(evaluation: TaskEvaluation, meta: ResultMeta): Record<string, unknown> {
  const c = evaluation.config;
  const keys = evaluation.variants.map((v, i) => (i === 0 ? c.task : `${c.task}@${v.name}`));
  const results: Record<string, Record<string, unknown>> = {};
  const configs: Record<string, unknown> = {};
  const perKey = <T>(value: (i: number) => T) => Object.fromEntries(keys.map((k, i) => [k, value(i)]));
  evaluation.variants.forEach((variant, i) => {
    const m = variant.metrics;
    const entry: Record<string, unknown> = { alias: keys[i], variant: variant.name };
    if (m.kind === 'multiple_choice') {
      Object.assign(entry, {
        'acc,none': m.acc, 'acc_stderr,none': m.acc_stderr, 'acc_norm,none': m.acc_norm, 'acc_norm_stderr,none': m.acc_norm_stderr,
        'f1,none': m.f1, 'f1_stderr,none': m.f1_stderr, 'majority,none': m.majority,
        per_class: m.per_class, confusion_matrix: { labels: m.labels, rows_gold_columns_predicted: m.confusion },
      });
    } else {
      Object.assign(entry, { 'exact_match,none': m.exact_match, 'exact_match_stderr,none': m.exact_match_stderr });
    }
    results[keys[i]] = entry;
    configs[keys[i]] = {
      task: keys[i],
      dataset_path: meta.dataset,
      test_split: 'train',
      doc_to_text: c.template,
      doc_to_target: c.label_column,
      doc_to_choice: c.choices ?? (c.choices_column === undefined ? null : `{{${c.choices_column}}}`),
      description: c.description,
      target_delimiter: c.target_delimiter,
      fewshot_delimiter: c.fewshot_delimiter,
      num_fewshot: c.num_fewshot,
      fewshot_config: { sampler: 'default', seed: c.fewshot_seed },
      metric_list: m.kind === 'multiple_choice'
        ? ['acc', 'acc_norm', 'f1'].map((metric) => ({ metric, aggregation: metric === 'f1' ? 'macro_f1' : 'mean', higher_is_better: true }))
        : [{ metric: 'exact_match', aggregation: 'mean', higher_is_better: true, filter: 'strip' }],
      output_type: c.output_type,
      ...(c.output_type === 'generate_until' ? { generation_kwargs: { until: [c.fewshot_delimiter], do_sample: false } } : {}),
      repeats: 1,
      adapter: variant.name,
      metadata: { version: 1.0 },
    };
  });
  const metricNames = evaluation.variants[0].metrics.kind === 'multiple_choice' ? ['acc', 'acc_norm', 'f1'] : ['exact_match'];
  return {
    results,
    group_subtasks: perKey(() => []),
    configs,
    versions: perKey(() => 1.0),
    'n-shot': perKey(() => c.num_fewshot),
    higher_is_better: perKey(() => Object.fromEntries(metricNames.map((m) => [m, true]))),
    'n-samples': perKey(() => ({ original: evaluation.n_samples, effective: evaluation.n_samples })),
    config: {
      model: 'softprompt',
      model_args: `pretrained=${meta.model},adapters=${evaluation.variants.map((v) => v.name).join('|')}`,
      batch_size: 'auto',
      device: 'cpu',
      limit: meta.limit,
      bootstrap_iters: meta.bootstrap_iters,
      fewshot_seed: c.fewshot_seed,
    },
    truncated_contexts: evaluation.truncated,
    chat_template: meta.chat_template ?? null,
    fewshot_as_multiturn: c.apply_chat_template ? (c.fewshot_as_multiturn ?? true) : false,
    date: meta.date,
  };
}
