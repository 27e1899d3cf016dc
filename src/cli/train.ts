/**
 * `softprompt train`: prompt tuning (or, with --peft_type, P-tuning, prefix or multitask prompt tuning) as the PEFT +
 * transformers Trainer recipe does it. Flags carry the names of TrainingArguments and the PEFT config with their
 * defaults; the dataset is a local CSV/TSV/JSON/JSONL/text file or a hub dataset id, as whole texts, in the task
 * format (prompt-completion pairs, the loss on the completion) or as TRL's conversations, rendered with the model's
 * chat template (the loss on the assistant turns or the completion). Checkpoints go to
 * <output_dir>/checkpoint-<step>/, the final adapter (PEFT format) and loss_curve.svg (the logged training and eval
 * losses) to output_dir. Ctrl-C finishes the current micro-batch, checkpoints the last completed step and exits 130;
 * `--resume` continues.
 */
import { DTYPE_HELP, parseDtypeFlag } from './dtype-option.js';
import { readRows, withDatasetFlags, type DatasetFlags } from './dataset-flags.js';
import type { WeightDtype } from '../weights/quantize.js';
import { rm } from 'node:fs/promises';
import { freemem, totalmem } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { completionSpans, dataCollatorForLanguageModeling } from '../data/collator.js';
import type { Example } from '../data/collator.js';
import { conversationFormat, conversations, tokenizeConversations, type ConversationFormat } from '../data/chat.js';
import { isCompletionSpec, promptCompletions, softPromptSlot, SOFT_PROMPT_SLOT, tokenizePromptCompletions, type CompletionSpec } from '../data/completion.js';
import { loadDataset, loadTextDataset, tokenizeKept, type RowReader } from '../data/dataset.js';
import type { Row } from '../data/rows.js';
import { MissingError, OptionError, ShapeError, UnsupportedError } from '../errors.js';
import { DirectoryCheckpointStore } from '../train/checkpoint-files.js';
import { loadConfig } from '../models/pretrained.js';
import { orFileSystemError, readJson, writeFileAtomic } from '../hub/local.js';
import { modelFromPretrained } from '../models/pretrained.js';
import { resolveModelDir } from '../hub/model-files.js';
import { tokenizerFromPretrained } from '../tokenizer/pretrained.js';
import type { TextTokenizer } from '../tokenizer/tokenizer.js';
import type { ModelConfig } from '../models/config.js';
import { withTerminalProgress } from '../hub/terminal-progress.js';
import { promptTuningConfig, VIRTUAL_TOKENS_POSITIONS, type PromptTuningInit, type VirtualTokensPosition } from '../peft/config.js';
import {
  ENCODER_TYPES, multitaskPromptTuningConfig, PEFT_TYPES, prefixTuningConfig, promptEncoderConfig,
  type AnyPeftConfig, type EncoderType, type PeftType,
} from '../peft/methods.js';
import { PeftModel } from '../peft/peft-model.js';
import { TRAINING_DEFAULTS, trainingArguments, type TrainingArguments } from '../train/args.js';
import { TASK_DEFAULT_KEYS, TASK_DEFAULTS, TASK_LEARNING_RATES, TASK_MIN_STEPS, taskEpochs } from '../train/task-defaults.js';
import { lastCheckpoint, type LogEntry } from '../train/checkpoint.js';
import { Trainer } from '../train/trainer.js';
import { lossSeries } from './chart.js';
import { byteSize, choice, floatFlag, integerFlag } from './number-flags.js';
import { trainProgress } from './train-progress.js';
import { unescapeFlag } from './escapes.js';
import { lossCurveSpec, vegaLiteSvg } from './vega.js';

