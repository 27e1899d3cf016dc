// The Trainer against transformers + PEFT: the 3-step AdamW runs in every golden, and step-by-step replays of the two
// recorded Trainer runs (trainer_run.json: arguments, per-step log and every collated batch in order).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ForwardBatch, PretrainedModel } from '../src/models/model.js';
import { promptTuningConfig } from '../src/peft/config.js';
import { PeftModel } from '../src/peft/peft-model.js';
import { Engine } from '../src/runtime/engine.js';
import { Trainer } from '../src/train/trainer.js';
import type { LogEntry } from '../src/train/checkpoint.js';
import { Safetensors } from '../src/weights/safetensors.js';
import { fixture, FIXTURE_MODELS, MORE_FAMILIES } from './fixtures.js';
import { loadFixtureModel, readGolden, relDiff } from './golden.js';

const engine = Engine.create();
after(() => engine.close());
const TOL = 1e-4;

/**
 * A PeftModel whose prompt starts as `init` (the golden's initial prompt). The base forward runs first because a model
 * on a shared engine whose graph is already loaded binds only the weights resolved before its first forward, and
 * PeftModel.create resolves just the embedding table.
 */
async function peftWithPrompt(model: PretrainedModel, init: Float32Array, batch: ForwardBatch): Promise<PeftModel> {
  await model.forward(batch);
  const n = init.length / model.config.hiddenSize;
  const peft = PeftModel.create(model, promptTuningConfig({ num_virtual_tokens: n }, model.config));
  peft.prompt().set(init);
  return peft;
}

/**
 * max |got - want| over the elements whose initial gradient is not negligible: AdamW amplifies the rounding of
 * ~1e-8 gradients (fixtures README: compare with 1e-5 absolute, skipping |grad| < 1e-6 max|grad|).
 */
function maskedAbsDiff(got: Float32Array, want: Float32Array, grad: Float32Array): number {
  const floor = 1e-6 * grad.reduce((m, g) => Math.max(m, Math.abs(g)), 0);
  let diff = 0;
  for (let i = 0; i < want.length; i++) if (Math.abs(grad[i]) >= floor) diff = Math.max(diff, Math.abs(got[i] - want[i]));
  return diff;
}

/** A collator that hands out recorded batches in order, so the Trainer's own loop runs on HF's exact batches. */
function replayCollator(batches: ForwardBatch[]) {
  let next = 0;
  return () => batches[next++ % batches.length];
}

for (const name of [...FIXTURE_MODELS, ...MORE_FAMILIES]) {
  describe(name, () => {
    for (const init of ['random', 'text']) {
      test(`${init} init: 3 AdamW steps and 3 Trainer-like steps (clip 1.0, linear decay) match PyTorch`, async (t) => {
        if (!fixture(t, 'golden', name)) return;
        const golden = readGolden(name);
        const model = await loadFixtureModel(name, engine);
        for (const [caseName, batch] of Object.entries(golden.inputs.cases)) {
          for (const kind of ['adamw3', 'trainerlike3'] as const) {
            const peft = await peftWithPrompt(model, golden.tensors.float32(`${init}.prompt_init`), batch);
            const losses: number[] = [];
            const norms: number[] = [];
            const trainer = new Trainer({
              model: peft,
              train_dataset: [[0]],
              data_collator: () => batch,
              args: {
                learning_rate: 0.005, max_steps: 3, per_device_train_batch_size: 1, logging_steps: 1, save_strategy: 'no',
                ...(kind === 'adamw3' ? { max_grad_norm: 0, lr_scheduler_type: 'constant' } : {}),
              },
              callbacks: {
                on_step_end: (_, loss) => losses.push(loss),
                on_log: (e: LogEntry) => norms.push(e.grad_norm),
              },
            });
            await trainer.train();
            const where = `${init}.${caseName}.${kind}`;
            const want = golden.tensors.float32(`${init}.${caseName}.prompt_after_${kind}`);
            const d = relDiff(peft.prompt(), want);
            assert.ok(d < TOL, `${where}: prompt rel diff ${d}`);
            const abs = maskedAbsDiff(peft.prompt(), want, golden.tensors.float32(`${init}.${caseName}.grad`));
            assert.ok(abs < 1e-5, `${where}: prompt abs diff ${abs}`);
            assert.ok(relDiff(losses, golden.results[`${where}.losses`] as number[]) < TOL, `${where}: losses ${losses}`);
            if (kind === 'trainerlike3') {
              const want = golden.results[`${where}.grad_norms_before_clip`] as number[];
              assert.ok(relDiff(norms, want) < TOL, `${where}: grad norms ${norms} vs ${want}`);
            }
          }
        }
      });
    }
  });
}

