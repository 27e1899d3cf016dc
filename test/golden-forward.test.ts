// Base logits, prompt-tuned logits, loss and prompt gradient against transformers + PEFT for every fixture model.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../src/runtime/engine.js';
import { fixture, FIXTURE_MODELS, MORE_FAMILIES } from './fixtures.js';
import { loadFixtureModel, readGolden, relDiff } from './golden.js';

const engine = Engine.create();
after(() => engine.close());
const TOL = 1e-4;

for (const name of [...FIXTURE_MODELS, ...MORE_FAMILIES]) {
  describe(name, () => {
    test('base logits and loss match transformers for right, left and single batches', async (t) => {
      if (!fixture(t, 'golden', name)) return;
      const golden = readGolden(name);
      const model = await loadFixtureModel(name, engine);
      for (const [caseName, c] of Object.entries(golden.inputs.cases)) {
        const out = await model.forward(c);
        const want = golden.tensors.float32(`base.${caseName}.logits`);
        assert.deepEqual(out.logits!.dims, golden.tensors.entry(`base.${caseName}.logits`).shape);
        const d = relDiff(out.logits!.data as Float32Array, want);
        assert.ok(d < TOL, `${caseName}: logits rel diff ${d}`);
        const wantLoss = golden.results[`base.${caseName}.loss`] as number;
        assert.ok(Math.abs(out.loss! - wantLoss) / Math.abs(wantLoss) < TOL, `${caseName}: loss ${out.loss} vs ${wantLoss}`);
      }
    });

    for (const init of ['random', 'text']) {
      test(`${init}-init prompt: logits, loss and gradient match PEFT`, async (t) => {
        if (!fixture(t, 'golden', name)) return;
        const golden = readGolden(name);
        const model = await loadFixtureModel(name, engine);
        const prompt = golden.tensors.float32(`${init}.prompt_init`);
        for (const [caseName, c] of Object.entries(golden.inputs.cases)) {
          const out = await model.forward(c, { prompt, grad: true });
          const wantLogits = golden.tensors.float32(`${init}.${caseName}.peft_logits`);
          assert.deepEqual(out.logits!.dims, golden.tensors.entry(`${init}.${caseName}.peft_logits`).shape);
          const dl = relDiff(out.logits!.data as Float32Array, wantLogits);
          assert.ok(dl < TOL, `${caseName}: logits rel diff ${dl}`);
          const wantLoss = golden.results[`${init}.${caseName}.loss`] as number;
          assert.ok(Math.abs(out.loss! - wantLoss) / Math.abs(wantLoss) < TOL, `${caseName}: loss ${out.loss} vs ${wantLoss}`);
          const dg = relDiff(out.grad as Float32Array, golden.tensors.float32(`${init}.${caseName}.grad`));
          assert.ok(dg < TOL, `${caseName}: grad rel diff ${dg}`);
        }
      });
    }
  });
}

test('the loss over vocabulary chunks (views of the head weight) equals the unchunked loss and gradient', async (t) => {
  if (!fixture(t, 'golden', 'llama-tiny')) return;
  const golden = readGolden('llama-tiny');
  const model = await loadFixtureModel('llama-tiny', engine);
  model.vocabChunk = 300; // 1000 rows: chunks of 300, 300, 300 and 100
  const prompt = golden.tensors.float32('random.prompt_init');
  const out = await model.forward(golden.inputs.cases.left, { prompt, grad: true, logits: false });
  assert.ok(Math.abs(out.loss! - (golden.results['random.left.loss'] as number)) < 1e-4);
  assert.ok(relDiff(out.grad as Float32Array, golden.tensors.float32('random.left.grad')) < TOL);
});