interface TrainFlags extends Partial<TrainingArguments>, CompletionSpec, DatasetFlags {
  dtype?: WeightDtype;
  model: string;
  dataset: string;
  output_dir: string;
  column?: string;
  template?: string;
  select?: string;
  validation_split?: number;
  validation_file?: string;
  max_length?: number;
  num_virtual_tokens?: number;
  peft_type: PeftType;
  encoder_reparameterization_type: EncoderType;
  encoder_hidden_size?: number;
  encoder_num_layers: number;
  encoder_dropout: number;
  prefix_projection?: boolean;
  num_tasks: number;
  num_ranks: number;
  task_id_column?: string;
  prompt_tuning_init?: PromptTuningInit;
  prompt_tuning_init_text?: string;
  tokenizer_name_or_path?: string;
  virtual_tokens_position?: VirtualTokensPosition;
  resume?: string | true;
  overwrite_output_dir?: boolean;
  json?: boolean;
}

/** The defaults outside task mode (train/task-defaults.ts): HF's TrainingArguments and PEFT's configs. */
const TEXT_DEFAULTS = {
  learning_rate: TRAINING_DEFAULTS.learning_rate,
  num_train_epochs: TRAINING_DEFAULTS.num_train_epochs,
  logging_steps: TRAINING_DEFAULTS.logging_steps,
  num_virtual_tokens: 8,
  prompt_tuning_init: 'RANDOM',
  virtual_tokens_position: 'start',
} as const;

/**
 * Fills the flags the user left unset with task mode's defaults (those the method takes; task mode: a completion
 * template or column, or conversational data) or the usual ones; a `{soft_prompt}` slot places the prompt.
 */
function withDefaults(flags: TrainFlags, chat: boolean): void {
  flags.peft_type ??= 'PROMPT_TUNING';
  let placedBy = '--virtual_tokens_position';
  if (flags.template !== undefined) {
    const slot = softPromptSlot(flags.template);
    if (slot.position !== null) {
      if (!isCompletionSpec(flags) && slot.position === 'before_completion') {
        throw new OptionError(`${SOFT_PROMPT_SLOT} at the end needs a completion (--completion_template or --completion_column)`, '--template');
      }
      if (flags.virtual_tokens_position !== undefined && flags.virtual_tokens_position !== slot.position) {
        throw new OptionError(`says ${flags.virtual_tokens_position} but the template's ${SOFT_PROMPT_SLOT} says ${slot.position}`, '--virtual_tokens_position');
      }
      flags.template = slot.template;
      flags.virtual_tokens_position = slot.position;
      placedBy = '--template';
    }
  }
  if (flags.peft_type === 'PREFIX_TUNING' && flags.virtual_tokens_position === 'before_completion') {
    throw new UnsupportedError(
      'virtual_tokens_position before_completion does not apply to prefix tuning (a prefix is every layer\'s past keys/values, always in front)',
      placedBy,
    );
  }
  const taskMode = isCompletionSpec(flags) || chat;
  const task = taskMode ? TASK_DEFAULT_KEYS[flags.peft_type] : [];
  const d = <K extends keyof typeof TASK_DEFAULTS>(key: K) => (task.includes(key) ? TASK_DEFAULTS : TEXT_DEFAULTS)[key];
  flags.learning_rate ??= taskMode ? TASK_LEARNING_RATES[flags.peft_type] : TEXT_DEFAULTS.learning_rate;
  // Task mode's epochs follow the data's size (taskEpochs): runTrain sets them once the dataset is read.
  if (!taskMode) flags.num_train_epochs ??= TEXT_DEFAULTS.num_train_epochs;
  flags.num_virtual_tokens ??= d('num_virtual_tokens');
  flags.logging_steps ??= d('logging_steps');
  flags.prompt_tuning_init ??= d('prompt_tuning_init');
  flags.virtual_tokens_position ??= d('virtual_tokens_position');
}
const TRAINING_KEYS = Object.keys(TRAINING_DEFAULTS).concat('eval_strategy', 'eval_steps', 'max_memory') as Array<keyof TrainingArguments>;

