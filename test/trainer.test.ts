// The Trainer's loop on a quadratic stand-in model: step counting, gradient accumulation, logging, evaluation,
// shuffling, checkpoints with exact resume, interruption, and auto_find_batch_size.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { dataCollatorForLanguageModeling } from '../src/data/collator.js';
import { OptionError, ShapeError } from '../src/errors.js';
import { parseAdapter } from '../src/peft/adapter.js';
import { parseCheckpoint, type LogEntry } from '../src/train/checkpoint.js';
import { Trainer, type TrainerOptions } from '../src/train/trainer.js';
import { MemoryStore, QuadraticModel, examples } from './trainer-helpers.js';

const collator = dataCollatorForLanguageModeling({ pad_token_id: 0 });

function trainer(model: QuadraticModel, args: TrainerOptions['args'], extra: Partial<TrainerOptions> = {}): Trainer {
  return new Trainer({ model, train_dataset: examples(10), data_collator: collator, args: { save_strategy: 'no', ...args }, ...extra });
}

/** The log without wall-clock measurements, which differ between runs. */
function untimed(t: Trainer): LogEntry[] {
  return t.state!.log_history.map((e) => Object.fromEntries(Object.entries(e).filter(([k]) => !/runtime|per_second/.test(k))));
}

function logsOf(t: Trainer): LogEntry[] {
  return t.state!.log_history.filter((e) => 'loss' in e);
}

describe('steps', () => {
  test('num_train_epochs gives ceil(epochs * floor(ceil(N / batch) / accumulation)) steps', async () => {
    const model = new QuadraticModel();
    const out = await trainer(model, { per_device_train_batch_size: 4, num_train_epochs: 2.5 }).train();
    assert.equal(out.global_step, Math.ceil(2.5 * 3));
    assert.equal(model.batches.length, 8);
    assert.deepEqual(model.batches.slice(0, 3).map((b) => b.input_ids.length), [4, 4, 2]);
  });

  test('max_steps overrides num_train_epochs', async () => {
    const out = await trainer(new QuadraticModel(), { per_device_train_batch_size: 4, num_train_epochs: 100, max_steps: 5 }).train();
    assert.equal(out.global_step, 5);
  });

  test('a step averages loss and gradient over its accumulated micro-batches', async () => {
    const model = new QuadraticModel();
    const losses = [1, 3, 5, 7];
    model.hook = (_, call) => losses[call];
    const t = trainer(model, { per_device_train_batch_size: 2, gradient_accumulation_steps: 2, max_steps: 2, logging_steps: 1, learning_rate: 0 });
    await t.train();
    assert.deepEqual(logsOf(t).map((e) => e.loss), [2, 6]);
  });

  test('gradient accumulation counts micro-batches across epochs, as transformers 4.40 does', async () => {
    // 3 micro-batches per epoch, 2 per step: the third joins the first of the next epoch.
    const model = new QuadraticModel();
    const out = await trainer(model, { per_device_train_batch_size: 4, gradient_accumulation_steps: 2, num_train_epochs: 3 }).train();
    assert.equal(out.global_step, 3);
    assert.equal(model.batches.length, 6);
  });

  test('an epoch shorter than one accumulation still ends with a step', async () => {
    const model = new QuadraticModel();
    const out = await trainer(model, { per_device_train_batch_size: 4, gradient_accumulation_steps: 8, num_train_epochs: 1 }).train();
    assert.equal(out.global_step, 1);
    assert.equal(model.batches.length, 3);
  });

  test('training lowers the loss', async () => {
    const model = new QuadraticModel();
    const t = trainer(model, { per_device_train_batch_size: 10, learning_rate: 0.5, max_steps: 30, logging_steps: 1 });
    await t.train();
    const logs = logsOf(t);
    assert.ok(logs.at(-1)!.loss < logs[0].loss * 0.8, `${logs[0].loss} -> ${logs.at(-1)!.loss}`);
  });
});