interface TrainerRun {
  num_virtual_tokens: number;
  examples: string[];
  training_args: Record<string, number | boolean>;
  log_history: Array<Record<string, number>>;
  training_loss: number;
  batches_in_order: ForwardBatch[];
}

for (const name of ['bloom-tiny-4h', 'stories260K']) {
  test(`${name}: replaying the recorded Trainer run gives each step's loss, grad norm, lr and the final prompt`, async (t) => {
    const dir = fixture(t, 'golden', name, 'trainer');
    if (!dir) return;
    const run = JSON.parse(readFileSync(join(dir, 'trainer_run.json'), 'utf8')) as TrainerRun;
    const prompts = Safetensors.parse(readFileSync(join(dir, 'prompts.safetensors')), dir);
    const model = await loadFixtureModel(name, engine);
    const peft = await peftWithPrompt(model, prompts.float32('prompt_init'), run.batches_in_order[0]);
    const a = run.training_args;
    const stepLosses: number[] = [];
    const logs: LogEntry[] = [];
    const trainer = new Trainer({
      model: peft,
      train_dataset: run.examples.map(() => [0]),
      data_collator: replayCollator(run.batches_in_order),
      args: {
        learning_rate: a.learning_rate as number,
        num_train_epochs: a.num_train_epochs as number,
        per_device_train_batch_size: a.per_device_train_batch_size as number,
        gradient_accumulation_steps: a.gradient_accumulation_steps as number,
        max_grad_norm: a.max_grad_norm as number,
        weight_decay: a.weight_decay as number,
        seed: a.seed as number,
        logging_steps: 1,
        save_strategy: 'no',
      },
      callbacks: { on_step_end: (_, loss) => stepLosses.push(loss), on_log: (e) => logs.push(e) },
    });
    const out = await trainer.train();
    const want = run.log_history.filter((e) => 'loss' in e);
    assert.equal(out.global_step, want.length);
    want.forEach((w, i) => {
      // The recorded loss is rounded to 4 decimals, so compare within the rounding plus the tolerance.
      assert.ok(Math.abs(stepLosses[i] - w.loss) <= 5e-5 + TOL * Math.abs(w.loss), `step ${w.step}: loss ${stepLosses[i]} vs ${w.loss}`);
      assert.ok(Math.abs(logs[i].grad_norm - w.grad_norm) <= TOL * w.grad_norm, `step ${w.step}: grad_norm ${logs[i].grad_norm} vs ${w.grad_norm}`);
      assert.ok(Math.abs(logs[i].learning_rate - w.learning_rate) <= 1e-12, `step ${w.step}: lr ${logs[i].learning_rate} vs ${w.learning_rate}`);
      assert.equal(logs[i].loss, w.loss, `step ${w.step}: logged loss`);
      assert.ok(Math.abs(logs[i].epoch - w.epoch) < 1e-9, `step ${w.step}: epoch ${logs[i].epoch} vs ${w.epoch}`);
    });
    assert.ok(Math.abs(out.training_loss - run.training_loss) / run.training_loss < TOL, `train_loss ${out.training_loss} vs ${run.training_loss}`);
    const d = relDiff(peft.prompt(), prompts.float32('prompt_final'));
    assert.ok(d < TOL, `final prompt rel diff ${d}`);
  });
}