export async function runTrain(flags: TrainFlags): Promise<void> {
  const warn = (message: string) => process.stderr.write(`softprompt: ${message}\n`);
  const read = cachedReader(flags, warn);
  const chat = await chatFormat(flags, read);
  const positionGiven = flags.virtual_tokens_position !== undefined;
  withDefaults(flags, chat !== null);
  // A budget only matters to auto_find_batch_size; by default it leaves a fifth of the free memory to everything else.
  if (flags.auto_find_batch_size && flags.max_memory === undefined) flags.max_memory = Math.floor(0.8 * freemem());
  // Otherwise it bounds what one example may need, checked before training (a huge row without --max_length).
  flags.max_memory ??= totalmem();
  const argsOf = () => trainingArguments(Object.fromEntries(TRAINING_KEYS.map((k) => [k, flags[k]])));
  let args = argsOf();
  const store = new DirectoryCheckpointStore(flags.output_dir);
  // The adapter and checkpoints go there: a directory that cannot take them fails now, not after the run (and what a
  // killed run's saves left there is tidied).
  await store.prepare();
  const resume = await resumeTarget(flags, store);
  if (resume === undefined) await claimOutputDir(flags, store);

  const modelDir = await withTerminalProgress((progress_callback) => resolveModelDir(flags.model, { progress_callback }));
  const modelConfig = await loadConfig(modelDir);
  const multitask = flags.peft_type === 'MULTITASK_PROMPT_TUNING';
  if (flags.task_id_column !== undefined && !multitask) throw new OptionError('only applies with --peft_type MULTITASK_PROMPT_TUNING', '--task_id_column');
  const task_id_column = multitask ? (flags.task_id_column ?? 'task_id') : undefined;
  const tokenizer = await tokenizerFromPretrained(modelDir);
  const data = await tokenizedDataset(flags, tokenizer, modelConfig, args.seed, task_id_column, chat, read, warn);
  if (flags.num_train_epochs === undefined) {
    flags.num_train_epochs = taskEpochs(data.train.length, args.per_device_train_batch_size, args.gradient_accumulation_steps);
    args = argsOf();
  }
  // Virtual tokens before "the" completion need one completion per example; multi-turn chats put them in front.
  if (data.multiTurn !== null && flags.virtual_tokens_position === 'before_completion') {
    const why = `${data.multiTurn} has more than one assistant turn to train on, and virtual tokens go before one completion`;
    if (positionGiven) throw new OptionError(`before_completion: ${why}; use --virtual_tokens_position start`, '--virtual_tokens_position');
    warn(`${why}: placing them in front of the input (--virtual_tokens_position start)`);
    flags.virtual_tokens_position = 'start';
  }
  const peftConfig = methodConfig(flags, modelConfig);
  const pad = tokenizer.pad_token_id ?? tokenizer.eos_token_id;
  if (pad === null) throw new MissingError('the tokenizer defines neither a pad nor an eos token to pad batches with', modelDir);
  if (tokenizer.pad_token_id === null) warn('the tokenizer has no pad token; padding with its eos token, as the PEFT tutorials do');

  const model = await modelFromPretrained(modelDir, { dtype: flags.dtype });
  const progress = trainProgress();
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
    progress.stop();
    warn('interrupted: finishing the current batch and saving a checkpoint (Ctrl-C again to quit at once)');
  };
  process.on('SIGINT', onSigint);
  try {
    const peft = PeftModel.create(model, peftConfig, { tokenizer, seed: args.seed });
    const trainer = new Trainer({
      model: peft,
      args,
      train_dataset: data.train,
      eval_dataset: data.validation ?? undefined,
      train_task_ids: data.train_task_ids,
      eval_task_ids: data.validation_task_ids,
      data_collator: dataCollatorForLanguageModeling({ pad_token_id: pad, padding_side: await paddingSide(modelDir) }),
      checkpoints: store,
      callbacks: progress.callbacks,
    });
    const out = await trainer.train({ resume_from_checkpoint: resume, signal: controller.signal });
    progress.stop();
    if (!out.interrupted) await peft.savePretrained(flags.output_dir);
    const lossCurve = out.interrupted ? null : await saveLossCurve(flags, trainer.state!.log_history);
    const counts = peft.trainableParameters();
    const summary = {
      output_dir: flags.output_dir,
      interrupted: out.interrupted,
      checkpoint: out.checkpoint && store.describe(out.checkpoint),
      global_step: out.global_step,
      train_batch_size: trainer.state!.train_batch_size,
      num_examples: data.train.length,
      num_validation_examples: data.validation?.length ?? 0,
      trainable_params: counts.trainable,
      all_params: counts.all,
      ...out.metrics,
      train_loss: out.training_loss,
      loss_curve: lossCurve,
    };
    if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else process.stdout.write(describe(summary, peft.printTrainableParameters()));
  } finally {
    process.off('SIGINT', onSigint);
    await model.engine.close();
  }
  // main() maps outcomes to exit codes 0/1/2; an interrupted run must end with 130.
  if (controller.signal.aborted) process.exit(130);
}

