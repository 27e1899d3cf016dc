// `softprompt serve` with PEFT's other prompt-learning adapters in its adapters directory: P-tuning (MLP, LSTM) and
// prefix tuning (with and without projection) serve PEFT's greedy ids, with the prefix cache and without it, and side
// by side in one burst; a multitask adapter, which needs a task id the OpenAI API cannot carry, is refused by name.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { tokenizerFromPretrained } from '../src/tokenizer/pretrained.js';
import type { TextTokenizer } from '../src/tokenizer/tokenizer.js';
import { FIXTURES } from './fixtures.js';
import { completionText, startServer, type Running } from './serve-helpers.js';

const METHODS = ['ptuning_mlp', 'ptuning_lstm', 'prefix_noproj', 'prefix_proj'];
const tmp = mkdtempSync(join(tmpdir(), 'softprompt-serve-methods-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

for (const name of ['gpt2-tiny', 'llama-tiny']) {
  describe(`serve: ${name} with P-tuning, prefix-tuning and multitask adapters`, { timeout: 300_000 }, () => {
    const model = join(FIXTURES, 'models', name);
    const golden = join(FIXTURES, 'golden-methods', name);
    const adapters = join(tmp, name);
    const inputs = JSON.parse(readFileSync(join(golden, 'inputs.json'), 'utf8'));
    const prompt: number[] = inputs.token_ids_unpadded[0];
    const want = (method: string): number[] => JSON.parse(readFileSync(join(golden, method, 'results.json'), 'utf8'))['single.generate_ids'][0].slice(prompt.length);
    const request = (adapter: string) => ({ model: adapter, prompt, max_tokens: 8, temperature: 0, repetition_penalty: 1.5 });
    let tokenizer: TextTokenizer;
    let cached: Running;
    let uncached: Running;
    before(async () => {
      for (const method of [...METHODS, 'multitask']) cpSync(join(golden, method, 'adapter'), join(adapters, method), { recursive: true });
      tokenizer = await tokenizerFromPretrained(model);
      [cached, uncached] = await Promise.all([startServer({ model: model, adapters, prefixCache: true, maxBatchSize: 8 }), startServer({ model: model, adapters, prefixCache: false, maxBatchSize: 8 })]);
    });
    after(async () => {
      await cached?.server.shutdown();
      await uncached?.server.shutdown();
    });

    test('lists the P-tuning and prefix adapters; a multitask adapter is refused, naming its method', async () => {
      const ids = [];
      for await (const m of cached.client.models.list()) ids.push(m.id);
      assert.deepEqual(ids, [model, ...[...METHODS].sort()]);
      await assert.rejects(cached.client.completions.create(request('multitask')), (e: unknown) => e instanceof OpenAI.APIError && e.status === 400 && /MULTITASK_PROMPT_TUNING/.test(e.message));
    });

    test("greedy completions give PEFT's ids, with the prefix cache and without it, alone and in one burst", async () => {
      const expected = METHODS.map((method) => completionText(tokenizer, prompt, want(method)));
      for (const s of [cached, uncached]) {
        for (const [i, method] of METHODS.entries()) {
          const got = await s.client.completions.create(request(method) as OpenAI.CompletionCreateParamsNonStreaming);
          assert.equal(got.choices[0].text, expected[i], method);
        }
      }
      const burst = await Promise.all([...METHODS, model].map((m) => cached.client.completions.create(request(m) as OpenAI.CompletionCreateParamsNonStreaming)));
      burst.slice(0, METHODS.length).forEach((got, i) => assert.equal(got.choices[0].text, expected[i], `${METHODS[i]} in a burst`));
    });
  });
}
