// Virtual tokens placed inside the sequence (ForwardOptions.promptAt): for families with each position scheme (RoPE,
// ALiBi, learned positions, OPT's positions from the mask, a sliding window), a prompt made of token embeddings placed
// at row-dependent positions gives exactly the logits and loss of those tokens written into the input there, pads
// included; its gradient matches central differences; all-zero positions are PEFT's prepended prompt. Adapters that
// record virtual_tokens_position: before_completion get that placement in training batches and generation, P-tuning and
// multitask ones too; prefix tuning refuses it (a prefix is the attention cache). The library's configs take it for the
// same three methods: a P-tuning adapter trained through the library keeps it across save and reload, and the saved
// adapter_config.json has the key only when it is not 'start'.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ForwardBatch, PretrainedModel } from '../src/models/model.js';
import { promptOrder, shiftedTargets } from '../src/models/model.js';
import { embeddingRows } from '../src/peft/init.js';
import { adapterConfigOf, promptTuningConfigOf, type Adapter } from '../src/peft/adapter.js';
import { multitaskPromptTuningConfig, promptEncoderConfig } from '../src/peft/methods.js';
import { PeftModel } from '../src/peft/peft-model.js';
import { OptionError, UnsupportedError } from '../src/errors.js';
import { promptTuningFields } from '../src/peft/config.js';
import { dataCollatorForLanguageModeling } from '../src/data/collator.js';
import { generate } from '../src/generate/generate.js';
import { argmax } from '../src/generate/logits.js';
import { Engine } from '../src/runtime/engine.js';
import {
  AutoModelForCausalLM, AutoTokenizer, DataCollatorForLanguageModeling, get_peft_model, MultitaskPromptTuningConfig, PeftModel as LibraryPeftModel,
  PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig, tokenize_prompt_completion, Trainer, TrainingArguments,
} from '../src/index.js';
import { fixture } from './fixtures.js';
import { randomTuning } from './random-model.js';

const engine = Engine.create({ threads: 1 });
const tmp = mkdtempSync(join(tmpdir(), 'softprompt-position-'));
after(() => {
  rmSync(tmp, { recursive: true, force: true });
  return engine.close();
});

const FAMILIES: Record<string, Record<string, unknown>> = {
  llama: { architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2 },
  bloom: { architectures: ['BloomForCausalLM'], model_type: 'bloom', hidden_size: 16, n_layer: 2, n_head: 4 },
  gpt2: { architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_embd: 16, n_layer: 2, n_head: 4, n_positions: 32 },
  opt: { architectures: ['OPTForCausalLM'], model_type: 'opt', hidden_size: 16, num_attention_heads: 4, num_hidden_layers: 2, ffn_dim: 32, max_position_embeddings: 32 },
  mistral: { architectures: ['MistralForCausalLM'], model_type: 'mistral', hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, sliding_window: 4 },
};

/**
 * Row 0 right-padded, row 1 left-padded; labels on the real tokens except row 1's first, which a pad predicts: a pad's
 * query sees no key, so its uniform attention reads keys after it (the virtual tokens at 4) through scores the fp32
 * minimum absorbs, where central differences cannot see the gradient autodiff sends (as in transformers).
 */
const BATCH: ForwardBatch = {
  input_ids: [[5, 17, 3, 42, 8, 0], [0, 0, 23, 9, 31, 2]],
  attention_mask: [[1, 1, 1, 1, 1, 0], [0, 0, 1, 1, 1, 1]],
  labels: [[5, 17, 3, 42, 8, -100], [-100, -100, -100, 9, 31, 2]],
};
const VIRTUAL = [7, 13, 29];
const AT = [3, 4];

/** The batch with the virtual tokens' ids written in at AT (mask 1, no labels). */
function inserted(batch: ForwardBatch): ForwardBatch {
  const put = (rows: number[][], fill: (id: number) => number) => rows.map((r, b) => [...r.slice(0, AT[b]), ...VIRTUAL.map(fill), ...r.slice(AT[b])]);
  return { input_ids: put(batch.input_ids, (id) => id), attention_mask: put(batch.attention_mask!, () => 1), labels: put(batch.labels!, () => -100) };
}

function close(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  assert.ok(worst < 1e-5, `${what}: worst relative difference ${worst}`);
}