/**
 * loss_curve.svg in output_dir, unless nothing was logged (a run shorter than --logging_steps, no evaluation): then
 * an earlier run's curve is removed rather than left beside this run's adapter.
 */
async function saveLossCurve(flags: TrainFlags, log: LogEntry[]): Promise<string | null> {
  const series = lossSeries(log);
  const path = join(flags.output_dir, 'loss_curve.svg');
  if (series.length === 0) {
    await orFileSystemError(path, () => rm(path, { force: true }));
    return null;
  }
  await writeFileAtomic(path, await vegaLiteSvg(lossCurveSpec(series, `${flags.peft_type.toLowerCase().replace(/_/g, ' ')} of ${basename(flags.model)} on ${basename(flags.dataset)}`)));
  return path;
}

/** The adapter config --peft_type and its flags describe, filled in for the model as get_peft_model does. */
function methodConfig(flags: TrainFlags, model: ModelConfig): AnyPeftConfig {
  const n = flags.num_virtual_tokens!;
  const position = flags.virtual_tokens_position;
  const only = (flag: string, ok: boolean) => {
    if (!ok) throw new OptionError(`does not apply to --peft_type ${flags.peft_type}`, flag);
  };
  only('--prefix_projection', flags.prefix_projection === undefined || flags.peft_type === 'PREFIX_TUNING');
  only('--encoder_hidden_size', flags.encoder_hidden_size === undefined || ['P_TUNING', 'PREFIX_TUNING'].includes(flags.peft_type));
  switch (flags.peft_type) {
    case 'PROMPT_TUNING':
      return promptTuningConfig(
        {
          num_virtual_tokens: n, prompt_tuning_init: flags.prompt_tuning_init, prompt_tuning_init_text: flags.prompt_tuning_init_text,
          tokenizer_name_or_path: flags.tokenizer_name_or_path, virtual_tokens_position: position,
        },
        model,
        flags.model,
      );
    case 'P_TUNING':
      return promptEncoderConfig({
        num_virtual_tokens: n, encoder_reparameterization_type: flags.encoder_reparameterization_type, encoder_hidden_size: flags.encoder_hidden_size,
        encoder_num_layers: flags.encoder_num_layers, encoder_dropout: flags.encoder_dropout, virtual_tokens_position: position,
      }, model, flags.model);
    case 'PREFIX_TUNING':
      return prefixTuningConfig({ num_virtual_tokens: n, prefix_projection: flags.prefix_projection, encoder_hidden_size: flags.encoder_hidden_size }, model, flags.model);
    case 'MULTITASK_PROMPT_TUNING':
      if (flags.prompt_tuning_init === 'SAMPLE_VOCAB') throw new OptionError('multitask prompt tuning starts from RANDOM or TEXT', '--prompt_tuning_init');
      return multitaskPromptTuningConfig({
        num_virtual_tokens: n, num_tasks: flags.num_tasks, num_ranks: flags.num_ranks, prompt_tuning_init: flags.prompt_tuning_init,
        prompt_tuning_init_text: flags.prompt_tuning_init_text, tokenizer_name_or_path: flags.tokenizer_name_or_path, virtual_tokens_position: position,
      }, model, flags.model);
  }
}

