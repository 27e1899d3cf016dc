// KV-cache decoding against recomputing the whole sequence with `forward` at every step (what generate would do
// without a cache), for the base models too, where no generation goldens exist. forward places every slot at its
// index, which is generation's layout with a shared soft prompt, and without one for unpadded rows (and for BLOOM,
// whose ALiBi comes from the mask, padded ones too).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generate } from '../src/generate/generate.js';
import { argmax, repetitionPenalty } from '../src/generate/logits.js';
import type { PretrainedModel } from '../src/models/model.js';
import { Engine } from '../src/runtime/engine.js';
import { fixture, FIXTURE_MODELS, MORE_FAMILIES } from './fixtures.js';
import { loadFixtureModel, readGolden, type GoldenCase } from './golden.js';

const engine = Engine.create();
after(() => engine.close());
const STEPS = 6;
const PENALTY = 1.3;

/** Greedy decoding by full recomputation: the reference the cache must reproduce. */
async function recompute(model: PretrainedModel, c: GoldenCase, prompt: Float32Array | undefined) {
  const ids = c.input_ids.map((r) => [...r]);
  const mask = c.attention_mask.map((r) => [...r]);
  const scores: Float32Array[] = [];
  const V = model.config.vocabSize;
  for (let step = 0; step < STEPS; step++) {
    const { logits } = await model.forward({ input_ids: ids, attention_mask: mask }, { prompt });
    const S = logits!.dims[1];
    const stepScores = new Float32Array(ids.length * V);
    ids.forEach((row, b) => {
      const s = (logits!.data as Float32Array).slice((b * S + S - 1) * V, (b * S + S) * V);
      repetitionPenalty(s, row, PENALTY);
      stepScores.set(s, b * V);
      row.push(argmax(s));
      mask[b].push(1);
    });
    scores.push(stepScores);
  }
  return { ids, scores };
}

for (const name of [...FIXTURE_MODELS, ...MORE_FAMILIES]) {
  describe(name, () => {
    const cases: Array<[string, 'left' | 'single', 'random' | null]> = [
      ['base model, single row', 'single', null],
      ['shared soft prompt, left-padded rows', 'left', 'random'],
    ];
    // Positions from the mask (ALiBi, OPT's learned ones) make forward's layout generation's for padded rows too.
    if (name.startsWith('bloom') || name.startsWith('opt')) cases.push(['base model, left-padded rows', 'left', null]);
    for (const [label, caseName, init] of cases) {
      test(`${label}: KV-cache decoding equals recomputing the sequence each step`, async (t) => {
        if (!fixture(t, 'golden', name)) return;
        const golden = readGolden(name);
        const model = await loadFixtureModel(name, engine);
        const c = golden.inputs.cases[caseName];
        const prompt = init ? golden.tensors.float32(`${init}.prompt_init`) : undefined;
        const want = await recompute(model, c, prompt);
        const got = await generate(model, null, {
          input_ids: c.input_ids, attention_mask: c.attention_mask, prompt, max_new_tokens: STEPS,
          repetition_penalty: PENALTY, eos_token_id: null, output_scores: true,
        });
        assert.deepEqual(got.sequences, want.ids);
        const diff = Math.max(...got.scores!.map((s, i) => Math.max(...s.map((v, j) => Math.abs(v - want.scores[i][j])))));
        assert.ok(diff < 1e-4, `scores differ by ${diff}`);
      });
    }
  });
}
