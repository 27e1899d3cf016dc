// P-tuning (MLP, LSTM), prefix tuning (with and without projection) and multitask prompt tuning against transformers
// 4.40 + PEFT 0.10 (fixtures/golden-methods): from the recorded initial parameters, the encoder output, logits, loss,
// the gradient of every parameter, 3 AdamW steps and 3 Trainer-like steps through the Trainer, the saved adapter's
// bytes, greedy generation, and the adapters PEFT saved reloaded.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from '../src/generate/generate.js';
import type { ForwardBatch } from '../src/models/model.js';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, serializeAdapterWeights } from '../src/peft/adapter.js';
import {
  multitaskPromptTuningConfig, prefixTuningConfig, promptEncoderConfig, type AnyPeftConfig,
} from '../src/peft/methods.js';
import { PeftModel } from '../src/peft/peft-model.js';
import { adapterInputs } from '../src/generate/adapters.js';
import { Engine } from '../src/runtime/engine.js';
import type { LogEntry } from '../src/train/checkpoint.js';
import { Trainer } from '../src/train/trainer.js';
import { Safetensors } from '../src/weights/safetensors.js';
import { FIXTURES, fixture } from './fixtures.js';
import { loadFixtureModel, relDiff } from './golden.js';
import type { ModelConfig } from '../src/models/config.js';

const engine = Engine.create();
after(() => engine.close());

export const METHOD_MODELS = ['bloom-tiny-4h', 'gpt2-tiny', 'llama-tiny', 'stories260K'];
export const METHODS = ['ptuning_mlp', 'ptuning_lstm', 'prefix_noproj', 'prefix_proj', 'multitask'] as const;
type Method = (typeof METHODS)[number];

/** The configs the goldens were made with (README: all n = 4; encoder_hidden_size 32). */
export function goldenConfig(method: Method, cfg: ModelConfig, base: string): AnyPeftConfig {
  switch (method) {
    case 'ptuning_mlp':
      return promptEncoderConfig({ num_virtual_tokens: 4, encoder_reparameterization_type: 'MLP', encoder_hidden_size: 32 }, cfg, base);
    case 'ptuning_lstm':
      return promptEncoderConfig({ num_virtual_tokens: 4, encoder_reparameterization_type: 'LSTM', encoder_hidden_size: 32 }, cfg, base);
    case 'prefix_noproj':
      return prefixTuningConfig({ num_virtual_tokens: 4 }, cfg, base);
    case 'prefix_proj':
      return prefixTuningConfig({ num_virtual_tokens: 4, prefix_projection: true, encoder_hidden_size: 32 }, cfg, base);
    case 'multitask':
      return multitaskPromptTuningConfig({ num_virtual_tokens: 4, num_tasks: 3, num_ranks: 1 }, cfg, base);
  }
}

interface MethodGolden {
  dir: string;
  inputs: { cases: Record<string, ForwardBatch>; pad_token_id: number; eos_token_id: number };
  results: Record<string, unknown> & { trainable_parameters: Array<{ key: string; shape: number[] }>; task_ids: Record<string, number[]> | null };
  tensors: Safetensors;
}

function readMethodGolden(model: string, method: Method): MethodGolden {
  const dir = join(FIXTURES, 'golden-methods', model, method);
  const path = join(dir, 'tensors.safetensors');
  return {
    dir,
    inputs: JSON.parse(readFileSync(join(FIXTURES, 'golden-methods', model, 'inputs.json'), 'utf8')),
    results: JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')),
    tensors: Safetensors.parse(readFileSync(path), path),
  };
}

/** Every recorded tensor `<prefix><key>` of the trainable parameters, flat in named_parameters order. */
function flatParameters(g: MethodGolden, prefix: string): Float32Array {
  return Float32Array.from(g.results.trainable_parameters.flatMap((p) => Array.from(g.tensors.float32(prefix + p.key))));
}

/**
 * The README's measure for parameters after AdamW steps: elements differing by more than 1e-5 (AdamW's m/√v turns the
 * ULP-level noise of a component whose gradient is ~1e-6 of the largest into a step of up to lr), and the largest
 * difference of all.
 */
