// Continuous batching: rows with their own adapters join a running decode batch between steps and leave on their
// own, from cached prompt prefixes or with the prompt run in the prefill; each row decodes what it decodes alone.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DecodeBatch, type NewRow } from '../src/generate/batch.js';
import { generate } from '../src/generate/generate.js';
import { argmax } from '../src/generate/logits.js';
import { loadAdapter } from '../src/peft/adapter-files.js';
import type { Adapter } from '../src/peft/adapter.js';
import { Engine } from '../src/runtime/engine.js';
import { FIXTURES, FIXTURE_MODELS, fixture } from './fixtures.js';
import { loadFixtureModel, readGolden } from './golden.js';

const engine = Engine.create();
after(() => engine.close());

for (const name of FIXTURE_MODELS) {
  test(`${name}: rows joining and leaving a running batch each decode what they decode alone`, async (t) => {
    if (!fixture(t, 'golden', name)) return;
    const golden = readGolden(name);
    const model = await loadFixtureModel(name, engine);
    const random = await loadAdapter(join(FIXTURES, 'golden', name, 'adapter_random'));
    const text = await loadAdapter(join(FIXTURES, 'golden', name, 'adapter_text'));
    const V = model.config.vocabSize;
    const texts = golden.inputs.token_ids_unpadded;
    const [randomPrefix, textPrefix] = [await DecodeBatch.promptPrefix(model, random), await DecodeBatch.promptPrefix(model, text)];
    // Each request: ids, adapter, new tokens, the step it joins at, and whether its prompt is cached.
    const requests: Array<{ ids: number[]; adapter: Adapter | null; steps: number; at: number; cached: boolean }> = [
      { ids: texts[0], adapter: random, steps: 6, at: 0, cached: true },
      { ids: texts[1], adapter: null, steps: 3, at: 0, cached: true },
      { ids: texts[1], adapter: text, steps: 5, at: 2, cached: true },
      { ids: texts[0], adapter: text, steps: 4, at: 2, cached: false },
      { ids: [...texts[1], ...texts[0]], adapter: random, steps: 3, at: 5, cached: true },
    ];
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
      const newRows: NewRow[] = joining.map((i) => {
        const r = requests[i];
        const prefix = r.adapter === random ? randomPrefix : r.adapter === text ? textPrefix : null;
        return r.cached ? { ids: r.ids, prefix } : { ids: r.ids, prompt: r.adapter };
      });
      const joined = await batch.join(newRows);
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
      const alone = await generate(model, null, { input_ids: [r.ids], prompt: r.adapter, max_new_tokens: r.steps, eos_token_id: [] });
      assert.deepEqual(outputs[i], alone.sequences[0].slice(r.ids.length), `request ${i}`);
    }
  });
}