for (const [family, config] of Object.entries(FAMILIES)) {
  test(`${family}: virtual tokens at row-dependent positions equal their tokens written into the input`, async () => {
    const { model } = randomTuning(config, engine);
    const prompt = embeddingRows(model)(VIRTUAL);
    const placed = await model.forward(BATCH, { prompt, promptAt: AT });
    const written = await model.forward(inserted(BATCH), {});
    assert.deepEqual(placed.logits!.dims, written.logits!.dims);
    close(placed.logits!.data as Float32Array, written.logits!.data as Float32Array, 'logits');
    assert.ok(Math.abs(placed.loss! - written.loss!) < 1e-5, `loss ${placed.loss} vs ${written.loss}`);
    await checkGradient(model, prompt);
  });
}

async function checkGradient(model: PretrainedModel, prompt: Float32Array): Promise<void> {
  const { grad } = await model.forward(BATCH, { prompt, promptAt: AT, grad: true, logits: false });
  const g = grad as Float32Array;
  const eps = 2e-3;
  const norm = Math.hypot(...g);
  const lossAt = async (sign: number) =>
    (await model.forward(BATCH, { prompt: prompt.map((v, i) => v + (sign * eps * g[i]) / norm), promptAt: AT, logits: false })).loss!;
  const fd = ((await lossAt(1)) - (await lossAt(-1))) / (2 * eps);
  assert.ok(Math.abs(fd - norm) <= 1e-2 * norm + 1e-4, `gradient along itself: autodiff ${norm} vs fd ${fd}`);
}

test('positions all 0 are the prepended prompt', async () => {
  const { model } = randomTuning(FAMILIES.llama, engine);
  const prompt = embeddingRows(model)(VIRTUAL);
  const front = await model.forward(BATCH, { prompt, grad: true });
  const zero = await model.forward(BATCH, { prompt, promptAt: [0, 0], grad: true });
  assert.deepEqual(zero.logits!.data, front.logits!.data);
  assert.equal(zero.loss, front.loss);
  assert.deepEqual(zero.grad, front.grad);
});

test('prompt_order and the shifted targets follow the placement', () => {
  // n = 2 virtual tokens after token 1 of a 3-token row: [t0, t1, v0, v1, t2].
  assert.deepEqual(promptOrder([2], 2, 3), [2, 3, 0, 1, 4]);
  assert.deepEqual(promptOrder([0, 3], 2, 3), [0, 1, 2, 3, 4, 5 + 2, 5 + 3, 5 + 4, 5 + 0, 5 + 1]);
  // The last virtual token predicts t2; t0 has nothing before it.
  const targets = shiftedTargets([[10, 11, 12]], 2, [2]);
  assert.deepEqual([...(targets.target_rows.data as BigInt64Array)].map(Number), [0, 3]);
  assert.deepEqual([...(targets.target_ids.data as BigInt64Array)].map(Number), [11, 12]);
});

test('positions are checked', async () => {
  const { model } = randomTuning(FAMILIES.llama, engine);
  const prompt = embeddingRows(model)(VIRTUAL);
  await assert.rejects(model.forward(BATCH, { prompt, promptAt: [7, 0] }), /position 7 is outside \[0, 6\]/);
  await assert.rejects(model.forward(BATCH, { prompt, promptAt: [1] }), /expected 2 positions/);
  await assert.rejects(model.forward(BATCH, { promptAt: [1, 1] }), /needs a soft prompt/);
});

test('generation with an adapter placed before the completion equals the argmax of full forwards with the prompt after the input', async () => {
  const { model } = randomTuning(FAMILIES.llama, engine);
  const prompt = embeddingRows(model)(VIRTUAL);
  const adapter: Adapter = { config: { peft_type: 'PROMPT_TUNING', virtual_tokens_position: 'before_completion' }, peftType: 'PROMPT_TUNING', numVirtualTokens: 3, tokenDim: 16, prompt, tensors: new Map() };
  const input_ids = [[5, 17, 3, 42], [0, 0, 23, 9]];
  const attention_mask = [[1, 1, 1, 1], [0, 0, 1, 1]];
  const got = await generate(model, null, { input_ids, attention_mask, prompt: adapter, max_new_tokens: 3, eos_token_id: null });
  const ids = input_ids.map((r) => [...r]);
  const mask = attention_mask.map((r) => [...r]);
  for (let step = 0; step < 3; step++) {
    const { logits } = await model.forward({ input_ids: ids, attention_mask: mask }, { prompt, promptAt: [4, 4] });
    const [, S, V] = logits!.dims;
    ids.forEach((row, b) => {
      row.push(argmax((logits!.data as Float32Array).subarray((b * S + S - 1) * V, (b * S + S) * V)));
      mask[b].push(1);
    });
  }
  assert.deepEqual(got.sequences, ids);
});