describe('logging', () => {
  test('every logging_steps: mean loss since the last log, grad norm, next lr, tokens/s, epoch', async () => {
    const model = new QuadraticModel();
    const stepLosses: number[] = [];
    const t = trainer(model, { per_device_train_batch_size: 5, max_steps: 4, logging_steps: 2, learning_rate: 0.01, max_grad_norm: 1e6 }, {
      callbacks: { on_step_end: (_, loss) => stepLosses.push(loss) },
    });
    const out = await t.train();
    const logs = logsOf(t);
    assert.deepEqual(logs.map((e) => e.step), [2, 4]);
    assert.ok(Math.abs(logs[0].loss - (stepLosses[0] + stepLosses[1]) / 2) < 1e-4);
    assert.ok(Math.abs(logs[0].learning_rate - 0.01 * (1 - 2 / 4)) < 1e-15);
    assert.equal(logs[1].learning_rate, 0);
    assert.equal(logs[0].epoch, 2 / 2);
    assert.ok(logs.every((e) => e.grad_norm > 0 && e.tokens_per_second > 0));
    const mean = stepLosses.reduce((a, b) => a + b) / 4;
    assert.ok(Math.abs(out.training_loss - mean) < 1e-5, `${out.training_loss} vs ${mean}`);
    assert.equal(out.metrics.train_loss, out.training_loss);
  });
});

describe('evaluation', () => {
  test('eval_loss weighs each batch loss by its examples; perplexity is exp(eval_loss)', async () => {
    const model = new QuadraticModel();
    model.hook = (batch) => batch.input_ids.length; // loss 3 for the batch of 3, 1 for the batch of 1
    const t = trainer(model, { per_device_eval_batch_size: 3, max_steps: 1 }, { eval_dataset: examples(4) });
    const metrics = await t.evaluate();
    assert.equal(metrics.eval_loss, (3 * 3 + 1 * 1) / 4);
    assert.equal(metrics.eval_perplexity, Math.exp(metrics.eval_loss));
  });

  test('with an eval set, every epoch is evaluated and the summary reuses the last evaluation', async () => {
    const model = new QuadraticModel();
    const t = trainer(model, { per_device_train_batch_size: 5, num_train_epochs: 2 }, { eval_dataset: examples(3) });
    const out = await t.train();
    const evals = t.state!.log_history.filter((e) => 'eval_loss' in e);
    assert.deepEqual(evals.map((e) => e.epoch), [1, 2]);
    assert.equal(out.metrics.eval_loss, evals[1].eval_loss);
  });
});

