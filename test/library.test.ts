// The public library as a Python/transformers.js user writes it, everything imported from the package entry: the
// names, the shapes they return, and that they give the goldens of transformers + PEFT (stories260K).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AutoModelForCausalLM, AutoTokenizer, DataCollatorForLanguageModeling, get_peft_model, load_dataset, MissingError,
  OptionError, PeftModel, PromptTuningConfig, PromptTuningInit, range, TaskType, Trainer, TrainingArguments,
  type PreTrainedModel, type PreTrainedTokenizer,
} from '../src/index.js';
import { FIXTURES, fixture } from './fixtures.js';
import { readGolden, relDiff } from './golden.js';

const MODEL = join(FIXTURES, 'models', 'stories260K');
const tmp = mkdtempSync(join(tmpdir(), 'softprompt-library-'));
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

const textConfig = () => new PromptTuningConfig({
  task_type: TaskType.CAUSAL_LM, prompt_tuning_init: PromptTuningInit.TEXT, num_virtual_tokens: 4,
  prompt_tuning_init_text: 'Once upon a time', tokenizer_name_or_path: MODEL,
});

test('the tokenizer is callable: rows of ids and masks, padding on its padding side, batch_decode', (t) => {
  if (!fixture(t, 'models', 'stories260K')) return;
  const { inputs } = readGolden('stories260K');
  // The goldens' rows are their texts cut to 12, 8 and 5 ids.
  const enc = tokenizer!(['The cat was', 'Tom and his mom went to the park.'], { padding: true, truncation: true, max_length: 8 });
  assert.deepEqual(enc.input_ids[1], inputs.token_ids_unpadded[1]);
  assert.deepEqual(enc.input_ids[0], [...inputs.token_ids_unpadded[2], 0, 0, 0]);
  assert.deepEqual(enc.attention_mask[0], [1, 1, 1, 1, 1, 0, 0, 0]);
  assert.deepEqual(tokenizer!('The cat was').input_ids, [inputs.token_ids_unpadded[2]]);
  assert.deepEqual(tokenizer!.batch_decode(enc.input_ids, { skip_special_tokens: true }), ['The cat was', 'Tom and his mom went']);
  assert.equal(tokenizer!.eos_token_id, 2);
});

test('model.forward gives transformers\' logits and loss as a Tensor', async (t) => {
  if (!fixture(t, 'golden', 'stories260K')) return;
  const { inputs, results, tensors } = readGolden('stories260K');
  const out = await model!.forward(inputs.cases.right);
  assert.deepEqual(out.logits.dims, tensors.entry('base.right.logits').shape);
  assert.ok(relDiff(out.logits.data, tensors.float32('base.right.logits')) < 1e-4);
  assert.ok(Math.abs(out.loss! - (results['base.right.loss'] as number)) < 1e-4);
});

test('get_peft_model with TEXT init gives PEFT\'s prompt and logits; print_trainable_parameters prints PEFT\'s line', async (t) => {
  if (!fixture(t, 'golden', 'stories260K')) return;
  const { inputs, tensors } = readGolden('stories260K');
  const peft = await get_peft_model(model!, textConfig());
  const out = await peft.forward(inputs.cases.right);
  assert.ok(relDiff(out.logits.data, tensors.float32('text.right.peft_logits')) < 1e-4);
  assert.match(peft.print_trainable_parameters(), /^trainable params: 256 \|\| all params: [\d,]+ \|\| trainable%: /);
  assert.equal(peft.peft_config.default.token_dim, 64);
});

test('save_pretrained / from_pretrained / load_adapter / set_adapter / delete_adapter keep PEFT\'s layout and names', async (t) => {
  if (!fixture(t, 'golden', 'stories260K')) return;
  const { inputs } = readGolden('stories260K');
  const peft = await get_peft_model(model!, textConfig());
  const random = new PromptTuningConfig({ task_type: 'CAUSAL_LM', num_virtual_tokens: 2 });
  const other = await get_peft_model(model!, random, { adapter_name: 'quotes' });
  const dir = join(tmp, 'adapters');
  await peft.save_pretrained(dir);
  await other.save_pretrained(dir);
  assert.ok(existsSync(join(dir, 'adapter_model.safetensors')) && existsSync(join(dir, 'quotes', 'adapter_config.json')));

  const loaded = await PeftModel.from_pretrained(model!, dir);
  await loaded.load_adapter(join(dir, 'quotes'), 'quotes');
  assert.equal(loaded.active_adapter, 'default');
  const batch = { input_ids: [inputs.token_ids_unpadded[2]] };
  const first = await loaded.forward(batch);
  loaded.set_adapter('quotes');
  assert.equal(loaded.active_adapter, 'quotes');
  assert.deepEqual((await loaded.forward(batch)).logits.dims, [1, 2 + 5, 512]);
  assert.deepEqual((await loaded.forward(batch)).logits.data, (await other.forward(batch)).logits.data);
  loaded.delete_adapter('quotes');
  assert.equal(loaded.active_adapter, 'default');
  assert.deepEqual((await loaded.forward(batch)).logits.data, first.logits.data);
  await assert.rejects(() => PeftModel.from_pretrained(model!, join(tmp, 'nowhere')), MissingError);
});