test('the collator says where each completion starts, after padding on either side', () => {
  const examples = [{ input_ids: [4, 5, 6, 7], completion_mask: [0, 0, 1, 1] }, { input_ids: [8, 9], completion_mask: [0, 1] }];
  assert.deepEqual(dataCollatorForLanguageModeling({ pad_token_id: 0 })(examples).completion_start, [2, 1]);
  assert.deepEqual(dataCollatorForLanguageModeling({ pad_token_id: 0, padding_side: 'left' })(examples).completion_start, [2, 3]);
  assert.equal(dataCollatorForLanguageModeling({ pad_token_id: 0 })([[1, 2]]).completion_start, undefined);
});

test('virtual_tokens_position: written only when not start, read back, refused when unknown', () => {
  const fields = (position?: 'start' | 'before_completion') => promptTuningFields({ num_virtual_tokens: 2, virtual_tokens_position: position });
  assert.equal('virtual_tokens_position' in fields(), false);
  assert.equal('virtual_tokens_position' in fields('start'), false);
  assert.equal(fields('before_completion').virtual_tokens_position, 'before_completion');
  const adapter = (value: unknown): Adapter => ({ config: { peft_type: 'PROMPT_TUNING', virtual_tokens_position: value }, peftType: 'PROMPT_TUNING', numVirtualTokens: 1, tokenDim: 2, prompt: new Float32Array(2), tensors: new Map() });
  assert.equal(promptTuningConfigOf(adapter('before_completion'), 'a').virtual_tokens_position, 'before_completion');
  assert.equal('virtual_tokens_position' in promptTuningConfigOf(adapter('start'), 'a'), false);
  assert.throws(() => promptTuningConfigOf(adapter('middle'), 'a'), /"virtual_tokens_position" is "middle"; expected start \| before_completion/);
  assert.throws(() => promptTuningFields({ num_virtual_tokens: 2, virtual_tokens_position: 'middle' as 'start' }), /expected one of start, before_completion/);
});

test('P-tuning and multitask adapters placed before the completion: PeftModel puts their prompts at completion_start', async () => {
  const { model } = randomTuning(FAMILIES.llama, engine);
  const batch: ForwardBatch = { ...BATCH, completion_start: AT };
  const ptuning = PeftModel.create(model, promptEncoderConfig({ num_virtual_tokens: 3, encoder_hidden_size: 8, virtual_tokens_position: 'before_completion' }, model.config));
  const prompt = await ptuning.encoderOutput();
  const got = await ptuning.forward(batch, { grad: true });
  const want = await model.forward(BATCH, { prompt, promptAt: AT });
  assert.ok(Math.abs(got.loss! - want.loss!) < 1e-6, `P-tuning loss ${got.loss} vs ${want.loss}`);
  await assert.rejects(ptuning.forward(BATCH), /needs completion_start/);

  const config = multitaskPromptTuningConfig({ num_virtual_tokens: 3, num_tasks: 2, virtual_tokens_position: 'before_completion' }, model.config);
  assert.equal(config.virtual_tokens_position, 'before_completion');
  const multitask = PeftModel.create(model, config);
  const prompts = await multitask.encoderOutput();
  const size = 3 * 16;
  const rows = [1, 0].map((t) => prompts.subarray(t * size, (t + 1) * size));
  const mixed = await multitask.forward({ ...batch, task_ids: [1, 0] });
  const placed = await model.forward(BATCH, { prompt: rows, promptAt: AT });
  assert.ok(Math.abs(mixed.loss! - placed.loss!) < 1e-6, `multitask loss ${mixed.loss} vs ${placed.loss}`);
});

test('a prefix stays in front: before_completion is refused for prefix tuning', () => {
  const prefix = (value: unknown): Adapter => ({
    config: { peft_type: 'PREFIX_TUNING', num_layers: 2, virtual_tokens_position: value }, peftType: 'PREFIX_TUNING', numVirtualTokens: 1, tokenDim: 8,
    prompt: new Float32Array(32), tensors: new Map(),
  });
  assert.throws(() => adapterConfigOf(prefix('before_completion'), 'a'), (e: Error) => e instanceof UnsupportedError && /virtual_tokens_position/.test(e.message));
  assert.equal('virtual_tokens_position' in adapterConfigOf(prefix('start'), 'a'), false);
});

