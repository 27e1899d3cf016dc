/**
 * `softprompt generate`: continue texts (or a batch of ids) with a model, optionally with a PEFT adapter of any
 * prompt-learning method (a multitask one with each row's task id), under transformers' option names and defaults,
 * which the model's generation_config.json overrides. Prints the decoded sequences (input included, as batch_decode),
 * token by token with --stream, or JSON with --json.
 */
import { DTYPE_HELP, parseDtypeFlag } from './dtype-option.js';
import type { WeightDtype } from '../weights/quantize.js';
import type { Command } from 'commander';
import { OptionError } from '../errors.js';
import { generateStream, type GenerateOutput, type GenerateRequest } from '../generate/generate.js';
import { GENERATION_DEFAULTS as D, type GenerationOptions } from '../generate/options.js';
import { adapterInputs } from '../generate/adapters.js';
import { locateAdapter } from '../peft/adapter-files.js';
import { PeftModel } from '../peft/peft-model.js';
import { readBatch } from './forward.js';
import { modelFromPretrained, readGenerationConfig } from '../models/pretrained.js';
import { tokenizerFromPretrained } from '../tokenizer/pretrained.js';
import { floatFlag, integerFlag } from './number-flags.js';

interface GenerateFlags extends GenerationOptions {
  dtype?: WeightDtype;
  model: string;
  adapter?: string;
  prompt?: string[];
  batch?: string;
  task_ids?: number[];
  stop?: string[];
  stream?: boolean;
  json?: boolean;
}

export async function runGenerate(flags: GenerateFlags): Promise<void> {
  const { model: modelDir, adapter: adapterDir, prompt: texts, batch: batchFile, task_ids: taskIdsFlag, stop, stream, json, dtype, ...options } = flags;
  if ((texts === undefined) === (batchFile === undefined)) throw new OptionError('give --prompt (texts) or --batch (ids), one of them', '--prompt');
  const batch = batchFile === undefined ? null : await readBatch(batchFile);
  const rows = texts?.length ?? batch!.input_ids.length;
  if (stream && rows * (options.num_return_sequences ?? 1) > 1) {
    throw new OptionError('streams one sequence: give one --prompt and --num_return_sequences 1', '--stream');
  }
  const model = await modelFromPretrained(modelDir, { dtype });
  try {
    const tokenizer = await tokenizerFromPretrained(modelDir);
    const peft = adapterDir ? await PeftModel.fromPretrained(model, await locateAdapter(adapterDir)) : null;
    const task_ids = taskIdsFlag ?? batch?.task_ids;
    if (task_ids && peft?.adapterConfig().peft_type !== 'MULTITASK_PROMPT_TUNING') {
      throw new OptionError('task ids are for a multitask prompt-tuning adapter', '--task_ids');
    }
    const generationConfig = await readGenerationConfig(model.source);
    const inputs = batch ? { input_ids: batch.input_ids, attention_mask: batch.attention_mask } : { text: texts };
    const request: GenerateRequest = {
      ...options,
      ...inputs,
      ...(peft ? await adapterInputs(peft, rows, { task_ids }) : {}),
      stop_strings: stop,
      generation_config: generationConfig,
    };
    const steps = generateStream(model, tokenizer, request);
    if (stream && !json) {
      const ids = texts ? tokenizer.encode(texts[0]) : batch!.input_ids[0].filter((_, i) => batch!.attention_mask?.[0][i] !== 0);
      process.stdout.write(tokenizer.decode(ids, { skip_special_tokens: true }));
    }
    for (;;) {
      const r = await steps.next();
      if (r.done) return printResult(r.value, Boolean(json), Boolean(stream));
      if (stream) process.stdout.write(json ? `${JSON.stringify({ tokens: r.value.tokens, text: r.value.text })}\n` : r.value.text![0]);
    }
  } finally {
    await model.engine.close();
  }
}

function taskIdList(value: string): number[] {
  const ids = value.split(',').map((v) => Number(v.trim()));
  if (ids.some((id) => !Number.isSafeInteger(id) || id < 0)) throw new OptionError(`is ${JSON.stringify(value)}; expected task ids like 0,2,1`, '--task_ids');
  return ids;
}

function printResult(out: GenerateOutput, json: boolean, streamed: boolean): void {
  if (json) process.stdout.write(`${JSON.stringify({ sequences: out.sequences, text: out.text })}\n`);
  else if (streamed) process.stdout.write('\n');
  else process.stdout.write(`${out.text!.join('\n\n')}\n`);
}

export function registerGenerate(program: Command): void {
  program
    .command('generate')
    .description('continue texts with a model (and a PEFT adapter of any prompt-learning method), greedy or sampled, with a KV cache')
    .requiredOption('--model <dir>', 'model directory or hub repo id')
    .option('--dtype <fp32|fp16|q8|q4>', DTYPE_HELP, parseDtypeFlag, 'fp32')
    .option('--adapter <dir>', 'PEFT adapter (prompt tuning, P-tuning, prefix or multitask prompt tuning): a directory or a hub repo id')
    .option('--prompt <text>', 'text to continue (repeat for a batch)', (v: string, all?: string[]) => [...(all ?? []), v])
    .option('--batch <file.json>', 'instead of --prompt: JSON with input_ids [B][T], optional attention_mask and task_ids [B]')
    .option('--task_ids <ids>', 'a multitask adapter\'s task per row, comma-separated (e.g. 0,2)', taskIdList)
    .option(...integerFlag('--max_new_tokens <n>', 'new tokens per sequence (default: up to --max_length)', 0))
    .option(...integerFlag('--max_length <n>', `tokens per sequence, input included, soft prompt not (default: ${D.max_length})`, 1))
    .option('--do_sample', 'sample instead of greedy decoding (default: greedy)')
    .option(...floatFlag('--temperature <x>', `softmax temperature when sampling (default: ${D.temperature})`))
    .option(...integerFlag('--top_k <n>', `sample among the k most likely tokens; 0 = all (default: ${D.top_k})`, 0))
    .option(...floatFlag('--top_p <x>', `sample from the smallest set with probability > p, in (0, 1] (default: ${D.top_p})`))
    .option(...floatFlag('--repetition_penalty <x>', `divide the scores of tokens already present; 1 = off (default: ${D.repetition_penalty})`))
    .option(...integerFlag('--no_repeat_ngram_size <n>', `never repeat an n-gram of this size; 0 = off (default: ${D.no_repeat_ngram_size})`, 0))
    .option('--stop <string...>', 'stop a sequence once its text contains one of these (default: none)')
    .option(...integerFlag('--num_return_sequences <n>', `samples per prompt, with --do_sample (default: ${D.num_return_sequences})`, 1))
    .option(...integerFlag('--seed <n>', 'seed for reproducible sampling (default: a fresh one each run)', 0))
    .option('--stream', 'print the text as it is generated')
    .option('--json', 'print {"sequences", "text"} as JSON (with --stream, first one line per step)')
    .addHelpText('after', "\nDefaults are transformers'; the model's generation_config.json overrides them, and these flags override both.")
    .action((flags: GenerateFlags) => runGenerate(flags));
}