interface TrainData {
  train: Example[];
  validation: Example[] | null;
  train_task_ids?: number[];
  validation_task_ids?: number[];
  /** Conversations: the first row with more than one trained span (assistant turn), or null. */
  multiTurn: string | null;
}

/**
 * The training examples: whole texts (a column or a template; the loss on every token), prompt-completion pairs
 * (--completion_template / --completion_column; the loss on the completion only), or conversations (the loss on the
 * assistant turns or the completion), cut from the left to the model's positions less the virtual tokens unless
 * --max_length says otherwise; with a task id column, each example's task.
 */
async function tokenizedDataset(
  flags: TrainFlags, tokenizer: TextTokenizer, config: ModelConfig, seed: number, task_id_column: string | undefined,
  chat: ConversationFormat | null, read: RowReader, warn: (message: string) => void,
): Promise<TrainData> {
  const opts = { ...flags, seed, task_id_column };
  const max = flags.max_length ?? (config.maxPositions === null ? undefined : config.maxPositions - flags.num_virtual_tokens!);
  if (chat !== null) {
    const template = tokenizer.requireChatTemplate(`conversational data (a "${chat === 'messages' ? 'messages' : 'prompt" and "completion'}" column of message lists)`);
    let multiTurn: string | null = null;
    // Tokenized per source before the split, so that an error names the row as the file has it.
    const data = await loadDataset(flags.dataset, opts, read, (rows, source) =>
      tokenizeConversations(conversations(rows, chat, source), template, tokenizer, max, source).map((example, i) => {
        if (multiTurn === null && completionSpans(example.completion_mask) > 1) multiTurn = `${source} row ${i + 1}`;
        return example;
      }));
    return { ...data, validation_task_ids: data.validation_task_ids ?? undefined, multiTurn };
  }
  if (isCompletionSpec(flags)) {
    if (flags.column !== undefined) throw new OptionError('with a completion, name the prompt with --prompt_column or --template', '--column');
    const pairs = await loadDataset(flags.dataset, opts, read, (rows, source) => promptCompletions(rows, flags, source));
    const tokenize = (p: typeof pairs.train, source: string) => tokenizePromptCompletions(p, tokenizer, max, source);
    return {
      train: tokenize(pairs.train, flags.dataset),
      validation: pairs.validation && tokenize(pairs.validation, flags.validation_file ?? flags.dataset),
      // Every pair is kept (one without completion tokens is an error), so the task ids stay aligned.
      train_task_ids: pairs.train_task_ids,
      validation_task_ids: pairs.validation_task_ids ?? undefined,
      multiTurn: null,
    };
  }
  if (flags.prompt_column !== undefined) throw new OptionError('needs --completion_column or --completion_template', '--prompt_column');
  const data = await loadTextDataset(flags.dataset, opts, read);
  const train = tokenizeKept(data.train, tokenizer, flags.max_length);
  const validation = data.validation && tokenizeKept(data.validation, tokenizer, flags.max_length);
  const keptIds = (ids: number[] | null | undefined, kept: number[] | undefined) => (ids && kept ? kept.map((i) => ids[i]) : undefined);
  const dropped = train.dropped + (validation?.dropped ?? 0);
  if (dropped > 0) warn(`dropped ${dropped} texts that tokenize to no tokens`);
  if (train.input_ids.length === 0) throw new ShapeError('no training text has any tokens', flags.dataset);
  return {
    train: train.input_ids,
    validation: validation?.input_ids ?? null,
    train_task_ids: keptIds(data.train_task_ids, train.kept),
    validation_task_ids: keptIds(data.validation_task_ids, validation?.kept),
    multiTurn: null,
  };
}

/** Each source read once: conversational data is recognised from the dataset's first row before training reads it. */
function cachedReader(flags: TrainFlags, warn: (message: string) => void): RowReader {
  const read = new Map<string, Promise<Row[]>>();
  return (source) => {
    if (!read.has(source)) read.set(source, readRows(source, flags, warn));
    return read.get(source)!;
  };
}

/**
 * TRL's conversational formats, recognised as TRL recognises them (from the first row) when no column or template is
 * named: a "messages" column, or "prompt" and "completion" columns, of message lists.
 */
