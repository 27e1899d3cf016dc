// Full fine-tuning: weight gradients of real fixture models against finite differences, the Trainer lowering the loss
// with every weight trainable, the saved model loading back as the trained model, and checkpoints resuming exactly.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataCollatorForLanguageModeling } from '../src/data/collator.js';
import { modelFromPretrained } from '../src/models/pretrained.js';
import { Engine } from '../src/runtime/engine.js';
import { FullFineTuning } from '../src/train/finetune.js';
import { Trainer, type TrainOptions, type TrainerCallbacks } from '../src/train/trainer.js';
import { fixture, MORE_FAMILIES } from './fixtures.js';
import { loadFixtureModel, readGolden } from './golden.js';
import { MemoryStore } from './trainer-helpers.js';

const engine = Engine.create();
after(() => engine.close());

/** A unit vector of n deterministic values. */
function unitDirection(n: number, seed: number): Float32Array {
  let s = seed;
  const r = Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (2 * s) / 2147483648 - 1;
  });
  return unit(r);
}

function unit(x: Float32Array): Float32Array {
  let sum = 0;
  for (const v of x) sum += v * v;
  const norm = Math.sqrt(sum) || 1;
  return x.map((v) => v / norm);
}

for (const name of ['llama-tiny', 'stories260K', ...MORE_FAMILIES]) {
  test(`${name}: d(loss)/d(weight) matches central differences along the gradient plus a random direction, for every weight`, async (t) => {
    if (!fixture(t, 'golden', name)) return;
    const tuning = FullFineTuning.of(await loadFixtureModel(name, engine));
    const batch = readGolden(name).inputs.cases.right;
    const { grad } = await tuning.forward(batch, { grad: true, logits: false });
    const params = tuning.parameters();
    const lossAt = async () => (await tuning.forward(batch, { logits: false })).loss!;
    for (const [i, { name: weight, offset, size }] of tuning.weights.layout.entries()) {
      // Along the gradient the change is large enough to measure in float32; the random part checks the rest.
      const own = unit((grad as Float32Array).slice(offset, offset + size));
      const random = unitDirection(size, i + 1);
      const r = own.map((v, k) => v + random[k]);
      const saved = params.slice(offset, offset + size);
      const eps = 1e-2;
      const moved = async (sign: number) => {
        for (let k = 0; k < size; k++) params[offset + k] = saved[k] + sign * eps * r[k];
        return lossAt();
      };
      const fd = ((await moved(1)) - (await moved(-1))) / (2 * eps);
      params.set(saved, offset);
      let analytic = 0;
      for (let k = 0; k < size; k++) analytic += (grad as Float32Array)[offset + k] * r[k];
      assert.ok(Math.abs(fd - analytic) <= 1e-2 * Math.abs(analytic) + 1e-4, `${weight}: autodiff ${analytic} vs fd ${fd}`);
    }
  });
}

test('full fine-tuning with the Trainer lowers the loss, trains every weight and saves a loadable checkpoint', async (t) => {
  const dir = fixture(t, 'models', 'stories260K');
  if (!dir) return;
  const base = await loadFixtureModel('stories260K', engine);
  const tuning = FullFineTuning.of(base);
  const examples = readGolden('stories260K').inputs.cases.right.input_ids.map((row) => row.filter((id) => id !== 0));
  const collator = dataCollatorForLanguageModeling({ pad_token_id: 0 });
  const before = (await tuning.forward(collator(examples), { logits: false })).loss!;
  const trainer = new Trainer({
    model: tuning,
    args: { learning_rate: 3e-3, max_steps: 8, per_device_train_batch_size: examples.length, save_strategy: 'no' },
    train_dataset: examples,
    data_collator: collator,
  });
  await trainer.train();
  const after = (await tuning.forward(collator(examples), { logits: false })).loss!;
  assert.ok(after < before - 0.1, `loss ${before} -> ${after}`);
  const changed = tuning.weights.layout.filter(({ name }) => {
    const original = base.weights.float32(name);
    return tuning.weights.float32(name).some((v, k) => v !== original[k]);
  });
  assert.equal(changed.length, tuning.weights.layout.length);

  const out = await mkdtemp(join(tmpdir(), 'softprompt-finetune-'));
  try {
    await tuning.savePretrained(out);
    const { cp } = await import('node:fs/promises');
    await cp(join(dir, 'tokenizer.json'), join(out, 'tokenizer.json'));
    const loaded = await modelFromPretrained(out, { engine });
    assert.equal((await loaded.forward(collator(examples), { logits: false })).loss, after);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

test('full fine-tuning checkpoints config.json and model.safetensors, and an interrupted run resumes to the same bytes', async (t) => {
  if (!fixture(t, 'models', 'stories260K')) return;
  const base = await loadFixtureModel('stories260K', engine);
  const examples = readGolden('stories260K').inputs.cases.right.input_ids.map((row) => row.filter((id) => id !== 0));
  const run = (store: MemoryStore, opts: TrainOptions = {}, callbacks: TrainerCallbacks = {}) => new Trainer({
    model: FullFineTuning.of(base),
    // One example per step, so the 6 steps span epochs and the resumed run must redraw their shuffles.
    args: { learning_rate: 3e-3, max_steps: 6, per_device_train_batch_size: 1, logging_steps: 1, save_steps: 2 },
    train_dataset: examples,
    data_collator: dataCollatorForLanguageModeling({ pad_token_id: 0 }),
    checkpoints: store,
    callbacks,
    // A fixed clock: tokens/s in the logged history would otherwise differ between the runs.
    now: () => 0,
  }).train(opts);

  const uninterrupted = new MemoryStore();
  await run(uninterrupted);
  const interrupted = new MemoryStore();
  const controller = new AbortController();
  const stopped = await run(interrupted, { signal: controller.signal }, {
    on_step_end: (state) => {
      if (state.global_step === 3) controller.abort();
    },
  });
  assert.equal(stopped.checkpoint, 'checkpoint-3');
  const files = interrupted.checkpoints.get('checkpoint-3')!;
  assert.deepEqual(Object.keys(files).sort(), ['config.json', 'model.safetensors', 'optimizer.safetensors', 'trainer_state.json']);

  await run(interrupted, { resume_from_checkpoint: true });
  assert.deepEqual(interrupted.checkpoints.get('checkpoint-6'), uninterrupted.checkpoints.get('checkpoint-6'));
});
