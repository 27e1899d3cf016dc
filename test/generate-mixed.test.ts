// Mixed-task batching: one batch whose rows each carry their own adapter (or none), prompts of different lengths
// included, gives every row exactly what generating it alone gives.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { generate } from '../src/generate/generate.js';
import { loadAdapter } from '../src/peft/adapter-files.js';
import { Engine } from '../src/runtime/engine.js';
import { fixture, FIXTURE_MODELS, FIXTURES, MORE_FAMILIES } from './fixtures.js';
import { loadFixtureModel, readGolden } from './golden.js';

const engine = Engine.create();
after(() => engine.close());

for (const name of [...FIXTURE_MODELS, ...MORE_FAMILIES]) {
  test(`${name}: each row of a mixed-task batch matches generating it alone with its adapter`, async (t) => {
    if (!fixture(t, 'golden', name)) return;
    const golden = readGolden(name);
    const model = await loadFixtureModel(name, engine);
    const random = await loadAdapter(join(FIXTURES, 'golden', name, 'adapter_random'));
    const text = await loadAdapter(join(FIXTURES, 'golden', name, 'adapter_text'));
    const twoRows = text.prompt.slice(0, 2 * model.config.hiddenSize);
    // Rows of different lengths (ragged input is left-padded): the padding and the shorter prompts are masked slots.
    const unpadded = golden.inputs.cases.left.input_ids.map((row, b) => row.filter((_, i) => golden.inputs.cases.left.attention_mask[b][i]));
    const rows = [...unpadded, unpadded[1]];
    const prompts = [random, null, twoRows, text];
    const options = { max_new_tokens: 10, repetition_penalty: 1.3, no_repeat_ngram_size: 3 };

    const mixed = await generate(model, null, { input_ids: rows, prompts, ...options });
    const T = Math.max(...rows.map((r) => r.length));
    for (let b = 0; b < rows.length; b++) {
      const alone = await generate(model, null, { input_ids: [rows[b]], prompt: prompts[b], ...options });
      const got = mixed.sequences[b].slice(T - rows[b].length);
      const want = alone.sequences[0];
      // A row that reaches EOS before the others is padded on in the batch (phi3-tiny's last row does).
      assert.deepEqual(got.slice(0, want.length), want, `row ${b}`);
      assert.ok(got.slice(want.length).every((id) => id === model.config.padTokenId), `row ${b}: ${got.slice(want.length)} after EOS`);
    }
  });
}
