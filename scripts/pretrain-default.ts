/**
 * `npm run pretrain:default`: the recipe of models/default, softprompt's embedded model. Trains a byte-level BPE on
 * Moby Dick and the State of the Union addresses (the reserved documents left out), then pretrains a small Llama on
 * the same text with full fine-tuning from fresh weights, and writes a Hugging Face model directory. Every random
 * choice is seeded, so a rerun repeats the logged losses. Flags shorten it for trials: --max_steps, --out.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { dataCollatorForLanguageModeling } from '../src/data/collator.js';
import { packBlocks } from '../src/data/blocks.js';
import { isReserved, mobyDick, stateOfTheUnion } from '../src/data/corpora.js';
import { generate } from '../src/generate/generate.js';
import { parseModelConfig } from '../src/models/config.js';
import { Engine } from '../src/runtime/engine.js';
import { TextTokenizer } from '../src/tokenizer/tokenizer.js';
import { bpeTokenizerJson, trainBpe, wordCounts } from '../src/tokenizer/train-bpe.js';
import { FullFineTuning } from '../src/train/finetune.js';
import { initWeights } from '../src/train/init-weights.js';
import { Trainer } from '../src/train/trainer.js';
import type { LogEntry } from '../src/train/checkpoint.js';
import { lossSeries } from '../src/cli/chart.js';
import { lossCurveSpec, vegaLiteSvg } from '../src/cli/vega.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SEED = 1234;
const SPECIAL = '<|endoftext|>';
const BLOCK = 256;

const CONFIG = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  hidden_size: 256,
  intermediate_size: 512,
  num_hidden_layers: 6,
  num_attention_heads: 8,
  num_key_value_heads: 4,
  vocab_size: 3072,
  max_position_embeddings: BLOCK,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: true,
  initializer_range: 0.02,
  hidden_act: 'silu',
  attention_bias: false,
  bos_token_id: 0,
  eos_token_id: 0,
  pad_token_id: 0,
};

const TRAINING = {
  learning_rate: 2e-3,
  max_steps: 1500,
  per_device_train_batch_size: 16,
  per_device_eval_batch_size: 16,
  lr_scheduler_type: 'cosine' as const,
  warmup_steps: 80,
  adam_beta2: 0.95,
  weight_decay: 0,
  max_grad_norm: 1,
  logging_steps: 10,
  logging_first_step: true,
  eval_steps: 100,
  save_strategy: 'no' as const,
  seed: SEED,
};

const SAMPLE_PROMPTS = ['Call me', 'The whale', 'The Congress', 'It is'];

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { max_steps: { type: 'string' }, out: { type: 'string' } } });
  const out = resolve(values.out ?? join(ROOT, 'models', 'default'));
  const maxSteps = values.max_steps ? Number(values.max_steps) : TRAINING.max_steps;
  await mkdir(out, { recursive: true });
  const say = (line: string) => process.stdout.write(`${line}\n`);

  const docs = [...mobyDick(), ...stateOfTheUnion()];
  const train = docs.filter((d) => !isReserved(d));
  const heldOut = docs.filter(isReserved);
  const started = Date.now();
  const bpe = trainBpe(wordCounts(train.map((d) => d.text)), { vocabSize: CONFIG.vocab_size, specialTokens: [SPECIAL] });
  const tokenizerJson = bpeTokenizerJson(bpe, [SPECIAL], SPECIAL);
  const tokenizerConfig = {
    tokenizer_class: 'PreTrainedTokenizerFast', bos_token: SPECIAL, eos_token: SPECIAL, pad_token: SPECIAL,
    model_max_length: BLOCK, clean_up_tokenization_spaces: false,
  };
  const tokenizer = TextTokenizer.fromJSON(tokenizerJson, tokenizerConfig, out);
  say(`tokenizer: ${bpe.vocab.size} tokens (${bpe.merges.length} merges) in ${((Date.now() - started) / 1000).toFixed(0)} s`);

  const trainBlocks = packBlocks(train.map((d) => tokenizer.encode(d.text)), BLOCK);
  const heldOutBlocks = packBlocks(heldOut.map((d) => tokenizer.encode(d.text)), BLOCK);
  // An evenly spaced sample of the reserved text keeps evaluation short and covers both books.
  const evalBlocks = Array.from({ length: 48 }, (_, i) => heldOutBlocks[Math.floor((i * heldOutBlocks.length) / 48)]);
  say(`data: ${train.length} documents, ${trainBlocks.length} blocks of ${BLOCK} tokens (${trainBlocks.length * BLOCK} tokens); held out: ${heldOut.length} documents`);

  const config = parseModelConfig(CONFIG, 'config.json');
  const engine = Engine.create();
  const tuning = FullFineTuning.fromWeights(config, initWeights(config, SEED), engine, out);
  const log: LogEntry[] = [];
  const trainer = new Trainer({
    model: tuning,
    args: { ...TRAINING, max_steps: maxSteps },
    train_dataset: trainBlocks,
    eval_dataset: evalBlocks,
    data_collator: dataCollatorForLanguageModeling({ pad_token_id: CONFIG.pad_token_id }),
    callbacks: {
      on_log: (e) => {
        log.push(e);
        const seconds = ((Date.now() - started) / 1000).toFixed(0);
        if ('loss' in e) say(`step ${e.step}/${maxSteps}: loss ${e.loss}, lr ${e.learning_rate.toExponential(2)}, ${Math.round(e.tokens_per_second)} tokens/s, ${seconds} s`);
        if ('eval_loss' in e) say(`step ${e.step}: held-out loss ${e.eval_loss.toFixed(4)}`);
      },
    },
  });
  say(`model: ${tuning.parameters().length} parameters; training ${maxSteps} steps of ${TRAINING.per_device_train_batch_size} x ${BLOCK} tokens`);
  const result = await trainer.train();
  const seconds = (Date.now() - started) / 1000;

  const model = await tuning.trainedModel();
  const samples: Array<{ prompt: string; text: string }> = [];
  for (const prompt of SAMPLE_PROMPTS) {
    const gen = await generate(model, tokenizer, { text: prompt, max_new_tokens: 48, do_sample: true, top_k: 40, temperature: 0.8, seed: SEED });
    samples.push({ prompt, text: gen.text![0] });
    say(`sample: ${JSON.stringify(gen.text![0])}`);
  }

  const files: Record<string, string | Uint8Array> = {
    'loss_curve.svg': await vegaLiteSvg(lossCurveSpec(lossSeries(log, 'held-out loss'), 'models/default: pretraining')),
    ...tuning.checkpointFiles('F16'),
    'tokenizer.json': JSON.stringify(tokenizerJson),
    'tokenizer_config.json': `${JSON.stringify(tokenizerConfig, null, 2)}\n`,
    'generation_config.json': `${JSON.stringify({ bos_token_id: 0, eos_token_id: 0, pad_token_id: 0 }, null, 2)}\n`,
    'training_log.json': `${JSON.stringify({ seed: SEED, config: CONFIG, training: { ...TRAINING, max_steps: maxSteps }, train_tokens: trainBlocks.length * BLOCK, parameters: tuning.parameters().length, seconds, train_loss: result.training_loss, log_history: log, samples }, null, 1)}\n`,
  };
  for (const [name, data] of Object.entries(files)) await writeFile(join(out, name), data);
  say(`wrote ${out} after ${seconds.toFixed(0)} s`);
  await engine.close();
}

await main();