describe('shuffling', () => {
  const order = (model: QuadraticModel) => model.batches.flatMap((b) => b.input_ids.map((r) => r[0]));

  test('each epoch visits every example once, in a seeded order that changes between epochs', async () => {
    const a = new QuadraticModel();
    await trainer(a, { per_device_train_batch_size: 3, num_train_epochs: 2, seed: 7 }).train();
    const b = new QuadraticModel();
    await trainer(b, { per_device_train_batch_size: 3, num_train_epochs: 2, seed: 7 }).train();
    const c = new QuadraticModel();
    await trainer(c, { per_device_train_batch_size: 3, num_train_epochs: 2, seed: 8 }).train();
    const [first, second] = [order(a).slice(0, 10), order(a).slice(10)];
    assert.deepEqual([...first].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual([...second].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.notDeepEqual(first, second);
    assert.deepEqual(order(a), order(b));
    assert.notDeepEqual(order(a), order(c));
  });
});

describe('checkpoints', () => {
  const args = { per_device_train_batch_size: 3, num_train_epochs: 3, learning_rate: 0.05, save_strategy: 'steps', save_steps: 2, logging_steps: 1 } as const;

  test('checkpoint-<step> holds the PEFT adapter, optimizer moments and trainer state', async () => {
    const model = new QuadraticModel();
    const store = new MemoryStore();
    const out = await trainer(model, args, { checkpoints: store }).train();
    // 4 batches of 10 examples per epoch, 3 epochs: 12 steps, saved every 2.
    assert.deepEqual([...store.checkpoints.keys()], [2, 4, 6, 8, 10, 12].map((s) => `checkpoint-${s}`));
    assert.equal(out.checkpoint, 'checkpoint-12');
    const files = store.checkpoints.get('checkpoint-12')!;
    const adapterConfig = JSON.parse(new TextDecoder().decode(files['adapter_config.json']));
    assert.deepEqual(parseAdapter(adapterConfig, files['adapter_model.safetensors'], 'x').prompt, model.prompt());
    const checkpoint = parseCheckpoint(files, 'checkpoint-12');
    assert.equal(checkpoint.state.global_step, 12);
    assert.equal(checkpoint.optimizer.step, 12);
    assert.equal(checkpoint.state.log_history.filter((e) => 'loss' in e).length, 12);
  });

  for (const at of ['after a step', 'in the middle of an accumulation'] as const) {
    test(`an interrupted run (${at}) checkpoints its last step and resumes to the same result as an uninterrupted one`, async () => {
      const accumulation = at === 'after a step' ? 1 : 2;
      const full = new QuadraticModel();
      const fullTrainer = trainer(full, { ...args, gradient_accumulation_steps: accumulation }, { checkpoints: new MemoryStore() });
      await fullTrainer.train();

      const store = new MemoryStore();
      const controller = new AbortController();
      const first = new QuadraticModel();
      // Abort during the 4th step's micro-batches: after step 3, or after the first micro-batch of step 4.
      first.hook = (_, call) => {
        if (call === 3 * accumulation + (accumulation - 1)) controller.abort();
      };
      const stopped = await trainer(first, { ...args, gradient_accumulation_steps: accumulation }, { checkpoints: store }).train({ signal: controller.signal });
      assert.equal(stopped.interrupted, true);
      assert.equal(stopped.checkpoint, 'checkpoint-4');
      assert.ok(store.checkpoints.has('checkpoint-4'));

      const resumedModel = new QuadraticModel();
      const resumed = trainer(resumedModel, { ...args, gradient_accumulation_steps: accumulation }, { checkpoints: store });
      const out = await resumed.train({ resume_from_checkpoint: true });
      assert.deepEqual(resumedModel.prompt(), full.prompt());
      assert.deepEqual(untimed(resumed), untimed(fullTrainer));
      assert.equal(out.global_step, fullTrainer.state!.global_step);
    });
  }

  test('resuming from a checkpoint of another prompt size is refused', async () => {
    const store = new MemoryStore();
    await trainer(new QuadraticModel(), args, { checkpoints: store }).train();
    const files = store.checkpoints.get('checkpoint-2')!;
    const config = JSON.parse(new TextDecoder().decode(files['adapter_config.json']));
    store.checkpoints.set('checkpoint-2', { ...files, 'adapter_config.json': new TextEncoder().encode(JSON.stringify({ ...config, num_virtual_tokens: 1 })) });
    await assert.rejects(trainer(new QuadraticModel(), args, { checkpoints: store }).train({ resume_from_checkpoint: 'checkpoint-2' }), /num_virtual_tokens/);
  });
});

describe('auto_find_batch_size', () => {
  test('an out-of-memory failure halves the batch and starts the run over', async () => {
    const model = new QuadraticModel();
    model.hook = (batch) => {
      if (batch.input_ids.length > 2) throw new Error('Failed to allocate memory for requested buffer of size 1073741824');
    };
    const retries: Array<[number, number]> = [];
    const t = trainer(model, { auto_find_batch_size: true, per_device_train_batch_size: 8, max_steps: 4, learning_rate: 0.05 }, {
      callbacks: { on_batch_size_retry: (from, to) => retries.push([from, to]) },
    });
    await t.train();
    assert.deepEqual(retries, [[8, 4], [4, 2]]);
    assert.equal(t.state!.train_batch_size, 2);

    const direct = new QuadraticModel();
    await trainer(direct, { per_device_train_batch_size: 2, max_steps: 4, learning_rate: 0.05 }).train();
    assert.deepEqual(model.prompt(), direct.prompt());
  });

  test('other failures are not retried', async () => {
    const model = new QuadraticModel();
    model.hook = () => {
      throw new Error('graph input was not fed');
    };
    await assert.rejects(trainer(model, { auto_find_batch_size: true }).train(), /not fed/);
    assert.equal(model.batches.length, 0);
  });
});

describe('bad input', () => {
  test('a NaN learning rate is refused, naming the option', () => {
    assert.throws(() => trainer(new QuadraticModel(), { learning_rate: NaN }), (e) => e instanceof OptionError && /learning_rate: is NaN/.test(e.message));
  });

  test('impossible arguments are refused', () => {
    for (const args of [{ per_device_train_batch_size: 0 }, { gradient_accumulation_steps: 1.5 }, { num_train_epochs: 0 }, { warmup_ratio: 2 }, { lr_scheduler_type: 'exp' as 'linear' }]) {
      assert.throws(() => trainer(new QuadraticModel(), args), OptionError, JSON.stringify(args));
    }
  });

  test('an empty training set is refused', () => {
    assert.throws(() => new Trainer({ model: new QuadraticModel(), train_dataset: [], data_collator: collator }), ShapeError);
  });
});
