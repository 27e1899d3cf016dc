// The library's P-tuning, prefix tuning and multitask prompt tuning, everything imported from the package entry:
// get_peft_model with each config, from_pretrained dispatching on PEFT's saved peft_type (forward and generate against
// the goldens, task_ids for multitask), a Trainer run reading a task_id column, and P-tuning resuming from a
// checkpoint that keeps the encoder's weights.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AutoModelForCausalLM, DataCollatorForLanguageModeling, get_peft_model, MultitaskPromptTuningConfig, OptionError, PeftModel,
  PrefixTuningConfig, PromptEncoderConfig, PromptEncoderReparameterizationType, Trainer, TrainingArguments, type PreTrainedModel,
  AutoTokenizer, type PreTrainedTokenizer,
} from '../src/index.js';
import { FIXTURES, fixture } from './fixtures.js';
import { relDiff } from './golden.js';
import { Safetensors } from '../src/weights/safetensors.js';

const NAME = 'stories260K';
const MODEL = join(FIXTURES, 'models', NAME);
const tmp = mkdtempSync(join(tmpdir(), 'softprompt-library-methods-'));
let model: PreTrainedModel | null = null;
let tokenizer: PreTrainedTokenizer | null = null;

before(async () => {
  if (!existsSync(MODEL)) return;
  model = await AutoModelForCausalLM.from_pretrained(MODEL, { local_files_only: true });
  tokenizer = await AutoTokenizer.from_pretrained(MODEL);
});
after(async () => {
  await model?.dispose();
  rmSync(tmp, { recursive: true, force: true });
});

function golden(method: string) {
  const dir = join(FIXTURES, 'golden-methods', NAME, method);
  return {
    dir,
    inputs: JSON.parse(readFileSync(join(FIXTURES, 'golden-methods', NAME, 'inputs.json'), 'utf8')),
    results: JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')),
    tensors: Safetensors.parse(readFileSync(join(dir, 'tensors.safetensors')), dir),
  };
}

test('get_peft_model takes each config and counts the parameters PEFT trains', async (t) => {
  if (!fixture(t, 'golden-methods', NAME)) return;
  const configs = {
    ptuning_lstm: new PromptEncoderConfig({ task_type: 'CAUSAL_LM', num_virtual_tokens: 4, encoder_reparameterization_type: PromptEncoderReparameterizationType.LSTM, encoder_hidden_size: 32 }),
    ptuning_mlp: new PromptEncoderConfig({ task_type: 'CAUSAL_LM', num_virtual_tokens: 4, encoder_hidden_size: 32 }),
    prefix_proj: new PrefixTuningConfig({ task_type: 'CAUSAL_LM', num_virtual_tokens: 4, prefix_projection: true, encoder_hidden_size: 32 }),
    prefix_noproj: new PrefixTuningConfig({ task_type: 'CAUSAL_LM', num_virtual_tokens: 4 }),
    multitask: new MultitaskPromptTuningConfig({ task_type: 'CAUSAL_LM', num_virtual_tokens: 4, num_tasks: 3, num_ranks: 1 }),
  };
  const { inputs } = golden('multitask');
  for (const [method, config] of Object.entries(configs)) {
    const peft = await get_peft_model(model!, config);
    const [trainable] = peft.get_nb_trainable_parameters();
    assert.equal(trainable, golden(method).results.num_trainable, method);
    const batch = { ...inputs.cases.single, task_ids: [1] };
    const out = await peft.forward(batch);
    const T = batch.input_ids[0].length;
    assert.deepEqual(out.logits.dims, [1, method.startsWith('prefix') ? T : T + 4, 512], method);
  }
  // PEFT >= 0.12's dims on this grouped-query model: the prefix is as wide as the KV heads.
  const prefix = await get_peft_model(model!, configs.prefix_noproj);
  assert.equal(prefix.peft_config.default.token_dim, 32);
  assert.equal(prefix.peft_config.default.num_attention_heads, 4);
  const multitask = await get_peft_model(model!, configs.multitask);
  await assert.rejects(() => multitask.forward(inputs.cases.single), (e: unknown) => e instanceof OptionError && /task_ids/.test(e.message));
  assert.throws(() => new PromptEncoderConfig({ task_type: 'CAUSAL_LM', num_virtual_tokens: 4, encoder_dropout: 0.1 }), /encoder_dropout/);
});

