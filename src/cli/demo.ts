/**
 * `softprompt demo`: the seed article's five steps in one command on the embedded default model (models/default) —
 * load it, generate a baseline, prompt-tune on a task, generate again with the tuned prompt beside the baseline,
 * save the adapter — with the held-out loss before and after, and the loss curve in the terminal and as an SVG.
 * The default task steers the model, pretrained mostly on State of the Union addresses, toward Moby Dick's prose,
 * using chapters it never saw. No network is needed: the model ships in the package, the text comes from npm.
 */
import { DTYPE_HELP, parseDtypeFlag } from './dtype-option.js';
import type { WeightDtype } from '../weights/quantize.js';
import { writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { withModelAndBook } from './book-options.js';
import { dataCollatorForLanguageModeling } from '../data/collator.js';
import { taskTexts } from '../data/corpora.js';
import { tokenizeTexts } from '../data/dataset.js';
import { trainValidationSplit } from '../data/select.js';
import { MissingError } from '../errors.js';
import { generate } from '../generate/generate.js';
import { modelFromPretrained } from '../models/pretrained.js';
import { tokenizerFromPretrained } from '../tokenizer/pretrained.js';
import { promptTuningConfig } from '../peft/config.js';
import { PeftModel } from '../peft/peft-model.js';
import { heldOutLoss } from '../train/evaluate.js';
import { Trainer } from '../train/trainer.js';
import { terminalChart, type Series } from './chart.js';
import { floatFlag, integerFlag } from './number-flags.js';
import { trainProgress } from './train-progress.js';
import { lossCurveSpec, vegaLiteSvg } from './vega.js';

interface DemoFlags {
  dtype?: WeightDtype;
  model: string;
  dataset: string;
  prompt: string;
  output_dir: string;
  num_virtual_tokens: number;
  learning_rate: number;
  num_train_epochs: number;
  max_examples: number;
  max_length: number;
  max_new_tokens: number;
  json?: boolean;
}

export async function runDemo(flags: DemoFlags): Promise<void> {
  if (!existsSync(flags.model)) throw new MissingError("the demo's model is not here (pass --model DIR)", flags.model);
  const say = (line: string) => !flags.json && process.stdout.write(`${line}\n`);
  const texts = (await taskTexts(flags.dataset)).slice(0, flags.max_examples);
  const tokenizer = await tokenizerFromPretrained(flags.model);
  const model = await modelFromPretrained(flags.model, { dtype: flags.dtype });
  try {
    say(`1. loaded ${flags.model} (${model.config.arch}, hidden ${model.config.hiddenSize}, ${model.config.numLayers} layers)`);
    const gen = { text: flags.prompt, max_new_tokens: flags.max_new_tokens, repetition_penalty: 1.3 };
    const baseline = (await generate(model, tokenizer, gen)).text![0];
    say(`2. baseline: ${JSON.stringify(baseline)}`);

    const split = trainValidationSplit(texts, 0.25, 42);
    const train = tokenizeTexts(split.train, tokenizer, flags.max_length).input_ids;
    const heldOut = tokenizeTexts(split.validation, tokenizer, flags.max_length).input_ids;
    const config = promptTuningConfig(
      { num_virtual_tokens: flags.num_virtual_tokens, prompt_tuning_init: 'TEXT', prompt_tuning_init_text: flags.prompt },
      model.config,
      flags.model,
    );
    const peft = PeftModel.create(model, config, { tokenizer });
    const collator = dataCollatorForLanguageModeling({ pad_token_id: tokenizer.pad_token_id ?? tokenizer.eos_token_id ?? 0 });
    const before = await heldOutLoss(model, heldOut, collator);
    const progress = trainProgress();
    const trainLoss: Series = { name: 'training loss', points: [] };
    const evalLoss: Series = { name: 'held-out loss', points: [[0, before]] };
    const trainer = new Trainer({
      model: peft,
      args: { learning_rate: flags.learning_rate, num_train_epochs: flags.num_train_epochs, per_device_train_batch_size: 8, logging_steps: 0.025 },
      train_dataset: train,
      eval_dataset: heldOut,
      data_collator: collator,
      callbacks: {
        ...progress.callbacks,
        on_log: (e) => {
          if ('loss' in e) trainLoss.points.push([e.step, e.loss]);
          if ('eval_loss' in e) evalLoss.points.push([e.step, e.eval_loss]);
        },
      },
    });
    say(`3. prompt tuning ${flags.num_virtual_tokens} virtual tokens on ${train.length} texts of ${flags.dataset} (${heldOut.length} held out): ${peft.printTrainableParameters()}`);
    const out = await trainer.train();
    progress.stop();
    const after = out.metrics.eval_loss;
    say(`   held-out loss ${before.toFixed(4)} (base model) -> ${after.toFixed(4)} (tuned prompt): ${change(before, after)}, perplexity ${Math.exp(before).toFixed(1)} -> ${Math.exp(after).toFixed(1)}`);
    say(`   train loss ${out.training_loss.toFixed(4)} over ${out.global_step} steps in ${out.metrics.train_runtime.toFixed(1)} s`);

    const tuned = (await generate(model, tokenizer, { ...gen, prompt: peft.prompt() })).text![0];
    say(`4. baseline: ${JSON.stringify(baseline)}\n   tuned:    ${JSON.stringify(tuned)}`);
    await peft.savePretrained(flags.output_dir);
    const chart = join(flags.output_dir, 'loss_curve.svg');
    await writeFile(chart, await vegaLiteSvg(lossCurveSpec([trainLoss, evalLoss], `prompt tuning on ${flags.dataset}`)));
    say(`5. adapter saved to ${flags.output_dir} (PEFT format: adapter_config.json + adapter_model.safetensors)`);
    say(`\n${terminalChart([trainLoss, evalLoss])}\n   loss curve: ${chart}`);
    if (flags.json) {
      const summary = {
        model: flags.model, dataset: flags.dataset, baseline, tuned, held_out_loss_before: before, held_out_loss_after: after,
        train_loss: out.training_loss, steps: out.global_step, adapter: flags.output_dir, loss_curve: chart,
      };
      process.stdout.write(`${JSON.stringify(summary)}\n`);
    }
  } finally {
    await model.engine.close();
  }
}

export function registerDemo(program: Command): void {
  withModelAndBook(program.command('demo').description('baseline generation, prompt tuning with held-out loss before/after, tuned generation side by side, adapter and loss curve saved'))
    .option('--dtype <fp32|fp16|q8|q4>', DTYPE_HELP, parseDtypeFlag, 'fp32')
    .option('--prompt <text>', 'generation prompt (also the TEXT init of the soft prompt)', 'It was')
    .option('--output_dir <dir>', 'where the adapter and loss curve are saved', 'softprompt-demo-adapter')
    .option(...integerFlag('--num_virtual_tokens <n>', 'soft prompt length', 1, 8))
    .option(...floatFlag('--learning_rate <lr>', 'AdamW learning rate (prompt tuning wants large ones)', 0.3))
    .option(...floatFlag('--num_train_epochs <n>', 'epochs', 10))
    .option(...integerFlag('--max_examples <n>', 'texts taken from the dataset', 1, 400))
    .option(...integerFlag('--max_length <n>', 'tokens per text', 1, 128))
    .option(...integerFlag('--max_new_tokens <n>', 'tokens to generate', 1, 40))
    .option('--json', 'print a machine-readable summary')
    .action((flags: DemoFlags) => runDemo(flags));
}

/** "12.3% lower" or "4.5% higher": a loss that went up is not called lower by a negative amount. */
export function change(before: number, after: number): string {
  const percent = ((after - before) / before) * 100;
  if (!Number.isFinite(percent)) return 'no comparable change';
  return `${Math.abs(percent).toFixed(1)}% ${percent > 0 ? 'higher' : 'lower'}`;
}
