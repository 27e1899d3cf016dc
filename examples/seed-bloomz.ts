/**
 * The seed article's workflow, literally: bigscience/bloomz-560m prompt-tuned on the `prompt` column of the first 50
 * rows of fka/awesome-chatgpt-prompts (4 virtual tokens, RANDOM init, lr 0.005, 5 epochs, auto_find_batch_size), with
 * "I want you to act as a logistician. " generated before and after (max_length 100, repetition_penalty 1.5).
 * Needs the Hugging Face hub (or both repos already in the cache): `npx tsc -p . && node dist/examples/seed-bloomz.js`.
 */
import { dataCollatorForLanguageModeling } from '../src/data/collator.js';
import { tokenizeTexts } from '../src/data/dataset.js';
import { loadHubDataset } from '../src/data/hub-source.js';
import { rowTexts } from '../src/data/text.js';
import { SoftpromptError } from '../src/errors.js';
import { generate } from '../src/generate/generate.js';
import { modelFromPretrained } from '../src/models/pretrained.js';
import { tokenizerFromPretrained } from '../src/tokenizer/pretrained.js';
import { promptTuningConfig } from '../src/peft/config.js';
import { PeftModel } from '../src/peft/peft-model.js';
import { Trainer } from '../src/train/trainer.js';

const MODEL = 'bigscience/bloomz-560m';
const DATASET = 'fka/awesome-chatgpt-prompts';
const PROMPT = 'I want you to act as a logistician. ';

async function seed(): Promise<void> {
  const tokenizer = await tokenizerFromPretrained(MODEL);
  const model = await modelFromPretrained(MODEL);
  try {
    const gen = { text: PROMPT, max_length: 100, repetition_penalty: 1.5, eos_token_id: tokenizer.eos_token_id ?? undefined };
    console.log('before:', (await generate(model, tokenizer, gen)).text![0]);

    const rows = (await loadHubDataset(DATASET, { split: 'train' })).slice(0, 50);
    const train = tokenizeTexts(rowTexts(rows, { column: 'prompt' }, DATASET), tokenizer).input_ids;
    const config = promptTuningConfig({ num_virtual_tokens: 4, prompt_tuning_init: 'RANDOM', tokenizer_name_or_path: MODEL }, model.config, MODEL);
    const peft = PeftModel.create(model, config, { tokenizer });
    console.log(peft.printTrainableParameters());
    const trainer = new Trainer({
      model: peft,
      args: { learning_rate: 0.005, num_train_epochs: 5, auto_find_batch_size: true, logging_steps: 5 },
      train_dataset: train,
      data_collator: dataCollatorForLanguageModeling({ pad_token_id: tokenizer.pad_token_id ?? tokenizer.eos_token_id! }),
      callbacks: { on_log: (entry) => console.log(JSON.stringify(entry)) },
    });
    const out = await trainer.train();
    console.log(`trained ${out.global_step} steps, train loss ${out.training_loss.toFixed(4)}`);

    console.log('after:', (await generate(model, tokenizer, { ...gen, prompt: peft.prompt() })).text![0]);
    await peft.savePretrained('seed-bloomz-adapter');
    console.log('adapter saved to seed-bloomz-adapter/');
  } finally {
    await model.engine.close();
  }
}

seed().catch((e: unknown) => {
  if (!(e instanceof SoftpromptError)) throw e;
  console.error(`seed-bloomz: ${e.message}`);
  console.error(`(this example needs ${MODEL} and ${DATASET} from the Hugging Face hub, or already in its cache)`);
  process.exitCode = 2;
});
