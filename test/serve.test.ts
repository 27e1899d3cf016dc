// `softprompt serve` through the official `openai` client on 127.0.0.1: listing, completions and chat, streaming,
// errors, auth, adapters loaded and unloaded at run time (and paths that try to escape), greedy output equal to
// `softprompt generate` and to PEFT's own, and a concurrent mixed-adapter burst that returns what each request
// returns alone.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import type { Usage } from '../src/serve/openai.js';
import { FIXTURES } from './fixtures.js';
import { startServer, type Running } from './serve-helpers.js';

const CHAT_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}Question: {{ m['content'] }}\n{% else %}Answer: {{ m['content'] }}\n{% endif %}{% endfor %}{% if add_generation_prompt %}Answer:{% endif %}";
const KEY = 'sk-test-key';
const tmp = mkdtempSync(join(tmpdir(), 'softprompt-serve-'));
after(() => rmSync(tmp, { recursive: true, force: true }));


function post(url: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: text, signal: AbortSignal.timeout(60_000) });
}

/** What `softprompt generate` prints for one prompt (the input's text included). */
function generateCli(model: string, adapter: string | null, prompt: string, extra: string[] = []): string {
  const args = ['bin/softprompt.js', 'generate', '--model', model, '--prompt', prompt, '--json', ...extra, ...(adapter ? ['--adapter', adapter] : [])];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout).text[0];
}

async function expectError(p: Promise<unknown>, status: number, code?: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof OpenAI.APIError, String(e));
    assert.equal(e.status, status, e.message);
    if (code) assert.equal(e.code, code);
    return true;
  });
}

const stories = join(FIXTURES, 'models', 'stories260K');
const golden = join(FIXTURES, 'golden', 'stories260K');