test('the library: P-tuning placed before the completion trains on prompt-completion rows, saves the key only when not start, and reloads placed', async (t) => {
  const dir = fixture(t, 'models', 'stories260K');
  if (!dir) return;
  const model = await AutoModelForCausalLM.from_pretrained(dir, { local_files_only: true });
  try {
    const tokenizer = await AutoTokenizer.from_pretrained(dir);
    const pairs = [['Tom has a red ball. Color:', ' red'], ['The sky is blue. Color:', ' blue'], ['Lily saw a green frog. Color:', ' green'], ['The sun is yellow. Color:', ' yellow']];
    const rows = pairs.map(([prompt, completion]) => tokenize_prompt_completion(tokenizer, { prompt, completion }));
    const input_ids = [tokenizer.encode('The grass is green. Color:')];
    const gen = { input_ids, max_new_tokens: 4, eos_token_id: null };
    for (const position of ['before_completion', 'start'] as const) {
      const config = new PromptEncoderConfig({ task_type: 'CAUSAL_LM', num_virtual_tokens: 3, encoder_hidden_size: 8, virtual_tokens_position: position });
      assert.equal(config.virtual_tokens_position, position === 'start' ? undefined : position);
      const peft = await get_peft_model(model, config);
      const args = new TrainingArguments({ learning_rate: 0.01, max_steps: 3, per_device_train_batch_size: 2 });
      // Placed before the completion, PeftModel.forward needs each row's completion_start: the collator's, from completion_mask.
      await new Trainer({ model: peft, args, train_dataset: rows, data_collator: new DataCollatorForLanguageModeling({ tokenizer, mlm: false }) }).train();
      const saved = join(tmp, position);
      await peft.save_pretrained(saved);
      const file = JSON.parse(readFileSync(join(saved, 'adapter_config.json'), 'utf8'));
      assert.equal(Object.hasOwn(file, 'virtual_tokens_position'), position !== 'start', position);
      const reloaded = await LibraryPeftModel.from_pretrained(model, saved);
      const loaded = reloaded.peft_config.default;
      assert.ok(loaded.peft_type === 'P_TUNING');
      assert.equal(loaded.virtual_tokens_position, file.virtual_tokens_position);
      assert.deepEqual(await reloaded.generate(gen), await peft.generate(gen), position);
      if (position === 'start') continue;
      // The reloaded adapter decodes placed: the same prompt moved to the front continues differently.
      const front = join(tmp, 'moved-to-front');
      await peft.save_pretrained(front);
      const { virtual_tokens_position: _, ...rest } = file;
      writeFileSync(join(front, 'adapter_config.json'), JSON.stringify(rest));
      assert.notDeepEqual(await (await LibraryPeftModel.from_pretrained(model, front)).generate(gen), await reloaded.generate(gen));
    }
  } finally {
    await model.dispose();
  }
});

test('the library configs take virtual_tokens_position where the virtual tokens are input embeddings; PrefixTuningConfig refuses it', async (t) => {
  const dir = fixture(t, 'models', 'stories260K');
  if (!dir) return;
  const common = { task_type: 'CAUSAL_LM' as const, num_virtual_tokens: 2 };
  assert.throws(() => new PromptTuningConfig({ ...common, virtual_tokens_position: 'middle' as 'start' }), (e: unknown) => e instanceof OptionError && /virtual_tokens_position/.test(e.message));
  assert.throws(() => new MultitaskPromptTuningConfig({ ...common, virtual_tokens_position: 'middle' as 'start' }), OptionError);
  assert.throws(() => new PromptEncoderConfig({ ...common, virtual_tokens_position: 'middle' as 'start' }), OptionError);
  const late = { ...common, virtual_tokens_position: 'before_completion' as const };
  assert.throws(() => new PrefixTuningConfig(late as typeof common), (e: unknown) => e instanceof UnsupportedError && /past keys\/values/.test(e.message));
  assert.equal(new PrefixTuningConfig({ ...common, virtual_tokens_position: 'start' } as typeof common).peft_type, 'PREFIX_TUNING');
  const model = await AutoModelForCausalLM.from_pretrained(dir, { local_files_only: true });
  try {
    for (const config of [new PromptTuningConfig(late), new MultitaskPromptTuningConfig(late), new PromptEncoderConfig(late)]) {
      const filled = (await get_peft_model(model, config)).peft_config.default;
      assert.ok(filled.peft_type !== 'PREFIX_TUNING');
      assert.equal(filled.virtual_tokens_position, 'before_completion', config.peft_type);
    }
    const start = (await get_peft_model(model, new PromptTuningConfig({ ...common, virtual_tokens_position: 'start' }))).peft_config.default;
    assert.equal(Object.hasOwn(start, 'virtual_tokens_position'), false);
  } finally {
    await model.dispose();
  }
});