test('generate returns input ids + new ids; adapter_names runs a mixed batch whose rows equal their runs alone', async (t) => {
  if (!fixture(t, 'golden', 'stories260K')) return;
  const { inputs, results } = readGolden('stories260K');
  const peft = await get_peft_model(model!, textConfig());
  const { input_ids, attention_mask } = inputs.cases.single;
  const opts = { max_new_tokens: 16, repetition_penalty: 1.5 };
  assert.deepEqual(await peft.generate({ input_ids, attention_mask, ...opts }), results['text.single.generate_ids']);

  tokenizer!.padding_side = 'left';
  const texts = ['Once upon a time', 'The dog'];
  const enc = tokenizer!(texts, { padding: true });
  tokenizer!.padding_side = 'right';
  const mixed = await peft.generate({ ...enc, max_new_tokens: 6, adapter_names: ['default', '__base__'] });
  const alone = await peft.generate({ ...tokenizer!(texts[0]), max_new_tokens: 6 });
  const base = await model!.generate({ ...tokenizer!(texts[1]), max_new_tokens: 6 });
  const strip = (row: number[]) => row.filter((id) => id !== 0);
  assert.deepEqual(strip(mixed[0]), strip(alone[0]));
  assert.deepEqual(strip(mixed[1]), strip(base[0]));
  await assert.rejects(() => peft.generate({ ...enc, adapter_names: ['nope', '__base__'] }), MissingError);
});

test('load_dataset + map + select + Trainer train a prompt and checkpoint into output_dir', async (t) => {
  const texts = fixture(t, 'golden', 'stories260K', 'train_texts.json');
  if (!texts) return;
  const file = join(tmp, 'stories.jsonl');
  writeFileSync(file, (JSON.parse(readFileSync(texts, 'utf8')) as string[]).map((text) => JSON.stringify({ text })).join('\n'));
  let data = await load_dataset('json', { data_files: file });
  data = data.map((x) => tokenizer!(x['text']), { batched: true });
  const train = data['train'].select(range(16));
  assert.deepEqual(train.column_names, ['text', 'input_ids', 'attention_mask']);
  const peft = await get_peft_model(model!, new PromptTuningConfig({ task_type: 'CAUSAL_LM', num_virtual_tokens: 4 }));
  const output_dir = join(tmp, 'run');
  const args = new TrainingArguments({ output_dir, use_cpu: true, learning_rate: 0.1, max_steps: 6, per_device_train_batch_size: 4, logging_steps: 1 });
  const trainer = new Trainer({ model: peft, args, train_dataset: train, eval_dataset: train, data_collator: new DataCollatorForLanguageModeling({ tokenizer: tokenizer!, mlm: false }) });
  const before = (await trainer.evaluate()).eval_loss;
  const out = await trainer.train();
  assert.equal(out.global_step, 6);
  assert.ok(out.metrics.eval_loss < before, `${out.metrics.eval_loss} < ${before}`);
  assert.ok(existsSync(join(output_dir, 'checkpoint-6', 'adapter_model.safetensors')));
  assert.equal(trainer.model, peft);
});

test('bad options are typed errors naming the field', async (t) => {
  assert.throws(() => new TrainingArguments({ learning_rat: 0.1 }), (e: unknown) => e instanceof OptionError && /learning_rat/.test(e.message));
  assert.throws(() => new PromptTuningConfig({ task_type: 'CAUSAL_LM', num_virtual_tokens: 0 }), OptionError);
  assert.throws(() => new PromptTuningConfig({ task_type: 'SEQ_2_SEQ_LM' as 'CAUSAL_LM', num_virtual_tokens: 4 }), /task_type/);
  if (!fixture(t, 'models', 'stories260K')) return;
  const dir = join(tmp, 'inference');
  await (await get_peft_model(model!, textConfig())).save_pretrained(dir);
  const frozen = await PeftModel.from_pretrained(model!, dir);
  const collator = new DataCollatorForLanguageModeling({ tokenizer: tokenizer!, mlm: false });
  assert.throws(() => new Trainer({ model: frozen, args: new TrainingArguments(), train_dataset: [[1, 2]], data_collator: collator }), /is_trainable/);
  assert.throws(() => new DataCollatorForLanguageModeling({ tokenizer: tokenizer!, mlm: true }), /mlm/);
});
