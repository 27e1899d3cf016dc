/**
 * `softprompt demo`: the seed article's five steps in one command — load a model, generate a baseline, prompt-tune on
 * a small dataset, generate again with the tuned prompt beside the baseline, save the adapter — and the held-out loss
 * before and after, so the effect is measured, not just shown.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { dataCollatorForLanguageModeling } from '../data/collator.js';
import { tokenizeTexts } from '../data/dataset.js';
import { trainValidationSplit } from '../data/select.js';
import { FormatError, MissingError } from '../errors.js';
import { generate } from '../generate/generate.js';
import { modelFromPretrained, tokenizerFromPretrained } from '../hub/pretrained.js';
import { promptTuningConfig } from '../peft/config.js';
import { PeftModel } from '../peft/peft-model.js';
import { Trainer } from '../train/trainer.js';
import { trainProgress } from './train-progress.js';

interface DemoFlags {
  model: string;
  dataset: string;
  prompt: string;
  output_dir: string;
  num_virtual_tokens: number;
  learning_rate: number;
  num_train_epochs: number;
  max_new_tokens: number;
  json?: boolean;
}

/**
 * Until softprompt ships its own default model, the demo runs on the smallest real model available offline:
 * llama2.c's stories260K from the project's fixtures, with the fixtures' stories about Tom and his dog Max.
 */
const FIXTURES = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'shared', 'fixtures');
const DEFAULT_MODEL = join(FIXTURES, 'models', 'stories260K');
const DEFAULT_DATASET = join(FIXTURES, 'golden', 'stories260K', 'train_texts.json');

async function readTexts(path: string): Promise<string[]> {
  const json: unknown = JSON.parse(await readFile(path, 'utf8'));
  if (!Array.isArray(json) || !json.every((t) => typeof t === 'string')) throw new FormatError('expected a JSON array of strings', path);
  return json;
}

export async function runDemo(flags: DemoFlags): Promise<void> {
  for (const [what, path] of [['model', flags.model], ['dataset', flags.dataset]]) {
    if (!existsSync(path)) throw new MissingError(`the demo's ${what} is not here (pass --${what}, or check out ../shared/fixtures next to the repo)`, path);
  }
  const say = (line: string) => !flags.json && process.stdout.write(`${line}\n`);
  const tokenizer = await tokenizerFromPretrained(flags.model);
  const model = await modelFromPretrained(flags.model);
  try {
    say(`1. loaded ${flags.model} (${model.config.arch}, hidden ${model.config.hiddenSize}, ${model.config.numLayers} layers)`);
    const gen = { text: flags.prompt, max_new_tokens: flags.max_new_tokens, repetition_penalty: 1.5 };
    const baseline = (await generate(model, tokenizer, gen)).text![0];
    say(`2. baseline: ${JSON.stringify(baseline)}`);

    const texts = await readTexts(flags.dataset);
    const split = trainValidationSplit(texts, 0.2, 42);
    const train = tokenizeTexts(split.train, tokenizer).input_ids;
    const heldOut = tokenizeTexts(split.validation, tokenizer).input_ids;
    const config = promptTuningConfig(
      { num_virtual_tokens: flags.num_virtual_tokens, prompt_tuning_init: 'TEXT', prompt_tuning_init_text: flags.prompt },
      model.config,
      flags.model,
    );
    const peft = PeftModel.create(model, config, { tokenizer });
    const pad = tokenizer.pad_token_id ?? tokenizer.eos_token_id ?? 0;
    const progress = trainProgress();
    const trainer = new Trainer({
      model: peft,
      args: { learning_rate: flags.learning_rate, num_train_epochs: flags.num_train_epochs, per_device_train_batch_size: 4, logging_steps: 10 },
      train_dataset: train,
      eval_dataset: heldOut,
      data_collator: dataCollatorForLanguageModeling({ pad_token_id: pad }),
      callbacks: progress.callbacks,
    });
    const before = (await trainer.evaluate()).eval_loss;
    say(`3. prompt tuning ${flags.num_virtual_tokens} virtual tokens on ${train.length} texts (${heldOut.length} held out): ${peft.printTrainableParameters()}`);
    const out = await trainer.train();
    progress.stop();
    const after = (await trainer.evaluate()).eval_loss;
    say(`   held-out loss ${before.toFixed(4)} -> ${after.toFixed(4)} (${(((before - after) / before) * 100).toFixed(1)}% lower), train loss ${out.training_loss.toFixed(4)}`);

    const tuned = (await generate(model, tokenizer, { ...gen, prompt: peft.prompt() })).text![0];
    say(`4. baseline: ${JSON.stringify(baseline)}\n   tuned:    ${JSON.stringify(tuned)}`);
    await peft.savePretrained(flags.output_dir);
    say(`5. adapter saved to ${flags.output_dir} (PEFT format: adapter_config.json + adapter_model.safetensors)`);
    if (flags.json) {
      const summary = { model: flags.model, baseline, tuned, held_out_loss_before: before, held_out_loss_after: after, train_loss: out.training_loss, adapter: flags.output_dir };
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    }
  } finally {
    await model.engine.close();
  }
}

export function registerDemo(program: Command): void {
  const int = (v: string) => Number.parseInt(v, 10);
  program
    .command('demo')
    .description('load, baseline generation, prompt tuning, tuned generation side by side, save the adapter')
    .option('--model <dir>', 'model directory', DEFAULT_MODEL)
    .option('--dataset <file.json>', 'JSON array of training texts', DEFAULT_DATASET)
    .option('--prompt <text>', 'generation prompt (also the TEXT init of the soft prompt)', 'Once upon a time')
    .option('--output_dir <dir>', 'where the adapter is saved', 'softprompt-demo-adapter')
    .option('--num_virtual_tokens <n>', 'soft prompt length', int, 8)
    .option('--learning_rate <lr>', 'AdamW learning rate (prompt tuning wants large ones)', Number, 0.3)
    .option('--num_train_epochs <n>', 'epochs', Number, 10)
    .option('--max_new_tokens <n>', 'tokens to generate', int, 32)
    .option('--json', 'print a machine-readable summary')
    .action((flags: DemoFlags) => runDemo(flags));
}