async function chatFormat(flags: TrainFlags, read: RowReader): Promise<ConversationFormat | null> {
  const named = [flags.column, flags.template, flags.completion_template, flags.prompt_column, flags.completion_column];
  if (named.some((flag) => flag !== undefined)) return null;
  const [first] = await read(flags.dataset);
  return first === undefined ? null : conversationFormat(first);
}

/** `--resume` (the latest checkpoint in output_dir) or `--resume checkpoint-N` / a path to one inside output_dir. */
async function resumeTarget(flags: TrainFlags, store: DirectoryCheckpointStore): Promise<string | undefined> {
  if (flags.resume === undefined) return undefined;
  if (flags.resume === true) {
    const latest = lastCheckpoint(await store.list());
    if (latest === null) throw new MissingError('no checkpoint-<step> directory to resume from', flags.output_dir);
    return latest;
  }
  if (flags.resume.includes('/') && resolve(dirname(flags.resume)) !== resolve(flags.output_dir)) {
    throw new OptionError(`${flags.resume} is not a checkpoint in --output_dir ${flags.output_dir}`, '--resume');
  }
  return basename(flags.resume);
}

/**
 * A fresh run must not mix its checkpoints with an earlier run's (a later --resume would pick either): output_dir may
 * hold none unless --overwrite_output_dir, which removes them first.
 */
async function claimOutputDir(flags: TrainFlags, store: DirectoryCheckpointStore): Promise<void> {
  const earlier = (await store.list()).filter((n) => /^checkpoint-\d+$/.test(n));
  if (earlier.length === 0) return;
  if (!flags.overwrite_output_dir) {
    const shown = earlier.sort().slice(0, 3).join(', ') + (earlier.length > 3 ? ', ...' : '');
    throw new OptionError(`holds checkpoints of an earlier run (${shown}); continue it with --resume, or start over with --overwrite_output_dir`, flags.output_dir);
  }
  for (const name of earlier) await orFileSystemError(store.describe(name), () => rm(store.describe(name), { recursive: true, force: true }));
}

/** tokenizer_config.json's padding_side, which transformers' tokenizer.pad follows (default right). */
export async function paddingSide(modelDir: string): Promise<'left' | 'right'> {
  const config = await readJson(join(modelDir, 'tokenizer_config.json')).catch(() => null);
  return (config as { padding_side?: unknown } | null)?.padding_side === 'left' ? 'left' : 'right';
}

function describe(s: Record<string, unknown> & { interrupted: boolean }, parameters: string): string {
  const lines = [parameters];
  const n = (key: string, digits = 4) => (typeof s[key] === 'number' ? (s[key] as number).toFixed(digits) : '-');
  if (s.interrupted) {
    lines.push(`interrupted after step ${s.global_step}; ${s.checkpoint ? `checkpoint in ${s.checkpoint}; rerun with --resume to continue` : 'no step finished, nothing saved'}`);
  } else {
    lines.push(`trained ${s.global_step} steps (${n('epoch', 2)} epochs, batch size ${s.train_batch_size}) in ${n('train_runtime', 1)} s: train_loss ${n('train_loss')}, ${Math.round(s.train_tokens_per_second as number)} tokens/s`);
    if ('eval_loss' in s) lines.push(`eval_loss ${n('eval_loss')}, perplexity ${n('eval_perplexity', 3)} on ${s.num_validation_examples} examples`);
    lines.push(`adapter saved to ${s.output_dir}`);
    if (s.loss_curve) lines.push(`loss curve: ${s.loss_curve}`);
  }
  return `${lines.join('\n')}\n`;
}

