// `softprompt serve` with adapters whose virtual tokens go before the completion (virtual_tokens_position): completions
// and chat completions give `generate`'s greedy ids with the adapter (its virtual tokens after the templated prompt),
// with the prefix cache on (such adapters skip it) and off; a concurrent burst mixing two such adapters, a front
// adapter, the base model and ensembles across placements returns for each request what it returns alone.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type OpenAI from 'openai';
import { generate } from '../src/generate/generate.js';
import { loadAdapter, saveAdapter } from '../src/peft/adapter-files.js';
import { promptTuningConfigOf } from '../src/peft/adapter.js';
import { FIXTURES } from './fixtures.js';
import { completionText, startServer, type Running } from './serve-helpers.js';

const CHAT_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}Question: {{ m['content'] }}\n{% else %}Answer: {{ m['content'] }}\n{% endif %}{% endfor %}{% if add_generation_prompt %}Answer:{% endif %}";
const golden = join(FIXTURES, 'golden', 'stories260K');
const tmp = mkdtempSync(join(tmpdir(), 'softprompt-serve-position-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** `from`'s prompt, its first `n` virtual tokens, saved with virtual_tokens_position before_completion. */
async function placedLate(from: string, to: string, n: number): Promise<void> {
  const adapter = await loadAdapter(from);
  const config = { ...promptTuningConfigOf(adapter, from), num_virtual_tokens: n, virtual_tokens_position: 'before_completion' as const };
  await saveAdapter(to, config, adapter.prompt.slice(0, n * adapter.tokenDim));
}

describe('serve: stories260K with adapters placed before the completion', { timeout: 300_000 }, () => {
  const modelDir = join(tmp, 'stories-chat');
  const adapters = join(tmp, 'adapters');
  const request = (model: string, prompt: number[] | string, extra: Record<string, unknown> = {}) =>
    ({ model, prompt, max_tokens: 10, temperature: 0, repetition_penalty: 1.3, ignore_eos: true, ...extra }) as OpenAI.CompletionCreateParamsNonStreaming;
  let cached: Running;
  let uncached: Running;
  before(async () => {
    cpSync(join(FIXTURES, 'models', 'stories260K'), modelDir, { recursive: true });
    const configPath = join(modelDir, 'tokenizer_config.json');
    writeFileSync(configPath, JSON.stringify({ ...JSON.parse(readFileSync(configPath, 'utf8')), chat_template: CHAT_TEMPLATE }));
    // `front` and `late` are the same prompt, in front and before the completion; `late_short` has two virtual tokens.
    cpSync(join(golden, 'adapter_text'), join(adapters, 'front'), { recursive: true });
    await placedLate(join(golden, 'adapter_text'), join(adapters, 'late'), 4);
    await placedLate(join(golden, 'adapter_random'), join(adapters, 'late_short'), 2);
    [cached, uncached] = await Promise.all([startServer({ model: modelDir, adapters, prefixCache: true, maxBatchSize: 16 }), startServer({ model: modelDir, adapters, prefixCache: false, maxBatchSize: 16 })]);
  });
  after(async () => {
    await cached?.server.shutdown();
    await uncached?.server.shutdown();
  });

  /** `generate`'s greedy continuation of `ids` with the adapter, as the completion text serve sends. */
  async function generated(s: Running, adapter: string, ids: number[]): Promise<string> {
    const { model, tokenizer } = s.server;
    const prompt = await loadAdapter(join(adapters, adapter));
    const out = await generate(model, tokenizer, { input_ids: [ids], prompt, max_new_tokens: 10, repetition_penalty: 1.3, eos_token_id: [] });
    return completionText(tokenizer, ids, out.sequences[0].slice(ids.length));
  }

  test("completions give generate's greedy ids, with the prefix cache on and off", async () => {
    for (const s of [cached, uncached]) {
      const ids = s.server.tokenizer.encode('Once upon a time');
      for (const adapter of ['late', 'late_short']) {
        const got = await s.client.completions.create(request(adapter, ids));
        assert.equal(got.choices[0].text, await generated(s, adapter, ids), adapter);
        assert.equal(got.usage?.completion_tokens, 10);
      }
      // The placement matters: the same prompt in front continues differently.
      const front = await s.client.completions.create(request('front', ids));
      assert.notEqual(front.choices[0].text, (await s.client.completions.create(request('late', ids))).choices[0].text);
    }
    // Nothing is cached for them: the prefix cache served only `front`.
    assert.equal(await cached.server.metrics.prefixHits.get().then((m) => m.values.reduce((n, v) => n + v.value, 0)), 1);
  });

  test('chat completions put the virtual tokens after the templated conversation', async () => {
    const messages = [{ role: 'user' as const, content: 'Where did Lily go?' }];
    const chat = await cached.client.chat.completions.create({
      model: 'late', messages, max_tokens: 10, temperature: 0,
      // @ts-expect-error vLLM's extra sampling fields
      repetition_penalty: 1.3, ignore_eos: true,
    });
    const ids = cached.server.tokenizer.encode('<s>Question: Where did Lily go?\nAnswer:', { add_special_tokens: false });
    assert.equal(chat.choices[0].message.content, await generated(cached, 'late', ids));
  });

  test('a concurrent burst mixing placements, the base model and ensembles returns for each request what it returns alone', async () => {
    const prompts = ['Once upon a time', 'The dog', 'One day, Tom', 'Lily saw a big'];
    const models = [modelDir, 'front', 'late', 'late_short'];
    const ensembles = [['front', 'late'], ['late', 'late_short'], [modelDir, 'late']];
    const requests = prompts.flatMap((prompt, i) =>
      models.map((model, j) => request(model, prompt, { max_tokens: 3 + ((i + j) % 4) * 2, ...(i === j && i < ensembles.length ? { ensemble: ensembles[i] } : {}) })),
    );
    for (const s of [cached, uncached]) {
      const alone: OpenAI.CompletionChoice[] = [];
      for (const r of requests) alone.push((await s.client.completions.create(r)).choices[0]);
      const together = await Promise.all(requests.map((r) => s.client.completions.create(r)));
      together.forEach((got, i) => assert.equal(got.choices[0].text, alone[i].text, `request ${i}`));
    }
  });

  test('an ensemble of a late adapter twice decodes as that adapter', async () => {
    const one = await cached.client.completions.create(request('late', 'The dog'));
    const twice = await cached.client.completions.create(request(modelDir, 'The dog', { ensemble: ['late', 'late'] }));
    assert.equal(twice.choices[0].text, one.choices[0].text);
  });
});
