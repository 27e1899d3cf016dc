// PeftModel: creating and saving adapters, several named adapters on one frozen model, parameter counts, and the
// typed errors for adapters that cannot be used.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError, MissingError, OptionError, ShapeError, UnsupportedError } from '../src/errors.js';
import { loadTokenizer } from '../src/tokenizer/pretrained.js';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../src/peft/adapter.js';
import { promptTuningConfig } from '../src/peft/config.js';
import { PeftModel } from '../src/peft/peft-model.js';
import { Engine } from '../src/runtime/engine.js';
import { FIXTURES, fixture } from './fixtures.js';
import { loadFixtureModel, readGolden } from './golden.js';
import { elementCount } from '../src/shape.js';

const engine = Engine.create();
after(() => engine.close());

const golden = (model: string, dir: string) => join(FIXTURES, 'golden', model, dir);

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'softprompt-peft-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('create with TEXT init gives PEFT\'s prompt; save -> load gives the same prompt and logits', async (t) => {
  if (!fixture(t, 'golden', 'stories260K')) return;
  const model = await loadFixtureModel('stories260K', engine);
  const { inputs, tensors } = readGolden('stories260K');
  const config = promptTuningConfig(
    { num_virtual_tokens: 4, prompt_tuning_init: 'TEXT', prompt_tuning_init_text: inputs.init_text },
    model.config,
    'stories260K',
  );
  const tokenizer = await loadTokenizer(join(FIXTURES, 'models', 'stories260K'));
  const peft = PeftModel.create(model, config, { tokenizer });
  assert.deepEqual(peft.prompt(), Float32Array.from(tensors.float32('text.prompt_init')));
  assert.equal(peft.adapterConfig().inference_mode, false);

  await withTempDir(async (dir) => {
    await peft.savePretrained(dir);
    const saved = JSON.parse(await readFile(join(dir, ADAPTER_CONFIG), 'utf8'));
    assert.equal(saved.inference_mode, true);
    const loaded = await PeftModel.fromPretrained(model, dir);
    assert.deepEqual(loaded.prompt(), peft.prompt());
    assert.deepEqual(loaded.adapterConfig(), { ...peft.adapterConfig(), inference_mode: true });
    const batch = inputs.cases.left;
    const [a, b] = [await peft.forward(batch), await loaded.forward(batch)];
    assert.deepEqual(b.logits!.data, a.logits!.data);
  });
});

test('create with RANDOM init repeats for a seed; TEXT init without a tokenizer is refused', async (t) => {
  if (!fixture(t, 'models', 'gpt2-tiny')) return;
  const model = await loadFixtureModel('gpt2-tiny', engine);
  const random = promptTuningConfig({ num_virtual_tokens: 3 }, model.config);
  assert.deepEqual(PeftModel.create(model, random, { seed: 5 }).prompt(), PeftModel.create(model, random, { seed: 5 }).prompt());
  assert.equal(PeftModel.create(model, random).adapterConfig().base_model_name_or_path, model.source);
  const text = promptTuningConfig({ num_virtual_tokens: 3, prompt_tuning_init: 'TEXT', prompt_tuning_init_text: 'hi' }, model.config, 'gpt2-tiny');
  assert.throws(() => PeftModel.create(model, text), OptionError);
});

test('named adapters: load two, switch, list, delete, save the non-default one under dir/<name>/', async (t) => {
  if (!fixture(t, 'golden', 'llama-tiny')) return;
  const model = await loadFixtureModel('llama-tiny', engine);
  const { inputs, tensors } = readGolden('llama-tiny');
  const peft = await PeftModel.fromPretrained(model, golden('llama-tiny', 'adapter_random'));
  await peft.loadAdapter(golden('llama-tiny', 'adapter_text'), 'text');
  assert.deepEqual(peft.listAdapters(), ['default', 'text']);
  assert.equal(peft.activeAdapter, 'default', 'loading does not activate');

  peft.setAdapter('text');
  assert.equal(peft.activeAdapter, 'text');
  assert.deepEqual(peft.prompt(), Float32Array.from(tensors.float32('text.prompt_init')));
  const out = await peft.forward(inputs.cases.single);
  const direct = await model.forward(inputs.cases.single, { prompt: tensors.float32('text.prompt_init') });
  assert.deepEqual(out.logits!.data, direct.logits!.data);
  assert.throws(() => peft.setAdapter('nope'), MissingError);
  await assert.rejects(peft.loadAdapter(golden('llama-tiny', 'adapter_text'), 'text'), OptionError);
  await assert.rejects(peft.loadAdapter(golden('llama-tiny', 'adapter_text'), '../up'), OptionError);

  await withTempDir(async (dir) => {
    await peft.savePretrained(dir);
    assert.ok(existsSync(join(dir, ADAPTER_WEIGHTS)), 'default adapter in dir/');
    assert.ok(existsSync(join(dir, 'text', ADAPTER_WEIGHTS)), 'named adapter in dir/text/');
    const reloaded = await PeftModel.fromPretrained(model, join(dir, 'text'), 'text');
    assert.deepEqual(reloaded.prompt(), peft.prompt('text'));
  });

  peft.deleteAdapter('text');
  assert.deepEqual(peft.listAdapters(), ['default']);
  assert.equal(peft.activeAdapter, 'default', 'deleting the active adapter activates the one left');
  assert.throws(() => peft.deleteAdapter('default'), OptionError);
});

