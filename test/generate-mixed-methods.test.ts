// Mixed batches across methods: one row with a prompt-tuning adapter, one with a prefix (of another length than a
// second prefix row), one with a multitask adapter and its task id, one with a P-tuning adapter, one with none; every
// row gives exactly what generating it alone with its adapter gives.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { adapterInputs } from '../src/generate/adapters.js';
import { generate } from '../src/generate/generate.js';
import { PeftModel } from '../src/peft/peft-model.js';
import { Engine } from '../src/runtime/engine.js';
import { FIXTURES, fixture } from './fixtures.js';
import { loadFixtureModel, readGolden } from './golden.js';

const engine = Engine.create();

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let d = 0;
  a.forEach((x, s) => x.forEach((v, i) => (d = Math.max(d, Math.abs(v - b[s][i])))));
  return d;
}
after(() => engine.close());

for (const name of ['bloom-tiny-4h', 'gpt2-tiny', 'llama-tiny', 'stories260K']) {
  test(`${name}: each row of a batch mixing prompt tuning, prefix tuning, multitask and P-tuning matches it alone`, async (t) => {
    if (!fixture(t, 'golden-methods', name)) return;
    const golden = readGolden(name);
    const methods = join(FIXTURES, 'golden-methods', name);
    const peft = await PeftModel.fromPretrained(await loadFixtureModel(name, engine), join(FIXTURES, 'golden', name, 'adapter_random'), 'pt');
    await peft.loadAdapter(join(methods, 'prefix_noproj', 'adapter'), 'prefix');
    await peft.loadAdapter(join(methods, 'multitask', 'adapter'), 'mt');
    await peft.loadAdapter(join(methods, 'ptuning_lstm', 'adapter'), 'ptuning');
    // A shorter prefix: the first two virtual tokens of the other one.
    const config = { ...peft.adapterConfig('prefix'), num_virtual_tokens: 2 };
    peft.addAdapter('short', config, peft.prompt('prefix').slice(0, 2 * (peft.prompt('prefix').length / 4)));

    const left = golden.inputs.cases.left;
    const unpadded = left.input_ids.map((row, b) => row.filter((_, i) => left.attention_mask[b][i]));
    const rows = [unpadded[0], unpadded[1], unpadded[2], unpadded[1], unpadded[2], unpadded[0]];
    const names = ['pt', 'prefix', 'mt', null, 'short', 'ptuning'];
    const taskIds = [0, 0, 2, 0, 0, 0];
    const options = { max_new_tokens: 8, repetition_penalty: 1.3, output_scores: true };
    const V = peft.model.config.vocabSize;
    const rowScores = (scores: Float32Array[], b: number) => scores.map((s) => s.slice(b * V, (b + 1) * V));

    const mixed = await generate(peft.model, null, { input_ids: rows, ...options, ...(await adapterInputs(peft, rows.length, { adapter_names: names, task_ids: taskIds })) });
    const T = Math.max(...rows.map((r) => r.length));
    // The adapters do change the scores: the prefix row and the bare row share their input.
    assert.ok(maxDiff(rowScores(mixed.scores!, 1), rowScores(mixed.scores!, 3)) > 1e-2, 'the prefix changed nothing');
    for (let b = 0; b < rows.length; b++) {
      let inputs = {};
      if (names[b] !== null) {
        peft.setAdapter(names[b]!);
        inputs = await adapterInputs(peft, 1, { task_ids: [taskIds[b]] });
      }
      const alone = await generate(peft.model, null, { input_ids: [rows[b]], ...options, ...inputs });
      assert.deepEqual(mixed.sequences[b].slice(T - rows[b].length), alone.sequences[0], `row ${b} (${names[b]})`);
      const d = maxDiff(rowScores(mixed.scores!, b), alone.scores!);
      assert.ok(d < 1e-4, `row ${b} (${names[b]}): scores differ by ${d}`);
    }
  });
}
