// Continuous batching: rows with their own adapters join a running decode batch between steps and leave on their
// own, from cached prompt prefixes or with the prompt run in the prefill, in front of the text or after it (adapters
// whose virtual tokens go before the completion, of several lengths, beside the others); each row decodes what it
// decodes alone, sliding windows included.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DecodeBatch, type NewRow } from '../src/generate/batch.js';
import { generate } from '../src/generate/generate.js';
import { argmax } from '../src/generate/logits.js';
import type { PretrainedModel } from '../src/models/model.js';
import { loadAdapter } from '../src/peft/adapter-files.js';
import type { Adapter } from '../src/peft/adapter.js';
import { UnsupportedError } from '../src/errors.js';
import { Engine } from '../src/runtime/engine.js';
import { FIXTURES, FIXTURE_MODELS, fixture } from './fixtures.js';
import { loadFixtureModel, readGolden } from './golden.js';

const engine = Engine.create();
after(() => engine.close());

/** A request: its row as it joins, the adapter it decodes with alone, new tokens, and the step it joins at. */
interface Request {
  row: NewRow;
  adapter: Adapter | null;
  steps: number;
  at: number;
}

/** Runs the requests through one DecodeBatch (greedy) and checks each against `generate` alone. */
async function decodesAsAlone(model: PretrainedModel, requests: Request[]): Promise<void> {
  const V = model.config.vocabSize;
  const batch = new DecodeBatch(model);
  const live: Array<{ req: number; out: number[] }> = [];
  const outputs: number[][] = requests.map(() => []);
  let logits: Float32Array = new Float32Array(0);
  for (let step = 0; live.length > 0 || requests.some((r) => r.at >= step); step++) {
    // Choose for the rows already running, then let the finished leave and the new join.
    const chosen = live.map((_, b) => argmax(logits.subarray(b * V, (b + 1) * V)));
    chosen.forEach((tok, b) => live[b].out.push(tok));
    const keep = live.map((row) => row.out.length < requests[row.req].steps);
    batch.leave(keep);
    const staying = live.filter((_, b) => keep[b]);
    const joining = requests.flatMap((r, i) => (r.at === step ? [i] : []));
    const joined = await batch.join(joining.map((i) => requests[i].row));
    const joinedTokens = joined.map((l) => argmax(l));
    const rows = [...staying, ...joining.map((req, k) => ({ req, out: [joinedTokens[k]] }))];
    for (const row of live.filter((_, b) => !keep[b])) outputs[row.req] = row.out;
    live.length = 0;
    live.push(...rows);
    // Rows that just joined may already be done (one new token).
    const done = live.map((row) => row.out.length >= requests[row.req].steps);
    for (const row of live.filter((_, b) => done[b])) outputs[row.req] = row.out;
    batch.leave(done.map((d) => !d));
    const remaining = live.filter((_, b) => !done[b]);
    live.length = 0;
    live.push(...remaining);
    if (live.length === 0) continue;
    logits = await batch.step(live.map((row) => row.out[row.out.length - 1]));
  }
  for (const [i, r] of requests.entries()) {
    const alone = await generate(model, null, { input_ids: [r.row.ids], prompt: r.adapter, max_new_tokens: r.steps, eos_token_id: [] });
    assert.deepEqual(outputs[i], alone.sequences[0].slice(r.row.ids.length), `request ${i}`);
  }
}

/** The adapter with its virtual tokens before the completion, keeping its first `n` (default all). */
function beforeCompletion(a: Adapter, n = a.numVirtualTokens): Adapter {
  return {
    ...a,
    config: { ...a.config, num_virtual_tokens: n, virtual_tokens_position: 'before_completion' },
    numVirtualTokens: n,
    prompt: a.prompt.subarray(0, n * a.tokenDim),
  };
}

for (const name of FIXTURE_MODELS) {
  test(`${name}: rows joining and leaving a running batch each decode what they decode alone`, async (t) => {
    if (!fixture(t, 'golden', name)) return;
    const golden = readGolden(name);
    const model = await loadFixtureModel(name, engine);
    const random = await loadAdapter(join(FIXTURES, 'golden', name, 'adapter_random'));
    const text = await loadAdapter(join(FIXTURES, 'golden', name, 'adapter_text'));
    const texts = golden.inputs.token_ids_unpadded;
    const [randomPrefix, textPrefix] = [await DecodeBatch.promptPrefix(model, random), await DecodeBatch.promptPrefix(model, text)];
    await decodesAsAlone(model, [
      { row: { ids: texts[0], prefix: randomPrefix }, adapter: random, steps: 6, at: 0 },
      { row: { ids: texts[1] }, adapter: null, steps: 3, at: 0 },
      { row: { ids: texts[1], prefix: textPrefix }, adapter: text, steps: 5, at: 2 },
      { row: { ids: texts[0], prompt: text }, adapter: text, steps: 4, at: 2 },
      { row: { ids: [...texts[1], ...texts[0]], prefix: randomPrefix }, adapter: random, steps: 3, at: 5 },
    ]);
  });
}

for (const name of [...FIXTURE_MODELS, 'mistral-tiny']) {
  test(`${name}: rows whose virtual tokens go before the completion, of two lengths, join beside front prompts, prefixes and the base model`, async (t) => {
    if (!fixture(t, 'golden', name)) return;
    const texts: number[][] = readGolden(name).inputs.token_ids_unpadded;
    const model = await loadFixtureModel(name, engine);
    const random = await loadAdapter(join(FIXTURES, 'golden', name, 'adapter_random'));
    const text = await loadAdapter(join(FIXTURES, 'golden', name, 'adapter_text'));
    const [late, short] = [beforeCompletion(text), beforeCompletion(random, 2)];
    const randomPrefix = await DecodeBatch.promptPrefix(model, random);
    await assert.rejects(DecodeBatch.promptPrefix(model, late), (e: unknown) => e instanceof UnsupportedError && /no prefix to cache/.test(e.message));
    // Both placements and a cached prefix in the first join; texts of different lengths in each.
    await decodesAsAlone(model, [
      { row: { ids: texts[0], prompt: late }, adapter: late, steps: 5, at: 0 },
      { row: { ids: texts[1], prompt: short }, adapter: short, steps: 4, at: 0 },
      { row: { ids: texts[1], prompt: random }, adapter: random, steps: 3, at: 0 },
      { row: { ids: texts[0], prefix: randomPrefix }, adapter: random, steps: 4, at: 0 },
      { row: { ids: texts[0] }, adapter: null, steps: 5, at: 1 },
      { row: { ids: [...texts[1], ...texts[0]], prompt: short }, adapter: short, steps: 3, at: 2 },
      { row: { ids: texts[1], prompt: late }, adapter: late, steps: 2, at: 2 },
    ]);
  });
}