test('trainable parameters count the prompt; all params the base model (tied weights once) plus every prompt', async (t) => {
  for (const name of ['bloom-tiny-4h', 'llama-tiny', 'stories260K']) {
    if (!fixture(t, 'models', name)) return;
    const model = await loadFixtureModel(name, engine);
    // These checkpoints hold exactly the model's parameters (no buffers), tied lm_head absent.
    const base = model.weights.names().reduce((s, n) => s + elementCount(model.weights.shape(n)), 0);
    const peft = PeftModel.create(model, promptTuningConfig({ num_virtual_tokens: 4 }, model.config));
    const trainable = 4 * model.config.hiddenSize;
    assert.deepEqual(peft.trainableParameters(), { trainable, all: base + trainable, percent: (100 * trainable) / (base + trainable) });
    peft.addAdapter('second', peft.adapterConfig(), new Float32Array(trainable));
    assert.equal(peft.trainableParameters().all, base + 2 * trainable, name);
  }
  const model = await loadFixtureModel('bloom-tiny-4h', engine);
  const peft = PeftModel.create(model, promptTuningConfig({ num_virtual_tokens: 4 }, model.config));
  assert.match(peft.printTrainableParameters(), /^trainable params: 256 \|\| all params: [\d,]+ \|\| trainable%: 0\.\d+$/);
});

test('adapter errors: other hidden size, missing peft_type, missing files, unsupported task; unknown keys ignored', async (t) => {
  if (!fixture(t, 'golden', 'bloom-tiny-4h')) return;
  const model = await loadFixtureModel('bloom-tiny-4h', engine);
  const wider = golden('bloom-tiny-6h', 'adapter_random');
  await assert.rejects(PeftModel.fromPretrained(model, wider), (e) => e instanceof ShapeError && e.where === join(wider, ADAPTER_CONFIG));

  await withTempDir(async (dir) => {
    const source = golden('bloom-tiny-4h', 'adapter_random');
    const config = JSON.parse(await readFile(join(source, ADAPTER_CONFIG), 'utf8'));
    const variant = async (name: string, edit: (c: Record<string, unknown>) => void, files = [ADAPTER_CONFIG, ADAPTER_WEIGHTS]) => {
      const d = join(dir, name);
      await mkdir(d);
      if (files.includes(ADAPTER_WEIGHTS)) await cp(join(source, ADAPTER_WEIGHTS), join(d, ADAPTER_WEIGHTS));
      const c = { ...config };
      edit(c);
      if (files.includes(ADAPTER_CONFIG)) await writeFile(join(d, ADAPTER_CONFIG), JSON.stringify(c));
      return d;
    };
    const noType = await variant('no-type', (c) => delete c.peft_type);
    await assert.rejects(PeftModel.fromPretrained(model, noType), (e) => e instanceof FormatError && /peft_type/.test(e.message));
    const lora = await variant('lora', (c) => (c.peft_type = 'LORA'));
    await assert.rejects(PeftModel.fromPretrained(model, lora), UnsupportedError);
    const seqCls = await variant('seq-cls', (c) => (c.task_type = 'SEQ_CLS'));
    await assert.rejects(PeftModel.fromPretrained(model, seqCls), UnsupportedError);
    const noWeights = await variant('no-weights', () => {}, [ADAPTER_CONFIG]);
    await assert.rejects(PeftModel.fromPretrained(model, noWeights), (e) => e instanceof MissingError && e.where === join(noWeights, ADAPTER_WEIGHTS));
    const noConfig = await variant('no-config', () => {}, [ADAPTER_WEIGHTS]);
    await assert.rejects(PeftModel.fromPretrained(model, noConfig), (e) => e instanceof MissingError && e.where === join(noConfig, ADAPTER_CONFIG));
    const badField = await variant('bad-field', (c) => (c.num_layers = 'two'));
    await assert.rejects(PeftModel.fromPretrained(model, badField), (e) => e instanceof FormatError && /num_layers/.test(e.message));

    const newer = await variant('newer', (c) => Object.assign(c, { peft_version: '0.13.0', runtime_config: {} }));
    const peft = await PeftModel.fromPretrained(model, newer);
    assert.equal('peft_version' in peft.adapterConfig(), false);
    await peft.savePretrained(join(dir, 'resaved'));
    assert.deepEqual(await readFile(join(dir, 'resaved', ADAPTER_CONFIG)), await readFile(join(source, ADAPTER_CONFIG)));
  });
});

test('a prompt or config that does not fit the model is a ShapeError', async (t) => {
  if (!fixture(t, 'models', 'bloom-tiny-4h')) return;
  const model = await loadFixtureModel('bloom-tiny-4h', engine);
  const config = promptTuningConfig({ num_virtual_tokens: 2 }, model.config);
  const peft = PeftModel.create(model, config);
  assert.throws(() => peft.addAdapter('short', config, new Float32Array(3)), ShapeError);
  assert.throws(() => peft.addAdapter('wide', { ...config, token_dim: 96 }, new Float32Array(192)), ShapeError);
  assert.throws(() => PeftModel.create(model, { ...config, token_dim: 96 }), ShapeError);
});
