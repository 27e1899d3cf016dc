// Generation against what transformers 4.40 + PEFT 0.10 generated: ids exactly, per-step scores to 1e-4, for every
// fixture model with each golden adapter (left-padded and single rows), stories260K from BOS as llama2.c decodes it,
// and the stories260K trainer run's generations with and without its adapter.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from '../src/generate/generate.js';
import { loadAdapter } from '../src/peft/adapter-files.js';
import { loadTokenizer } from '../src/tokenizer/pretrained.js';
import { Engine } from '../src/runtime/engine.js';
import { fixture, FIXTURE_MODELS, FIXTURES, MORE_FAMILIES } from './fixtures.js';
import { loadFixtureModel, readGolden } from './golden.js';

const engine = Engine.create();
after(() => engine.close());
const TOL = 1e-4;

for (const name of [...FIXTURE_MODELS, ...MORE_FAMILIES]) {
  describe(name, () => {
    for (const init of ['random', 'text']) {
      test(`with the ${init} adapter: ids and scores match PEFT generate for left-padded and single rows`, async (t) => {
        const adapterDir = fixture(t, 'golden', name, `adapter_${init}`);
        if (!adapterDir) return;
        const golden = readGolden(name);
        const model = await loadFixtureModel(name, engine);
        const adapter = await loadAdapter(adapterDir);
        const settings = (golden.inputs as { generation?: { max_new_tokens: number; repetition_penalty: number } }).generation!;
        for (const caseName of ['left', 'single']) {
          const c = golden.inputs.cases[caseName];
          const out = await generate(model, null, {
            input_ids: c.input_ids,
            attention_mask: c.attention_mask,
            prompt: adapter,
            max_new_tokens: settings.max_new_tokens,
            repetition_penalty: settings.repetition_penalty,
            output_scores: true,
          });
          assert.deepEqual(out.sequences, golden.results[`${init}.${caseName}.generate_ids`], caseName);
          const key = `${init}.${caseName}.generate_scores`;
          const [B, steps, V] = golden.tensors.entry(key).shape;
          const want = golden.tensors.float32(key);
          assert.equal(out.scores!.length, steps);
          let diff = 0;
          for (let s = 0; s < steps; s++) {
            for (let i = 0; i < B * V; i++) {
              const [b, v] = [Math.floor(i / V), i % V];
              diff = Math.max(diff, Math.abs(out.scores![s][i] - want[(b * steps + s) * V + v]));
            }
          }
          assert.ok(diff < TOL, `${caseName}: scores differ by ${diff}`);
        }
      });
    }
  });
}

describe('stories260K', () => {
  const dir = join(FIXTURES, 'models', 'stories260K');

  test('greedy from BOS reproduces llama2.c', async (t) => {
    const expectedPath = fixture(t, 'models', 'stories260K', 'llama2c', 'expected_outputs.json');
    if (!expectedPath) return;
    const expected = JSON.parse(readFileSync(expectedPath, 'utf8'));
    const model = await loadFixtureModel('stories260K', engine);
    const out = await generate(model, await loadTokenizer(dir), { input_ids: [1], max_new_tokens: 64 });
    assert.deepEqual(out.sequences[0], expected.greedy_from_bos_64_tokens);
    assert.ok(out.text![0].startsWith('Once upon a time, there was a little girl named Lily.'));
  });

  test("the trainer run's generations are reproduced with and without its adapter", async (t) => {
    const runPath = fixture(t, 'golden', 'stories260K', 'trainer', 'trainer_run.json');
    if (!runPath) return;
    const run = JSON.parse(readFileSync(runPath, 'utf8'));
    const model = await loadFixtureModel('stories260K', engine);
    const tokenizer = await loadTokenizer(dir);
    const adapter = await loadAdapter(join(FIXTURES, 'golden', 'stories260K', 'trainer', 'adapter'));
    const cases = [['generations_base', null], ['generations_with_adapter', adapter]] as const;
    for (const [key, prompt] of cases) {
      for (const g of run[key] as Array<{ prompt: string; output_ids: number[]; text: string }>) {
        const out = await generate(model, tokenizer, { text: g.prompt, prompt, max_new_tokens: run.generation.max_new_tokens });
        assert.deepEqual(out.sequences[0], g.output_ids, `${key}: ${g.prompt}`);
        assert.equal(out.text![0], g.text);
      }
    }
  });
});