test('from_pretrained loads every method PEFT saved: forward and generate (task_ids for multitask) give its goldens', async (t) => {
  if (!fixture(t, 'golden-methods', NAME)) return;
  for (const method of ['ptuning_mlp', 'ptuning_lstm', 'prefix_noproj', 'prefix_proj', 'multitask']) {
    const g = golden(method);
    const peft = await PeftModel.from_pretrained(model!, join(g.dir, 'adapter'));
    assert.equal(peft.peft_config.default.peft_type, g.results.peft_config_resolved.peft_type);
    for (const name of ['right', 'single']) {
      const out = await peft.forward({ ...g.inputs.cases[name], task_ids: g.results.task_ids?.[name] });
      assert.ok(relDiff(out.logits.data, g.tensors.float32(`${name}.peft_logits`)) < 5e-6, `${method} ${name}`);
    }
    const { input_ids, attention_mask } = g.inputs.cases.left;
    const ids = await peft.generate({
      input_ids, attention_mask, max_new_tokens: 8, repetition_penalty: 1.5, pad_token_id: 0, eos_token_id: 2, task_ids: g.results.task_ids?.left,
    });
    assert.deepEqual(ids, g.results['left.generate_ids'], method);
  }
});

test('a Trainer trains a multitask adapter from a task_id column, and P-tuning resumes from its checkpoint', async (t) => {
  if (!fixture(t, 'models', NAME)) return;
  const texts = ['Once upon a time there was a cat.', 'The dog ran to the park.', 'Lily liked her red ball.', 'Tom was happy.'];
  const rows = texts.map((text, i) => ({ ...tokenizer!(text), task_id: i % 2 }));
  const collator = new DataCollatorForLanguageModeling({ tokenizer: tokenizer!, mlm: false });
  const multitask = await get_peft_model(model!, new MultitaskPromptTuningConfig({ task_type: 'CAUSAL_LM', num_virtual_tokens: 4, num_tasks: 2 }));
  const args = new TrainingArguments({ learning_rate: 0.05, max_steps: 4, per_device_train_batch_size: 2, logging_steps: 1 });
  const trainer = new Trainer({ model: multitask, args, train_dataset: rows, eval_dataset: rows, data_collator: collator });
  const start = (await trainer.evaluate()).eval_loss;
  const out = await trainer.train();
  assert.ok(out.metrics.eval_loss < start, `${out.metrics.eval_loss} < ${start}`);

  // P-tuning: PEFT's adapter files hold the encoder's output only, the checkpoint every weight.
  const config = () => new PromptEncoderConfig({ task_type: 'CAUSAL_LM', num_virtual_tokens: 4, encoder_reparameterization_type: 'LSTM', encoder_hidden_size: 8 });
  const run = async (output_dir: string, resume: boolean, max_steps: number) => {
    const peft = await get_peft_model(model!, config(), { seed: 7 });
    const trainer = new Trainer({
      model: peft, train_dataset: rows, data_collator: collator,
      args: new TrainingArguments({ output_dir, learning_rate: 0.01, lr_scheduler_type: 'constant', max_steps, per_device_train_batch_size: 2, save_steps: 1 }),
    });
    await trainer.train({ resume_from_checkpoint: resume });
    return peft;
  };
  const straight = await run(join(tmp, 'straight'), false, 4);
  await run(join(tmp, 'resumed'), false, 2);
  assert.ok(existsSync(join(tmp, 'resumed', 'checkpoint-2', 'prompt_encoder.safetensors')));
  const resumed = await run(join(tmp, 'resumed'), true, 4);
  assert.deepEqual(resumed.peft.parameters(), straight.peft.parameters());
  await straight.save_pretrained(join(tmp, 'adapter'));
  const saved = Safetensors.parse(readFileSync(join(tmp, 'adapter', 'adapter_model.safetensors')), 'adapter');
  assert.deepEqual(saved.names(), ['prompt_embeddings']);
  assert.deepEqual(Float32Array.from(saved.float32('prompt_embeddings')), await straight.peft.encoderOutput());
});