export function registerTrain(program: Command): void {
  const d = TRAINING_DEFAULTS;
  const command = program
    .command('train')
    .description('prompt-tune a model on a dataset (PEFT prompt tuning, P-tuning, prefix or multitask prompt tuning, with the HF Trainer defaults)')
    .requiredOption('--model <dir|org/name>', 'base model directory or hub id')
    .option('--dtype <fp32|fp16|q8|q4>', DTYPE_HELP, parseDtypeFlag, 'fp32')
    .requiredOption('--dataset <file|org/name>', 'CSV, TSV, JSON, JSONL or text file, or a hub dataset id; rows with a "messages" column (or "prompt" and "completion" columns) of [{"role", "content"}, ...] lists are conversations, as TRL reads them: rendered with the model\'s chat template, the loss on the assistant turns (or the completion), task-mode defaults')
    .requiredOption('--output_dir <dir>', 'where checkpoints, the final adapter and loss_curve.svg (the logged losses) go')
    .option('--column <name>', 'the column to train on (default: "text", or the only column)')
    .option('--template <text>', 'build each text (or, with a completion, each prompt) from columns, e.g. "Email: {text}\\nAnswer:" (\\n, \\t: escapes); {soft_prompt} at its start or end places the virtual tokens there', unescapeFlag)
    .option('--completion_template <text>', 'task format: the answer built from columns, e.g. " {label}"; the loss falls on it only', unescapeFlag)
    .option('--prompt_column <name>', 'task format: the column holding each prompt (instead of --template)')
    .option('--completion_column <name>', 'task format: the column holding each completion (instead of --completion_template)')
    .option('--select <range>', 'rows to use: "0:50" = select(range(50)), "100", "10:"')
    .option(...floatFlag('--validation_split <fraction|count>', 'hold out this share (or number) of rows for evaluation'))
    .option('--validation_file <file|org/name>', 'a separate evaluation dataset');
  withDatasetFlags(command, 'train')
    .option(...integerFlag('--max_length <n>', 'truncate each example to n tokens (a prompt-completion pair loses its start; default there: the model\'s positions less the virtual tokens)', 1))
    .option(...integerFlag('--num_virtual_tokens <n>', `soft prompt (or prefix) length (default: ${TEXT_DEFAULTS.num_virtual_tokens}; task mode ${TASK_DEFAULTS.num_virtual_tokens})`, 1))
    .option('--peft_type <type>', `${PEFT_TYPES.join(', ')}`, choice('--peft_type', PEFT_TYPES), 'PROMPT_TUNING')
    .option('--encoder_reparameterization_type <MLP|LSTM>', 'P-tuning: the prompt encoder', choice('--encoder_reparameterization_type', ENCODER_TYPES), 'MLP')
    .option(...integerFlag('--encoder_hidden_size <n>', 'P-tuning and prefix projection: the encoder\'s hidden size (default: the model\'s width)', 1))
    .option(...integerFlag('--encoder_num_layers <n>', 'P-tuning: the LSTM\'s layers', 1, 2))
    .option(...floatFlag('--encoder_dropout <x>', 'P-tuning: encoder dropout (softprompt trains without: 0)', 0))
    .option('--prefix_projection', 'prefix tuning: produce the prefix with a two-layer tanh MLP (saved adapter: its output)')
    .option(...integerFlag('--num_tasks <n>', 'multitask prompt tuning: the number of tasks', 1, 1))
    .option(...integerFlag('--num_ranks <n>', 'multitask prompt tuning: rank of each task\'s scaling', 1, 1))
    .option('--task_id_column <name>', 'multitask prompt tuning: the column holding each row\'s task id (default: task_id)')
    .option('--prompt_tuning_init <init>', `RANDOM, TEXT or SAMPLE_VOCAB (default: ${TEXT_DEFAULTS.prompt_tuning_init}; task mode ${TASK_DEFAULTS.prompt_tuning_init} for prompt tuning)`, choice('--prompt_tuning_init', ['RANDOM', 'TEXT', 'SAMPLE_VOCAB'] as const))
    .option('--prompt_tuning_init_text <text>', 'the text whose embeddings start the prompt (TEXT init)')
    .option('--virtual_tokens_position <where>', `${VIRTUAL_TOKENS_POSITIONS.join(' or ')}: in front of the input (PEFT) or right before the completion, recorded in adapter_config.json (default: ${TEXT_DEFAULTS.virtual_tokens_position}; task mode ${TASK_DEFAULTS.virtual_tokens_position}, or start for chats with several assistant turns)`, choice('--virtual_tokens_position', VIRTUAL_TOKENS_POSITIONS))
    .option('--tokenizer_name_or_path <name>', 'recorded in the adapter for TEXT init (default: --model)')
    .option(...floatFlag('--learning_rate <lr>', `AdamW learning rate (default: ${TEXT_DEFAULTS.learning_rate}; task mode ${TASK_LEARNING_RATES.PROMPT_TUNING}, P-tuning ${TASK_LEARNING_RATES.P_TUNING})`))
    .option(...floatFlag('--num_train_epochs <n>', `epochs, may be fractional (default: ${TEXT_DEFAULTS.num_train_epochs}; task mode ${TASK_DEFAULTS.num_train_epochs}, or more on small data: enough for ${TASK_MIN_STEPS} optimizer steps)`))
    .option(...integerFlag('--max_steps <n>', 'optimizer steps; > 0 overrides --num_train_epochs', -1, d.max_steps))
    .option(...integerFlag('--per_device_train_batch_size <n>', 'examples per micro-batch', 1, d.per_device_train_batch_size))
    .option(...integerFlag('--per_device_eval_batch_size <n>', 'examples per evaluation batch', 1, d.per_device_eval_batch_size))
    .option(...integerFlag('--gradient_accumulation_steps <n>', 'micro-batches per optimizer step', 1, d.gradient_accumulation_steps))
    .option(...floatFlag('--max_grad_norm <x>', 'clip the gradient norm (0: off)', d.max_grad_norm))
    .option(...floatFlag('--weight_decay <x>', 'AdamW decoupled weight decay', d.weight_decay))
    .option(...floatFlag('--adam_beta1 <x>', 'AdamW beta1', d.adam_beta1))
    .option(...floatFlag('--adam_beta2 <x>', 'AdamW beta2', d.adam_beta2))
    .option(...floatFlag('--adam_epsilon <x>', 'AdamW epsilon', d.adam_epsilon))
    .option('--lr_scheduler_type <type>', 'linear, cosine, constant or constant_with_warmup', d.lr_scheduler_type)
    .option(...integerFlag('--warmup_steps <n>', 'linear warmup steps', 0, d.warmup_steps))
    .option(...floatFlag('--warmup_ratio <x>', 'warmup as a share of all steps (when --warmup_steps is 0)', d.warmup_ratio))
    .option(...integerFlag('--seed <n>', 'seed for the prompt init, shuffling and the validation split', 0, d.seed))
    .option(...floatFlag('--logging_steps <n>', `log loss, lr, grad norm and tokens/s every n steps (default: ${TEXT_DEFAULTS.logging_steps}; task mode ${TASK_DEFAULTS.logging_steps})`))
    .option('--logging_first_step', 'also log the first step')
    .option('--eval_strategy <no|steps|epoch>', 'when to evaluate (default: steps with --eval_steps, else epoch when there is a validation set)')
    .option(...floatFlag('--eval_steps <n>', 'evaluate every n steps (default: --logging_steps)'))
    .option('--save_strategy <no|steps|epoch>', 'when to write checkpoints', d.save_strategy)
    .option(...floatFlag('--save_steps <n>', 'checkpoint every n steps', d.save_steps))
    .option('--auto_find_batch_size', 'start at the largest batch (halving) that fits --max_memory; on out-of-memory, halve and start over')
    .option('--max_memory <size>', 'memory a training step may use, e.g. 3.5GB or 800MB (default with --auto_find_batch_size: 80% of free memory)', byteSize('--max_memory'))
    .option('--resume [checkpoint]', 'continue from the latest (or the named) checkpoint in --output_dir')
    .option('--overwrite_output_dir', "start over in an --output_dir that holds an earlier run's checkpoints (they are removed)")
    .option('--json', 'print a machine-readable summary')
    .action((flags: TrainFlags) => runTrain(flags));
}