function adamDiff(got: Float32Array, want: Float32Array): { over: number; max: number } {
  let over = 0;
  let max = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (d > 1e-5) over++;
    max = Math.max(max, d);
  }
  return { over, max };
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return a.length === b.length ? d : Infinity;
}

async function peftAt(model: string, method: Method, g: MethodGolden): Promise<PeftModel> {
  const base = await loadFixtureModel(model, engine);
  const peft = PeftModel.create(base, goldenConfig(method, base.config, model));
  const init = flatParameters(g, 'init.');
  assert.equal(peft.parameters().length, init.length, 'parameter count');
  assert.deepEqual(peft.parameterShapes(), g.results.trainable_parameters.map(({ key, shape }) => ({ key, shape })));
  peft.parameters().set(init);
  return peft;
}

const LOGITS = 5e-6;
const GRAD = 2e-5;

for (const model of METHOD_MODELS) {
  describe(model, () => {
    for (const method of METHODS) {
      test(`${method}: encoder output, logits, loss and every parameter's gradient match PEFT`, async (t) => {
        if (!fixture(t, 'golden-methods', model, method)) return;
        const g = readMethodGolden(model, method);
        const peft = await peftAt(model, method, g);
        assert.ok(maxAbs(await peft.encoderOutput(), g.tensors.float32('prompt.init')) < 1e-6, 'encoder output');
        for (const [name, batch] of Object.entries(g.inputs.cases)) {
          const out = await peft.forward({ ...batch, task_ids: g.results.task_ids?.[name] }, { grad: true });
          const d = relDiff(out.logits!.data as Float32Array, g.tensors.float32(`${name}.peft_logits`));
          assert.ok(d < LOGITS, `${name}: logits rel diff ${d}`);
          assert.deepEqual(out.logits!.dims, g.results[`${name}.peft_logits_shape`]);
          assert.ok(Math.abs(out.loss! - (g.results[`${name}.loss`] as number)) < 1e-5, `${name}: loss ${out.loss}`);
          let offset = 0;
          for (const p of g.results.trainable_parameters) {
            const want = g.tensors.float32(`${name}.grad.${p.key}`);
            const got = (out.grad as Float32Array).subarray(offset, offset + want.length);
            offset += want.length;
            const dg = relDiff(got, want);
            assert.ok(dg < GRAD, `${name}: grad of ${p.key} rel diff ${dg}`);
          }
        }
      });

      test(`${method}: 3 AdamW steps and 3 Trainer-like steps (clip 1.0, linear decay) match PyTorch`, async (t) => {
        if (!fixture(t, 'golden-methods', model, method)) return;
        const g = readMethodGolden(model, method);
        for (const [name, batch] of Object.entries(g.inputs.cases)) {
          for (const kind of ['adamw3', 'trainerlike3'] as const) {
            const peft = await peftAt(model, method, g);
            const losses: number[] = [];
            const norms: number[] = [];
            const trainer = new Trainer({
              model: peft,
              train_dataset: [[0]],
              data_collator: () => ({ ...batch, task_ids: g.results.task_ids?.[name] }),
              args: {
                learning_rate: 0.005, max_steps: 3, per_device_train_batch_size: 1, logging_steps: 1, save_strategy: 'no',
                ...(kind === 'adamw3' ? { max_grad_norm: 0, lr_scheduler_type: 'constant' } : {}),
              },
              callbacks: { on_step_end: (_, loss) => losses.push(loss), on_log: (e: LogEntry) => norms.push(e.grad_norm) },
            });
            await trainer.train();
            const where = `${name}.${kind}`;
            const d = adamDiff(peft.parameters(), flatParameters(g, `${name}.after_${kind}.`));
            assert.ok(d.max < 4e-4 && d.over <= Math.max(2, 2e-3 * peft.parameters().length), `${where}: ${d.over} parameters differ by > 1e-5, at most ${d.max}`);
            const dp = maxAbs(await peft.encoderOutput(), g.tensors.float32(`${name}.prompt_after_${kind}`));
            assert.ok(dp < 4e-4, `${where}: encoder output differs by ${dp}`);
            const wantLosses = g.results[`${where}.losses`] as number[];
            assert.ok(maxAbs(losses, wantLosses) < 2e-5, `${where}: losses ${losses} vs ${wantLosses}`);
            if (kind === 'trainerlike3') {
              const want = g.results[`${where}.grad_norms_before_clip`] as number[];
              assert.ok(relDiff(norms, want) < GRAD, `${where}: grad norms ${norms} vs ${want}`);
            }
          }
        }
      });

      test(`${method}: the saved adapter is PEFT's files, and PEFT's saved adapter reloads to the recorded logits`, async (t) => {
        if (!fixture(t, 'golden-methods', model, method)) return;
        const g = readMethodGolden(model, method);
        const peft = await peftAt(model, method, g);
        const goldenAdapter = join(g.dir, 'adapter');
        const out = await mkdtemp(join(tmpdir(), 'softprompt-methods-'));
        try {
          await peft.savePretrained(out);
          const config = await readFile(join(out, ADAPTER_CONFIG));
          assert.deepEqual(config, await readFile(join(goldenAdapter, ADAPTER_CONFIG)), 'adapter_config.json');
          const want = await readFile(join(goldenAdapter, ADAPTER_WEIGHTS));
          const got = await readFile(join(out, ADAPTER_WEIGHTS));
          // The same tensors give the same bytes; the encoder's output itself is ours (within 1e-6 of PEFT's).
          const wantFile = Safetensors.parse(want, goldenAdapter);
          const gotFile = Safetensors.parse(got, out);
          const tensors = wantFile.names().map((name) => ({ name, shape: wantFile.entry(name).shape, data: Float32Array.from(wantFile.float32(name)) }));
          assert.deepEqual(Buffer.from(serializeAdapterWeights(peft.adapterConfig(), tensors)), want, 'bytes for the same tensors');
          assert.deepEqual(gotFile.names(), wantFile.names());
          for (const name of wantFile.names()) assert.ok(maxAbs(gotFile.float32(name), wantFile.float32(name)) < 1e-6, name);
        } finally {
          await rm(out, { recursive: true, force: true });
        }

        const reloaded = await PeftModel.fromPretrained(await loadFixtureModel(model, engine), goldenAdapter);
        for (const [name, batch] of Object.entries(g.inputs.cases)) {
          const res = await reloaded.forward({ ...batch, task_ids: g.results.task_ids?.[name] });
          const d = relDiff(res.logits!.data as Float32Array, g.tensors.float32(`${name}.peft_logits`));
          assert.ok(d < LOGITS, `reloaded ${name}: logits rel diff ${d}`);
        }
        const again = await mkdtemp(join(tmpdir(), 'softprompt-methods-'));
        try {
          await reloaded.savePretrained(again);
          for (const file of [ADAPTER_CONFIG, ADAPTER_WEIGHTS]) {
            assert.deepEqual(await readFile(join(again, file)), await readFile(join(goldenAdapter, file)), `resaved ${file}`);
          }
        } finally {
          await rm(again, { recursive: true, force: true });
        }
      });

      test(`${method}: greedy generation (repetition_penalty 1.5) gives PEFT's ids, trained and reloaded`, async (t) => {
        if (!fixture(t, 'golden-methods', model, method)) return;
        const g = readMethodGolden(model, method);
        const trained = await peftAt(model, method, g);
        const reloaded = await PeftModel.fromPretrained(await loadFixtureModel(model, engine), join(g.dir, 'adapter'));
        const settings = g.results.generation as { max_new_tokens: number; repetition_penalty: number };
        for (const peft of [trained, reloaded]) {
          for (const name of ['left', 'single']) {
            const c = g.inputs.cases[name];
            const out = await generate(peft.model, null, {
              input_ids: c.input_ids,
              attention_mask: c.attention_mask,
              max_new_tokens: settings.max_new_tokens,
              repetition_penalty: settings.repetition_penalty,
              pad_token_id: g.inputs.pad_token_id,
              eos_token_id: g.inputs.eos_token_id,
              ...(await adapterInputs(peft, c.input_ids.length, { task_ids: g.results.task_ids?.[name] })),
            });
            assert.deepEqual(out.sequences, g.results[`${name}.generate_ids`], `${peft === trained ? 'trained' : 'reloaded'} ${name}`);
          }
        }
      });
    }
  });
}
