// Real prompt tuning of the pretrained stories260K model on the golden run's 80 texts with the golden run's settings
// (8 virtual tokens, TEXT init "Once upon a time", lr 0.03, batch 4, 2 epochs, max_length 64) but softprompt's own
// shuffling: the losses must land within 5% of what PEFT + transformers reached.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dataCollatorForLanguageModeling } from '../src/data/collator.js';
import { tokenizeTexts } from '../src/data/dataset.js';
import { loadTokenizer } from '../src/tokenizer/pretrained.js';
import { promptTuningConfig } from '../src/peft/config.js';
import { PeftModel } from '../src/peft/peft-model.js';
import { Engine } from '../src/runtime/engine.js';
import { Trainer } from '../src/train/trainer.js';
import { fixture } from './fixtures.js';
import { loadFixtureModel } from './golden.js';

const engine = Engine.create();
after(() => engine.close());

test('stories260K: training reaches PEFT\'s losses within 5% and the adapter beats no adapter on the texts', async (t) => {
  const golden = fixture(t, 'golden', 'stories260K');
  const modelDir = fixture(t, 'models', 'stories260K');
  if (!golden || !modelDir) return;
  const run = JSON.parse(readFileSync(join(golden, 'trainer', 'trainer_run.json'), 'utf8'));
  const texts: string[] = JSON.parse(readFileSync(join(golden, 'train_texts.json'), 'utf8'));
  const tokenizer = await loadTokenizer(modelDir);
  const { input_ids } = tokenizeTexts(texts, tokenizer, 64);
  assert.deepEqual(input_ids.map((ids) => ids.length), run.example_token_lengths);

  const model = await loadFixtureModel('stories260K', engine);
  const collate = dataCollatorForLanguageModeling({ pad_token_id: tokenizer.pad_token_id! });
  const meanLoss = async (prompt?: Float32Array) => {
    let sum = 0;
    for (const ids of input_ids) sum += (await model.forward(collate([ids]), { prompt, logits: false })).loss!;
    return sum / input_ids.length;
  };
  const noAdapter = await meanLoss();

  const config = promptTuningConfig(
    { num_virtual_tokens: 8, prompt_tuning_init: 'TEXT', prompt_tuning_init_text: 'Once upon a time' },
    model.config,
    'stories260K',
  );
  const peft = PeftModel.create(model, config, { tokenizer });
  const before = await meanLoss(peft.prompt());
  const trainer = new Trainer({
    model: peft,
    train_dataset: input_ids,
    data_collator: collate,
    args: { learning_rate: 0.03, per_device_train_batch_size: 4, num_train_epochs: 2, save_strategy: 'no' },
  });
  const out = await trainer.train();
  const afterTraining = await meanLoss(peft.prompt());
  t.diagnostic(`mean loss over the texts: no adapter ${noAdapter.toFixed(4)}, init ${before.toFixed(4)}, trained ${afterTraining.toFixed(4)} (PEFT ${run.mean_train_loss_after.toFixed(4)})`);
  t.diagnostic(`train_loss ${out.training_loss.toFixed(4)} (PEFT ${run.training_loss.toFixed(4)}), ${out.global_step} steps`);

  assert.equal(out.global_step, run.global_step);
  assert.ok(Math.abs(before - run.mean_train_loss_before) / run.mean_train_loss_before < 1e-4, `initial loss ${before}`);
  assert.ok(Math.abs(out.training_loss - run.training_loss) / run.training_loss < 0.05, `train_loss ${out.training_loss} vs ${run.training_loss}`);
  assert.ok(Math.abs(afterTraining - run.mean_train_loss_after) / run.mean_train_loss_after < 0.05, `trained loss ${afterTraining} vs ${run.mean_train_loss_after}`);
  assert.ok(afterTraining < noAdapter, `trained ${afterTraining} vs no adapter ${noAdapter}`);
});
