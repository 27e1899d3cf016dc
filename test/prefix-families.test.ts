// Prefix tuning on every family, against the model itself: a prefix made of real tokens' keys and values (a soft
// prompt of those tokens' embeddings, run through the model) must give the tokens after it exactly what the model
// gives them after that prompt: logits, loss, padding on the right, greedy generation. That is what past keys/values
// mean to transformers, so it checks each family's positions (OPT's from the mask, ALiBi, partial rotary, longrope),
// sliding windows, soft-capping and head layouts with a prefix. The prefix gradient is checked against a central
// difference along it, and a PeftModel trains a projected prefix on each family.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DecodeBatch } from '../src/generate/batch.js';
import { generate } from '../src/generate/generate.js';
import { pastToPrefix } from '../src/models/prefix.js';
import type { PretrainedModel } from '../src/models/model.js';
import { embeddingRows } from '../src/peft/init.js';
import { prefixTuningConfig } from '../src/peft/methods.js';
import { PeftModel } from '../src/peft/peft-model.js';
import { Engine } from '../src/runtime/engine.js';
import { fixture, FIXTURE_MODELS, MORE_FAMILIES } from './fixtures.js';
import { loadFixtureModel, readGolden } from './golden.js';

const engine = Engine.create();
after(() => engine.close());
/** Virtual tokens: the first A tokens of the text become the prefix. */
const A = 3;

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

/** Logits [B, S, V] at positions [from, from + T) of row b. */
function rowLogits(data: Float32Array, S: number, V: number, b: number, from: number, T: number): Float32Array {
  return data.slice((b * S + from) * V, (b * S + from + T) * V);
}

/** The keys/values of `tokens` in every layer, as a prefix vector [n, 2·L·D] in PEFT's layout for this model. */
async function prefixOfTokens(model: PretrainedModel, tokens: number[]): Promise<{ prompt: Float32Array; prefix: Float32Array }> {
  const prompt = embeddingRows(model)(tokens);
  const { cache, length } = await DecodeBatch.promptPrefix(model, prompt);
  return { prompt, prefix: pastToPrefix(model.config, cache, length) };
}

for (const name of [...FIXTURE_MODELS, ...MORE_FAMILIES]) {
  describe(`${name}: prefix tuning`, () => {
    test('a prefix of real keys/values gives what the model gives after those tokens: logits, loss, right padding, generation', async (t) => {
      if (!fixture(t, 'golden', name)) return;
      const model = await loadFixtureModel(name, engine);
      const V = model.config.vocabSize;
      const [row0, row1] = readGolden(name).inputs.token_ids_unpadded;
      const { prompt, prefix } = await prefixOfTokens(model, row0.slice(0, A));
      const rest = row0.slice(A);
      const T = rest.length;

      const byPrefix = await model.forward({ input_ids: [rest], labels: [rest] }, { prefix });
      // After a prompt, its last virtual token predicts the first token; after a prefix nothing does.
      const byPrompt = await model.forward({ input_ids: [rest], labels: [[-100, ...rest.slice(1)]] }, { prompt });
      assert.deepEqual(byPrefix.logits!.dims, [1, T, V]);
      const d = maxDiff(byPrefix.logits!.data as Float32Array, rowLogits(byPrompt.logits!.data as Float32Array, A + T, V, 0, A, T));
      assert.ok(d < 1e-4, `logits differ by ${d}`);
      assert.ok(Math.abs(byPrefix.loss! - byPrompt.loss!) < 1e-5, `loss ${byPrefix.loss} vs ${byPrompt.loss}`);

      // A shorter row padded on the right: each row's real positions are what it gives alone.
      const short = row1.slice(0, Math.min(row1.length, T - 1));
      const padded = [rest, [...short, ...new Array<number>(T - short.length).fill(0)]];
      const mask = [rest.map(() => 1), padded[1].map((_, i) => (i < short.length ? 1 : 0))];
      const batch = await model.forward({ input_ids: padded, attention_mask: mask }, { prefix });
      const alone = await model.forward({ input_ids: [short] }, { prefix });
      const dPad = maxDiff(rowLogits(batch.logits!.data as Float32Array, T, V, 1, 0, short.length), alone.logits!.data as Float32Array);
      assert.ok(dPad < 1e-4, `right padding changed the short row by ${dPad}`);

      const options = { input_ids: [rest], max_new_tokens: 5, repetition_penalty: 1.3, eos_token_id: null, output_scores: true };
      const genPrefix = await generate(model, null, { ...options, prompt: { prefix } });
      const genPrompt = await generate(model, null, { ...options, prompt });
      assert.deepEqual(genPrefix.sequences, genPrompt.sequences);
      const dGen = Math.max(...genPrefix.scores!.map((s, i) => maxDiff(s, genPrompt.scores![i])));
      assert.ok(dGen < 1e-4, `generation scores differ by ${dGen}`);
    });

    test("the prefix gradient matches a central difference along it; a PeftModel trains a projected prefix", async (t) => {
      if (!fixture(t, 'golden', name)) return;
      const model = await loadFixtureModel(name, engine);
      const [row0] = readGolden(name).inputs.token_ids_unpadded;
      const { prefix } = await prefixOfTokens(model, row0.slice(0, A));
      const batch = { input_ids: [row0.slice(A)], labels: [row0.slice(A)] };
      const { grad } = await model.forward(batch, { prefix, grad: true, logits: false });
      const g = grad as Float32Array;
      const norm = Math.sqrt(g.reduce((s, x) => s + x * x, 0));
      assert.ok(norm > 0, 'zero gradient');
      const eps = 1e-2;
      const moved = (sign: number) => Float32Array.from(prefix, (x, i) => x + (sign * eps * g[i]) / norm);
      const [up, down] = await Promise.all([1, -1].map(async (s) => (await model.forward(batch, { prefix: moved(s), logits: false })).loss!));
      const directional = (up - down) / (2 * eps);
      assert.ok(Math.abs(directional - norm) < 0.05 * norm + 1e-4, `d loss along the gradient ${directional}, |grad| ${norm}`);

      const config = prefixTuningConfig({ num_virtual_tokens: 2, prefix_projection: true, encoder_hidden_size: 8 }, model.config);
      const peft = PeftModel.create(model, config);
      const before = await peft.forward(batch, { grad: true, logits: false });
      const params = peft.parameters();
      const step = before.grad as Float32Array;
      for (let i = 0; i < params.length; i++) params[i] -= 0.1 * step[i];
      const afterStep = await peft.forward(batch, { logits: false });
      assert.ok(afterStep.loss! < before.loss!, `a gradient step did not lower the loss (${before.loss} -> ${afterStep.loss})`);
    });
  });
}