describe('serve: stories260K with a chat template, adapters and an API key', { timeout: 300_000 }, () => {
  const modelDir = join(tmp, 'stories-chat');
  const adaptersDir = join(tmp, 'adapters');
  let s: Running;
  before(async () => {
    cpSync(stories, modelDir, { recursive: true });
    const configPath = join(modelDir, 'tokenizer_config.json');
    writeFileSync(configPath, JSON.stringify({ ...JSON.parse(readFileSync(configPath, 'utf8')), chat_template: CHAT_TEMPLATE }));
    for (const name of ['adapter_random', 'adapter_text']) cpSync(join(golden, name), join(adaptersDir, name), { recursive: true });
    cpSync(join(golden, 'trainer', 'adapter'), join(adaptersDir, 'peft_trained'), { recursive: true });
    // An adapter outside the adapters directory, and a link into it from inside.
    cpSync(join(golden, 'adapter_text'), join(tmp, 'outside'), { recursive: true });
    mkdirSync(join(adaptersDir, 'nested'));
    cpSync(join(golden, 'adapter_random'), join(adaptersDir, 'nested', 'deeper'), { recursive: true });
    symlinkSync(join(tmp, 'outside'), join(adaptersDir, 'escape'));
    s = await startServer({ model: modelDir, adapters: adaptersDir, apiKey: KEY, maxBatchSize: 8 }, KEY);
  });
  after(() => s?.server.shutdown());

  test('lists the base model and every adapter, adapters with parent and root', async () => {
    const models = [];
    for await (const m of s.client.models.list()) models.push(m as unknown as Record<string, unknown>);
    const ids = models.map((m) => m.id);
    assert.deepEqual(ids, [modelDir, 'adapter_random', 'adapter_text', 'peft_trained']);
    const random = models.find((m) => m.id === 'adapter_random')!;
    assert.equal(random.parent, modelDir);
    assert.equal(random.root, join(adaptersDir, 'adapter_random'));
    assert.equal(models[0].parent, null);
    assert.equal((await s.client.models.retrieve('adapter_text')).id, 'adapter_text');
  });

  test('greedy completions per adapter equal `softprompt generate` with that adapter', async () => {
    const prompt = 'Once upon a time';
    for (const adapter of [null, 'adapter_random', 'adapter_text']) {
      const want = generateCli(modelDir, adapter && join(adaptersDir, adapter), prompt, ['--max_new_tokens', '12', '--repetition_penalty', '1.3']);
      const got = await s.client.completions.create({
        model: adapter ?? modelDir, prompt, max_tokens: 12, temperature: 0,
        // @ts-expect-error vLLM's extra sampling field
        repetition_penalty: 1.3,
      });
      assert.equal(prompt + got.choices[0].text, want, String(adapter));
      assert.equal(got.usage?.completion_tokens, 12);
      assert.equal(got.usage?.prompt_tokens, 5);
    }
  });

  test("a PEFT-trained adapter's greedy continuation equals PeftModel.generate's", async () => {
    const run = JSON.parse(readFileSync(join(golden, 'trainer', 'trainer_run.json'), 'utf8'));
    for (const g of run.generations_with_adapter as Array<{ prompt: string; new_ids: number[]; text: string }>) {
      const got = await s.client.completions.create({ model: 'peft_trained', prompt: g.prompt, max_tokens: g.new_ids.length, temperature: 0 });
      assert.equal(g.prompt + got.choices[0].text, g.text);
    }
  });

  test('a concurrent burst over adapters, the base model and an ensemble returns for each request what it returns alone', async () => {
    const prompts = ['Once upon a time', 'The dog', 'One day, Tom', 'Lily saw a big'];
    const models = [modelDir, 'adapter_random', 'adapter_text', 'peft_trained'];
    const requests = prompts.flatMap((prompt, i) =>
      models.map((model, j) => ({ model, prompt, max_tokens: 4 + ((i + j) % 5) * 3, temperature: 0, ...(i === j ? { ensemble: ['adapter_random', 'adapter_text'] } : {}) })),
    );
    const alone: OpenAI.CompletionChoice[] = [];
    for (const r of requests) alone.push((await s.client.completions.create(r as OpenAI.CompletionCreateParamsNonStreaming)).choices[0]);
    const together = await Promise.all(requests.map((r) => s.client.completions.create(r as OpenAI.CompletionCreateParamsNonStreaming)));
    together.forEach((got, i) => {
      assert.equal(got.choices[0].text, alone[i].text, `request ${i}`);
      assert.equal(got.choices[0].finish_reason, alone[i].finish_reason);
    });
  });

  test('an ensemble of one adapter, or of one adapter twice, decodes as that adapter', async () => {
    const base = { prompt: 'The dog', max_tokens: 10, temperature: 0 };
    const one = await s.client.completions.create({ model: 'adapter_text', ...base });
    for (const ensemble of [['adapter_text'], ['adapter_text', 'adapter_text']]) {
      // @ts-expect-error softprompt's extension field
      const got = await s.client.completions.create({ model: modelDir, ...base, ensemble });
      assert.equal(got.choices[0].text, one.choices[0].text);
    }
    // @ts-expect-error softprompt's extension field
    await expectError(s.client.completions.create({ model: modelDir, ...base, ensemble: ['adapter_text', 'nope'] }), 404, 'model_not_found');
  });

  test('chat completions use the chat template and equal completions of the rendered prompt', async () => {
    const messages = [{ role: 'user' as const, content: 'Where did Lily go?' }];
    const chat = await s.client.chat.completions.create({ model: 'adapter_text', messages, max_tokens: 8, temperature: 0 });
    assert.equal(chat.object, 'chat.completion');
    assert.equal(chat.choices[0].message.role, 'assistant');
    // The template writes BOS itself; the rendered text is tokenized without adding it again.
    const ids = s.server.tokenizer.encode('<s>Question: Where did Lily go?\nAnswer:', { add_special_tokens: false });
    const plain = await s.client.completions.create({ model: 'adapter_text', prompt: ids, max_tokens: 8, temperature: 0 });
    assert.equal(chat.choices[0].message.content, plain.choices[0].text);
    assert.equal(chat.usage?.prompt_tokens, ids.length);
  });

  test('streams completions and chat as server-sent events ending with [DONE]', async () => {
    const req = { model: 'adapter_random', prompt: 'Once upon a time', max_tokens: 10, temperature: 0 };
    const whole = await s.client.completions.create(req);
    let text = '';
    let finish: string | null = null;
    for await (const c of await s.client.completions.create({ ...req, stream: true })) {
      text += c.choices[0]?.text ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(text, whole.choices[0].text);
    assert.equal(finish, 'length');

    const raw = await (await post(s.url, '/v1/completions', { ...req, stream: true, stream_options: { include_usage: true } }, { authorization: `Bearer ${KEY}` })).text();
    const events = raw.split('\n\n').filter(Boolean);
    assert.equal(events.at(-1), 'data: [DONE]');
    assert.deepEqual(JSON.parse(events.at(-2)!.slice(6)).usage, { prompt_tokens: 5, completion_tokens: 10, total_tokens: 15 });

    let content = '';
    let role: string | undefined;
    const messages = [{ role: 'user' as const, content: 'Where did Lily go?' }];
    for await (const c of await s.client.chat.completions.create({ model: 'adapter_text', messages, max_tokens: 8, temperature: 0, stream: true })) {
      role ??= c.choices[0]?.delta.role;
      content += c.choices[0]?.delta.content ?? '';
    }
    const chat = await s.client.chat.completions.create({ model: 'adapter_text', messages, max_tokens: 8, temperature: 0 });
    assert.equal(role, 'assistant');
    assert.equal(content, chat.choices[0].message.content);
  });

  test('stop strings, n, seeds and logprobs', async () => {
    const base = { model: 'adapter_random', prompt: 'Once upon a time', max_tokens: 20, temperature: 0 };
    const full = (await s.client.completions.create(base)).choices[0].text;
    const stop = full.slice(8, 12);
    const cut = await s.client.completions.create({ ...base, stop: [stop] });
    assert.equal(cut.choices[0].text, full.slice(0, full.indexOf(stop)));
    assert.equal(cut.choices[0].finish_reason, 'stop');

    const sampled = { ...base, temperature: 1, top_p: 0.9, seed: 7, n: 3 };
    const a = await s.client.completions.create(sampled);
    const b = await s.client.completions.create(sampled);
    assert.equal(a.choices.length, 3);
    assert.deepEqual(a.choices.map((c) => c.text), b.choices.map((c) => c.text));
    assert.deepEqual(a.choices.map((c) => c.index), [0, 1, 2]);

    const lp = await s.client.completions.create({ ...base, max_tokens: 4, logprobs: 2 });
    const l = lp.choices[0].logprobs!;
    assert.equal(l.tokens!.length, 4);
    assert.equal(l.tokens!.join(''), lp.choices[0].text);
    assert.ok(l.token_logprobs!.every((x) => x <= 0));
    assert.equal(Object.keys(l.top_logprobs![0]).length, 2);
    // Greedy: the chosen token is the most likely one.
    assert.equal(Math.max(...Object.values(l.top_logprobs![0])), l.token_logprobs![0]);
    const chat = await s.client.chat.completions.create({ model: 'adapter_text', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3, temperature: 0, logprobs: true, top_logprobs: 1 });
    assert.equal(chat.choices[0].logprobs!.content!.length, 3);
  });

  test('errors: OpenAI-shaped 400 / 401 / 404 / 413, and the server stays up', async () => {
    await expectError(s.client.completions.create({ model: 'no-such-adapter', prompt: 'x' }), 404, 'model_not_found');
    await expectError(s.client.completions.create({ model: modelDir, prompt: 'x', max_tokens: -1 }), 400);
    await expectError(s.client.completions.create({ model: modelDir, prompt: 'x', max_tokens: 100_000 }), 400);
    await expectError(s.client.completions.create({ model: modelDir, prompt: [100_000] }), 400);
    const anonymous = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'wrong', maxRetries: 0, timeout: 60_000 });
    await expectError(anonymous.models.list(), 401, 'invalid_api_key');
    const missing = await fetch(`${s.url}/v1/models`);
    assert.equal(missing.status, 401);
    const auth = { authorization: `Bearer ${KEY}` };
    const hostile: Array<[string, unknown]> = [
      ['not json', '{"model": '],
      ['an array', []],
      ['no prompt', { model: modelDir }],
      ['a string max_tokens', { model: modelDir, prompt: 'x', max_tokens: '5' }],
      ['temperature 3', { model: modelDir, prompt: 'x', temperature: 3 }],
      ['top_p 0', { model: modelDir, prompt: 'x', top_p: 0 }],
      ['n 1000', { model: modelDir, prompt: 'x', n: 1000 }],
      ['an empty prompt list', { model: modelDir, prompt: [] }],
      ['a negative token id', { model: modelDir, prompt: [-1] }],
      ['a nested prompt', { model: modelDir, prompt: { text: 'x' } }],
      ['a prototype key', '{"model": "m", "prompt": "x", "__proto__": {"polluted": 1}}'],
      ['a bad logit_bias', { model: modelDir, prompt: 'x', logit_bias: { abc: 1 } }],
      ['an out-of-vocabulary logit_bias', { model: modelDir, prompt: 'x', logit_bias: { '99999': 1 } }],
      ['an ensemble of nothing', { model: modelDir, prompt: 'x', ensemble: [] }],
      ['suffix', { model: modelDir, prompt: 'x', suffix: 'y' }],
    ];
    for (const [what, body] of hostile) {
      const r = await post(s.url, '/v1/completions', body, auth);
      assert.equal(r.status, 400, what);
      const e = (await r.json()) as { error: { message: string; type: string } };
      assert.equal(e.error.type, 'invalid_request_error', what);
      assert.ok(e.error.message.length > 0);
    }
    const chatHostile: Array<[string, unknown]> = [
      ['no messages', { model: modelDir, messages: [] }],
      ['a bad role', { model: modelDir, messages: [{ role: 'wizard', content: 'x' }] }],
      ['an image part', { model: modelDir, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }],
    ];
    for (const [what, body] of chatHostile) assert.equal((await post(s.url, '/v1/chat/completions', body, auth)).status, 400, what);
    const big = await post(s.url, '/v1/completions', { model: modelDir, prompt: 'x'.repeat(2 << 20) }, auth);
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as { error: { code: string } }).error.code, 'body_too_large');
    assert.equal((await fetch(`${s.url}/v1/nowhere`, { headers: auth })).status, 404);
    // /health and /metrics need no key.
    assert.equal((await fetch(`${s.url}/health`)).status, 200);
    const metrics = await (await fetch(`${s.url}/metrics`)).text();
    for (const name of ['softprompt_requests_total', 'softprompt_generation_tokens_total', 'softprompt_batch_occupancy_ratio', 'softprompt_queue_depth', 'softprompt_time_to_first_token_seconds_bucket', 'softprompt_time_per_output_token_seconds_bucket', 'softprompt_prefix_cache_tokens_saved_total']) {
      assert.match(metrics, new RegExp(`^${name}`, 'm'), name);
    }
    assert.match(metrics, /softprompt_requests_total\{model="adapter_random",status="200"\} \d+/);
  });

  test('a prompt of prose just under the body limit is refused at once, without tokenizing it (found by npm run fuzz)', async () => {
    // Tokenizing ~1 MiB of prose took 7-14 s on the event loop, stalling every other request, only to refuse it.
    const auth = { authorization: `Bearer ${KEY}` };
    const prose = 'Once upon a time '.repeat(60_000);
    for (const [path, body, param] of [
      ['/v1/completions', { model: 'adapter_text', prompt: prose, max_tokens: 1 }, 'prompt'],
      ['/v1/completions', { model: 'adapter_text', prompt: ['The dog', prose], max_tokens: 1 }, 'prompt'],
      ['/v1/chat/completions', { model: 'adapter_text', messages: [{ role: 'user', content: prose }], max_tokens: 1 }, 'messages'],
    ] as const) {
      const started = performance.now();
      const r = await post(s.url, path, body, auth);
      const ms = performance.now() - started;
      assert.equal(r.status, 400);
      const e = ((await r.json()) as { error: { message: string; param: string } }).error;
      assert.equal(e.param, param);
      assert.match(e.message, /maximum context length is 512 tokens.* \d{7} characters/);
      assert.ok(ms < 2000, `${path} took ${ms} ms`);
    }
    // Text under the character bound is still tokenized and refused (or served) by its token count.
    const r = await post(s.url, '/v1/completions', { model: 'adapter_text', prompt: 'Once upon a time '.repeat(600), max_tokens: 1 }, auth);
    assert.equal(r.status, 400);
    assert.match(((await r.json()) as { error: { message: string } }).error.message, /you requested \d+ tokens \(\d+ in the prompt/);
  });

  test('a client that goes away mid-stream frees its row; more hostile requests get 4xx; the server stays up', async () => {
    const auth = { authorization: `Bearer ${KEY}` };
    const controller = new AbortController();
    const r = await fetch(`${s.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth },
      body: JSON.stringify({ model: 'adapter_text', prompt: 'The dog', max_tokens: 400, temperature: 0, ignore_eos: true, stream: true }),
      signal: controller.signal,
    });
    const reader = r.body!.getReader();
    await reader.read();
    controller.abort();
    await s.server.scheduler.idle();
    assert.equal(s.server.scheduler.rows, 0);
    for (const [what, init] of [
      ['text/plain', { method: 'POST', headers: { 'content-type': 'text/plain', ...auth }, body: 'hello' }],
      ['GET on a POST route', { method: 'GET', headers: auth }],
      ['deep nesting', { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: `{"model":"m","prompt":"x","user":${'['.repeat(50_000)}${']'.repeat(50_000)}}` }],
      ['an empty body', { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: '' }],
      ['a float max_tokens', { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ model: modelDir, prompt: 'x', max_tokens: 1.5 }) }],
      ['a list with an empty token list', { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ model: modelDir, prompt: [[]] }) }],
      ['a mixed prompt list', { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ model: modelDir, prompt: ['x', 1] }) }],
      ['stream "yes"', { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ model: modelDir, prompt: 'x', stream: 'yes' }) }],
    ] as const) {
      const res = await fetch(`${s.url}/v1/completions`, init as RequestInit);
      assert.ok(res.status >= 400 && res.status < 500, `${what}: ${res.status}`);
      assert.ok(((await res.json()) as { error?: unknown }).error, what);
    }
    const ok = await s.client.completions.create({ model: 'adapter_text', prompt: 'The dog', max_tokens: 3, temperature: 0 });
    assert.equal(ok.choices[0].finish_reason, 'length');
  });

  test('load_adapter and unload_adapter at run time, with names and paths checked', async () => {
    const auth = { authorization: `Bearer ${KEY}` };
    const load = (body: unknown) => post(s.url, '/v1/load_adapter', body, auth);
    const loaded = await load({ adapter_name: 'deep', adapter_path: 'nested/deeper' });
    assert.equal(loaded.status, 200, await loaded.clone().text());
    const viaDeep = await s.client.completions.create({ model: 'deep', prompt: 'The dog', max_tokens: 6, temperature: 0 });
    const viaRandom = await s.client.completions.create({ model: 'adapter_random', prompt: 'The dog', max_tokens: 6, temperature: 0 });
    assert.equal(viaDeep.choices[0].text, viaRandom.choices[0].text);
    assert.equal((await load({ adapter_name: 'deep', adapter_path: 'nested/deeper' })).status, 400, 'a name already loaded');
    for (const [what, body] of [
      ['a parent path', { adapter_name: 'x1', adapter_path: '../outside' }],
      ['a sneaky parent path', { adapter_name: 'x2', adapter_path: 'nested/../../outside' }],
      ['an absolute path', { adapter_name: 'x3', adapter_path: join(tmp, 'outside') }],
      ['a symlink out', { adapter_name: 'x4', adapter_path: 'escape' }],
      ['a bad name', { adapter_name: '../x', adapter_path: 'adapter_text' }],
      ['a name with a slash', { adapter_name: 'a/b', adapter_path: 'adapter_text' }],
      ['no path', { adapter_name: 'x5' }],
    ] as const) {
      const r = await load(body);
      assert.equal(r.status, 400, `${what}: ${await r.text()}`);
    }
    // A symlink out is not served by name either.
    await expectError(s.client.completions.create({ model: 'escape', prompt: 'x' }), 400);
    assert.equal((await load({ adapter_name: 'x6', adapter_path: 'missing' })).status, 404);

    const unload = (body: unknown) => post(s.url, '/v1/unload_adapter', body, auth);
    assert.equal((await unload({ adapter_name: 'deep' })).status, 200);
    await expectError(s.client.completions.create({ model: 'deep', prompt: 'x' }), 404, 'model_not_found');
    assert.equal((await unload({ adapter_name: 'deep' })).status, 404);
    // An adapter from the directory, unloaded, stays away until loaded again.
    assert.equal((await unload({ lora_name: 'adapter_text' })).status, 200);
    await expectError(s.client.completions.create({ model: 'adapter_text', prompt: 'x' }), 404);
    assert.equal((await load({ lora_name: 'adapter_text', lora_path: 'adapter_text' })).status, 200);
    assert.equal((await s.client.completions.create({ model: 'adapter_text', prompt: 'x', max_tokens: 2 })).choices.length, 1);
  });
});

describe('serve: gpt2-tiny without a chat template, a small queue', { timeout: 300_000 }, () => {
  const model = join(FIXTURES, 'models', 'gpt2-tiny');
  let s: Running;
  before(async () => {
    s = await startServer({ model, adapters: join(FIXTURES, 'golden', 'gpt2-tiny'), maxBatchSize: 1, maxQueue: 2 });
  });
  after(() => s?.server.shutdown());

  test('greedy completions equal `softprompt generate` (learned positions, PEFT adapters)', async () => {
    for (const adapter of ['adapter_random', 'adapter_text']) {
      const want = generateCli(model, join(FIXTURES, 'golden', 'gpt2-tiny', adapter), 'Hello world', ['--max_new_tokens', '8']);
      const got = await s.client.completions.create({ model: adapter, prompt: 'Hello world', max_tokens: 8, temperature: 0, stop: null });
      assert.equal('Hello world' + got.choices[0].text, want);
    }
  });

  test('chat without a chat template is a clear 400', async () => {
    await assert.rejects(s.client.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.APIError);
      assert.equal(e.status, 400);
      assert.match(e.message, /no chat template/);
      return true;
    });
  });

  test('a full queue answers 429 with Retry-After, and the rest complete', async () => {
    const responses = await Promise.all(
      Array.from({ length: 8 }, () => post(s.url, '/v1/completions', { model, prompt: 'Hello', max_tokens: 30, temperature: 0, ignore_eos: true })),
    );
    const statuses = responses.map((r) => r.status);
    assert.ok(statuses.includes(429), String(statuses));
    assert.ok(statuses.includes(200), String(statuses));
    const refused = responses.find((r) => r.status === 429)!;
    assert.equal(refused.headers.get('retry-after'), '1');
    assert.equal(((await refused.json()) as { error: { type: string } }).error.type, 'rate_limit_error');
  });

  test('while shutting down: new requests get 503, the running one finishes', async () => {
    const running = s.client.completions.create({ model, prompt: 'Hello', max_tokens: 60, temperature: 0, ignore_eos: true } as OpenAI.CompletionCreateParamsNonStreaming);
    await new Promise((r) => setTimeout(r, 50));
    const closing = s.server.shutdown();
    const refused = await post(s.url, '/v1/completions', { model, prompt: 'Hello' }).catch(() => null);
    if (refused) assert.equal(refused.status, 503);
    assert.equal((await running).choices[0].finish_reason, 'length');
    await closing;
  });
});

test('softprompt serve: SIGTERM finishes the running request, refuses new ones, exits 0; one log line per request', { timeout: 120_000 }, async () => {
  const { spawn } = await import('node:child_process');
  const model = join(FIXTURES, 'models', 'gpt2-tiny');
  const child = spawn(process.execPath, ['bin/softprompt.js', 'serve', '--model', model, '--port', '0', '--threads', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const killer = setTimeout(() => child.kill('SIGKILL'), 100_000);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const address = await new Promise<string>((resolve, reject) => {
      const check = () => {
        const line = out.split('\n').find((l) => l.includes('"msg":"serving"'));
        if (line) resolve(JSON.parse(line).address);
      };
      child.stdout.on('data', check);
      child.on('exit', () => reject(new Error(`exited before serving: ${out}`)));
    });
    const running = post(address, '/v1/completions', { model, prompt: 'Hello', max_tokens: 200, temperature: 0, ignore_eos: true });
    await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 20));
    const refused = await post(address, '/v1/completions', { model, prompt: 'Hello' }).catch(() => null);
    if (refused) assert.equal(refused.status, 503);
    const done = await running;
    assert.equal(done.status, 200);
    assert.equal(((await done.json()) as { usage: Usage }).usage.completion_tokens, 200);
    assert.equal(await exited, 0);
    const requests = out.split('\n').filter((l) => l.includes('"msg":"request"')).map((l) => JSON.parse(l));
    const served = requests.find((r) => r.status === 200)!;
    assert.deepEqual([served.method, served.model, served.completion_tokens], ['POST', model, 200]);
    assert.ok(typeof served.ms === 'number');
  } finally {
    clearTimeout(killer);
    child.kill('SIGKILL');
  }
});

test('softprompt serve --help lists its flags; a bad flag is one line and exit code 2', () => {
  const help = spawnSync(process.execPath, ['bin/softprompt.js', 'serve', '--help'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(help.status, 0);
  for (const flag of ['--model', '--adapters', '--host', '--port', '--api_key', '--max_batch_size', '--max_queue', '--max_model_len']) assert.ok(help.stdout.includes(flag), flag);
  const bad = spawnSync(process.execPath, ['bin/softprompt.js', 'serve', '--model', 'x', '--port', '80a'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr.trim().split('\n')[0], 'softprompt: --port: is "80a"; expected an integer >= 0');
});
