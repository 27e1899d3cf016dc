// Fuzz targets for `softprompt serve`'s request bodies: generated requests (plausible bodies with fields dropped or set
// to hostile values, and raw bytes: broken JSON, deep nesting, odd content types, bodies over the limit) sent in-process
// with fastify's `inject` to a server on the stories260K fixture, one to three at a time so they share the batch. Every
// response must be a 2xx or a 4xx in OpenAI's error shape; never a 5xx, never a hang (the target's timeout); afterwards
// /health answers and the batch is empty. Accepted requests stay cheap: --max_model_len 48 caps what any can decode.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { SoftpromptServer } from '../../src/serve/server.js';
import { FIXTURES } from '../fixtures.js';
import { hostileValue, type FuzzTarget } from './targets.js';

const KEY = 'sk-fuzz';
const BASE = 'stories';
const CHAT_TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}{{ m['content'] }}\n{% elif m['role'] == 'user' %}" +
  "Question: {{ m['content'] }}\n{% else %}Answer: {{ m['content'] }}{{ eos_token }}\n{% endif %}{% endfor %}{% if add_generation_prompt %}Answer:{% endif %}";

interface Request {
  method: 'GET' | 'POST';
  url: string;
  headers: Record<string, string>;
  payload?: string | Buffer;
}

/** The running server and its temp directory; one per target, shared by its inputs. */
let server: SoftpromptServer | null = null;
let dir: string | null = null;
/** Responses by status since setUp, for the long run's report. */
const statuses = new Map<number, number>();

async function startServer(): Promise<void> {
  statuses.clear();
  dir = mkdtempSync(join(tmpdir(), 'softprompt-fuzz-serve-'));
  const model = join(dir, BASE);
  cpSync(join(FIXTURES, 'models', 'stories260K'), model, { recursive: true });
  const configPath = join(model, 'tokenizer_config.json');
  writeFileSync(configPath, JSON.stringify({ ...JSON.parse(readFileSync(configPath, 'utf8')), chat_template: CHAT_TEMPLATE }));
  const adapters = join(dir, 'adapters');
  const golden = join(FIXTURES, 'golden', 'stories260K', 'adapter_text');
  cpSync(golden, join(adapters, 'adapter_text'), { recursive: true });
  // What load_adapter may be pointed at: an adapter for another model, a damaged one, one outside (and a link to it).
  cpSync(join(FIXTURES, 'golden', 'gpt2-tiny', 'adapter_text'), join(adapters, 'other_model'), { recursive: true });
  mkdirSync(join(adapters, 'damaged'));
  writeFileSync(join(adapters, 'damaged', 'adapter_config.json'), '{"peft_type": "PROMPT_TUNING", "num_virtual_tokens": -');
  cpSync(golden, join(dir, 'outside'), { recursive: true });
  symlinkSync(join(dir, 'outside'), join(adapters, 'escape'));
  server = await SoftpromptServer.create({
    model,
    servedModelName: BASE,
    adapters,
    apiKey: KEY,
    maxBatchSize: 8,
    maxQueue: 32,
    maxModelLen: 48,
    threads: 1,
    hub: { offline: true, cache_dir: join(dir, 'hub') },
  });
}

async function stopServer(): Promise<void> {
  await server?.shutdown();
  server = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = null;
}

// --- generated values ---------------------------------------------------------------------------------------------

/** Strings a tokenizer or template may choke on: special tokens, template syntax, lone surrogates, NULs, long runs. */
const oddString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('Once upon a time', 'The dog', 'Hi', ' ', '') },
  {
    weight: 3,
    arbitrary: fc
      .array(fc.oneof(fc.constantFrom('<s>', '</s>', '<unk>', '{{ x }}', '{% endfor %}', '\ud800', '\udfff', '\u0000', '\ufeff', '\r\n', '\u2028', '😀', 'é', '"', '\\', 'data: [DONE]\n\n'), fc.string({ maxLength: 6 })), { maxLength: 8 })
      .map((xs) => xs.join('')),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('a', 'x ', 'é', '\ud83d\ude00', '<s>'), fc.constantFrom(50, 500, 5000, 60_000)).map(([s, n]) => s.repeat(n)) },
);

const modelName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(BASE, 'adapter_text') },
  { weight: 1, arbitrary: fc.constantFrom('nope', 'other_model', 'damaged', 'escape', '../adapter_text', 'adapter_text/', '.', '..', BASE.toUpperCase(), 'org/name', 'x'.repeat(1025)) },
  { weight: 1, arbitrary: oddString },
);

const tokenId = fc.oneof({ weight: 12, arbitrary: fc.nat({ max: 520 }) }, { weight: 1, arbitrary: fc.constantFrom(-1, 1.5, 2 ** 31, 2 ** 53, 1e300) });

/** A plausible value for each sampling field (hostile ones are mixed in by `body`). */
const SAMPLING_FIELDS: Record<string, fc.Arbitrary<unknown>> = {
  max_tokens: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 4 }) }, { weight: 1, arbitrary: fc.constantFrom(0, null, 47, 48, 2 ** 31, 1e300) }),
  temperature: fc.oneof(fc.constantFrom(0, 0.7, 1, 2, null), fc.double({ min: 0, max: 2, noNaN: true })),
  top_p: fc.oneof(fc.constantFrom(1, 0.5, 1e-300, null), fc.double({ min: 0, max: 1, noNaN: true })),
  top_k: fc.constantFrom(-1, 0, 1, 5, 511, 512, 10_000, null),
  n: fc.constantFrom(1, 2, 3, null),
  stream: fc.boolean(),
  stream_options: fc.constantFrom({ include_usage: true }, { include_usage: false }, {}, null),
  stop: fc.oneof(oddString, fc.array(oddString, { maxLength: 3 }), fc.constant(null)),
  seed: fc.oneof(fc.integer(), fc.constantFrom(0, -1, 2 ** 53 - 1, -(2 ** 53) + 1, null)),
  presence_penalty: fc.double({ min: -2, max: 2, noNaN: true }),
  frequency_penalty: fc.double({ min: -2, max: 2, noNaN: true }),
  repetition_penalty: fc.oneof(fc.constantFrom(1, 1.3, 100, 1e-300), fc.double({ min: 0, max: 100, noNaN: true })),
  logit_bias: fc.oneof(fc.dictionary(fc.oneof(fc.nat({ max: 600 }).map(String), fc.constantFrom('0', '511', '512', '999999999', '-1', '1.5', 'abc')), fc.oneof(fc.constantFrom(-100, 100, 0), fc.double({ min: -100, max: 100, noNaN: true })), { maxKeys: 4 }), fc.constant(null)),
  min_tokens: fc.constantFrom(0, 1, 4, 100, null),
  stop_token_ids: fc.oneof(fc.array(tokenId, { maxLength: 4 }), fc.constant(null)),
  ignore_eos: fc.boolean(),
  user: oddString,
  ensemble: fc.oneof(fc.array(modelName, { minLength: 1, maxLength: 3 }), fc.constant(null)),
};

const COMPLETION_FIELDS: Record<string, fc.Arbitrary<unknown>> = {
  model: modelName,
  prompt: fc.oneof(
    { weight: 4, arbitrary: oddString },
    { weight: 1, arbitrary: fc.array(oddString, { maxLength: 3 }) },
    { weight: 1, arbitrary: fc.array(tokenId, { maxLength: 8 }) },
    { weight: 1, arbitrary: fc.array(fc.array(tokenId, { maxLength: 4 }), { maxLength: 3 }) },
  ),
  ...SAMPLING_FIELDS,
  logprobs: fc.constantFrom(0, 1, 5, 20, 21, null),
  echo: fc.boolean(),
  best_of: fc.constantFrom(1, 2, null),
  suffix: fc.constantFrom('', 'x', null),
};

const contentPart = fc.oneof(
  fc.record({ type: fc.constant('text'), text: oddString }),
  fc.record({ type: fc.constantFrom('image_url', 'input_audio', ''), image_url: fc.constant({ url: 'http://x' }) }, { requiredKeys: ['type'] }),
  hostileValue,
);
const message = fc.record(
  {
    role: fc.oneof({ weight: 15, arbitrary: fc.constantFrom('user', 'assistant', 'system', 'developer', 'tool') }, { weight: 1, arbitrary: hostileValue }),
    content: fc.oneof({ weight: 12, arbitrary: oddString }, { weight: 2, arbitrary: fc.array(contentPart, { maxLength: 3 }) }, { weight: 1, arbitrary: hostileValue }),
    name: fc.oneof(oddString, fc.constant(null)),
  },
  { requiredKeys: ['role'] },
);

const CHAT_FIELDS: Record<string, fc.Arbitrary<unknown>> = {
  model: modelName,
  messages: fc.oneof({ weight: 12, arbitrary: fc.array(message, { minLength: 1, maxLength: 4 }) }, { weight: 1, arbitrary: fc.constant([]) }),
  ...SAMPLING_FIELDS,
  max_completion_tokens: fc.constantFrom(1, 3, 0, null),
  logprobs: fc.boolean(),
  top_logprobs: fc.constantFrom(0, 2, 20, 21, null),
  add_generation_prompt: fc.boolean(),
  tools: fc.constantFrom([], [{ type: 'function' }], null),
};

/**
 * A body: the required fields (each dropped now and then), a few others, each value plausible or (one time in ten)
 * hostile, and now and then an unknown key or a prototype key; or, rarely, a hostile value as the whole body.
 */
function body(fields: Record<string, fc.Arbitrary<unknown>>, required: string[]): fc.Arbitrary<unknown> {
  const others = Object.keys(fields).filter((k) => !required.includes(k));
  const value = (k: string) => fc.oneof({ weight: 9, arbitrary: fields[k] }, { weight: 1, arbitrary: hostileValue });
  const object = fc
    .tuple(
      fc.tuple(...required.map((k) => fc.option(value(k), { freq: 20, nil: undefined }))),
      fc.subarray(others, { maxLength: Math.min(5, others.length) }).chain((ks) => fc.tuple(fc.constant(ks), fc.tuple(...ks.map(value)))),
      fc.option(fc.tuple(fc.constantFrom('unknown_field', 'tools_choice', 'x'.repeat(300), ''), hostileValue), { freq: 8 }),
    )
    .map(([req, [ks, vs], extra]) => {
      const out: Record<string, unknown> = {};
      required.forEach((k, i) => req[i] !== undefined && (out[k] = req[i]));
      ks.forEach((k, i) => (out[k] = vs[i]));
      if (extra) out[extra[0]] = extra[1];
      return out;
    });
  return fc.oneof({ weight: 20, arbitrary: object }, { weight: 1, arbitrary: hostileValue });
}

const LOAD_NAMES = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('a0', 'a1', 'adapter_text', 'other_model') },
  { weight: 1, arbitrary: fc.constantFrom(BASE, '.', '..', 'a/b', 'a b', '', 'x'.repeat(201), '..%2f', 'escape', 'damaged') },
  { weight: 1, arbitrary: oddString },
);
/** Paths that name an adapter, something else, or try to leave the adapters directory. */
const LOAD_PATHS = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('adapter_text', './adapter_text', 'adapter_text/', 'adapter_text/../adapter_text') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '.', '..', '../outside', '../../../../etc/passwd', '/etc', '/', 'C:\\Windows', '\\\\server\\share', 'escape', 'escape/',
      'damaged', 'other_model', 'adapter_text/adapter_config.json', 'adapter_text/adapter_model.safetensors', 'nope', 'org/name',
      'org/..', '../adapters/adapter_text', '%2e%2e/outside', 'a\u0000b', '~', '~/x', 'adapter_text/\u0000', '\\..\\outside', 'x'.repeat(1025),
    ),
  },
  { weight: 1, arbitrary: oddString },
);
const ADAPTER_FIELDS: Record<string, fc.Arbitrary<unknown>> = { adapter_name: LOAD_NAMES, adapter_path: LOAD_PATHS, lora_name: LOAD_NAMES, lora_path: LOAD_PATHS };

/**
 * The body as bytes: its JSON (mostly), or JSON cut, with bytes overwritten or noise spliced in, deeply nested, with
 * prototype keys, no JSON at all, or about 1 MiB (`big` puts a long string where this endpoint reads text).
 */
function bytes(value: fc.Arbitrary<unknown>, big: (long: string) => unknown): fc.Arbitrary<string | Buffer> {
  const json = value.map((v) => JSON.stringify(v) ?? 'undefined');
  const noise = fc.oneof(fc.constantFrom('{', '}', '[', ']', '"', ',', ':', '\\', '\\u', '\\ud800', 'NaN', 'Infinity', '1e999', '-0', '__proto__', '"constructor":{"prototype":{}}', '\u0000', '\ufeff'), fc.string({ maxLength: 6 }));
  const edited = fc.tuple(json, fc.nat(), fc.nat({ max: 8 }), fc.array(noise, { maxLength: 4 })).map(([j, at, cut, ins]) => {
    const i = at % (j.length + 1);
    return j.slice(0, i) + ins.join('') + j.slice(i + cut);
  });
  const flipped = fc.tuple(json, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })).map(([j, flips]) => {
    const b = Buffer.from(j);
    for (const [at, v] of flips) b[at % b.length] = v;
    return b;
  });
  const nested = fc.tuple(fc.constantFrom('[', '{"a":', '{"model":'), fc.constantFrom(10, 1000, 100_000)).map(([open, depth]) => {
    const close = open === '[' ? ']' : '}';
    return `{"model":"${BASE}","prompt":"x","n":${open.repeat(depth)}1${close.repeat(depth)}}`;
  });
  const protoKeys = json.map((j) => (j.startsWith('{') ? `{"__proto__":{"max_tokens":1000},${j.slice(1)}` : j));
  // Bodies at and just under the 1 MiB limit, around a long string: one letter, or prose (the tokenizer's slow case).
  const huge = fc
    .tuple(fc.constantFrom('x', 'Once upon a time ', 'The dog ran.\n'), fc.constantFrom((1 << 20) - 200, 1 << 20, 2 << 20))
    .map(([unit, n]) => JSON.stringify(big(unit.repeat(Math.ceil(n / unit.length)).slice(0, n))));
  const hugeArray = fc.constantFrom(10_000, 200_000).map((n) => `{"model":"${BASE}","prompt":[${Array(n).fill('1').join(',')}],"max_tokens":1}`);
  return fc.oneof(
    { weight: 40, arbitrary: json },
    { weight: 3, arbitrary: edited },
    { weight: 2, arbitrary: flipped },
    { weight: 1, arbitrary: nested },
    { weight: 1, arbitrary: protoKeys },
    { weight: 1, arbitrary: fc.oneof(fc.constantFrom('', ' ', 'null', '"x"', '[]', '1', 'true', '{}'), fc.string({ unit: 'binary', maxLength: 30 })) },
    { weight: 1, arbitrary: fc.oneof(huge, hugeArray) },
  );
}

const headers = fc
  .tuple(
    fc.oneof(
      { weight: 20, arbitrary: fc.constant(`Bearer ${KEY}`) },
      { weight: 1, arbitrary: fc.constantFrom(undefined, '', 'Bearer', 'Bearer ', `bearer ${KEY}`, `Bearer ${KEY} `, 'Bearer wrong', `Basic ${KEY}`) },
    ),
    fc.oneof(
      { weight: 20, arbitrary: fc.constant('application/json') },
      { weight: 1, arbitrary: fc.constantFrom(undefined, 'application/json; charset=utf-8', 'application/json; charset=latin1', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', 'APPLICATION/JSON', 'application/jsonx', '*/*') },
    ),
  )
  .map(([auth, type]) => {
    const h: Record<string, string> = {};
    if (auth !== undefined) h.authorization = auth;
    if (type !== undefined) h['content-type'] = type;
    return h;
  });

function requests(url: string, payload: fc.Arbitrary<string | Buffer>): fc.Arbitrary<Request> {
  const urls = fc.oneof({ weight: 20, arbitrary: fc.constant(url) }, { weight: 1, arbitrary: fc.constantFrom(`${url}/`, `${url}?x=1`, `${url}?model=%ff`, url.replace('/v1/', '/v1//'), url.toUpperCase(), `${url}%00`) });
  const method = fc.oneof({ weight: 20, arbitrary: fc.constant('POST' as const) }, { weight: 1, arbitrary: fc.constant('GET' as const) });
  return fc.record({ method, url: urls, headers, payload });
}

// --- the property -------------------------------------------------------------------------------------------------

const SHAPE = 'a 2xx, or a 4xx with body { error: { message, type, param, code } }';

/** Throws unless `r` is a 2xx (a JSON object or an SSE stream of JSON objects ending in [DONE]) or an OpenAI-shaped 4xx. */
function checkResponse(req: Request, r: { statusCode: number; headers: Record<string, unknown>; body: string }): void {
  const fail = (why: string) => {
    throw new Error(`${req.method} ${req.url} -> ${r.statusCode}: ${why} (expected ${SHAPE}); response ${r.body.slice(0, 300)}`);
  };
  if (r.statusCode >= 200 && r.statusCode < 300) {
    if (String(r.headers['content-type']).startsWith('text/event-stream')) {
      const events = r.body.split('\n\n').filter(Boolean);
      if (events.at(-1) !== 'data: [DONE]') fail('a stream that does not end with data: [DONE]');
      for (const e of events.slice(0, -1)) {
        if (!e.startsWith('data: ')) fail(`an event that is not data: ${e.slice(0, 80)}`);
        const data = JSON.parse(e.slice(6)) as { error?: unknown };
        if (data.error) fail(`an error event in the stream: ${e.slice(0, 200)}`);
      }
    } else if (typeof JSON.parse(r.body) !== 'object') fail('a body that is not a JSON object');
    return;
  }
  if (r.statusCode < 400 || r.statusCode >= 500) fail('a status that is neither 2xx nor 4xx');
  let e: { error?: Record<string, unknown> };
  try {
    e = JSON.parse(r.body);
  } catch {
    return fail('a body that is not JSON');
  }
  const err = e.error;
  const fields = err ? Object.keys(err).sort().join(',') : '';
  if (!err || fields !== 'code,message,param,type') fail(`an error whose fields are [${fields}]`);
  if (typeof err!.message !== 'string' || err!.message.length === 0) fail('an empty or non-string message');
  if (typeof err!.type !== 'string') fail('a non-string type');
  if (err!.param !== null && typeof err!.param !== 'string') fail('a param that is neither a string nor null');
  if (err!.code !== null && typeof err!.code !== 'string') fail('a code that is neither a string nor null');
}

/** Sends the requests together (so accepted ones share the batch), checks each response, then /health and the batch. */
async function send(input: unknown): Promise<void> {
  const s = server;
  if (!s) throw new Error('the fuzz server is not running (setUp not called)');
  const reqs = input as Request[];
  const responses = await Promise.all(reqs.map((req) => s.app.inject({ method: req.method, url: req.url, headers: req.headers, payload: req.payload })));
  responses.forEach((r, i) => {
    statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
    checkResponse(reqs[i], r);
  });
  const health = await s.app.inject({ method: 'GET', url: '/health' });
  if (health.statusCode !== 200 || health.json().status !== 'ok') throw new Error(`/health answered ${health.statusCode}: ${health.body}`);
  await s.scheduler.idle();
  if (s.scheduler.rows !== 0 || s.scheduler.queued !== 0) throw new Error(`after the responses ${s.scheduler.rows} rows and ${s.scheduler.queued} queued sequences remain`);
}

function serveTarget(name: string, request: fc.Arbitrary<Request>): FuzzTarget {
  return {
    name,
    input: fc.array(request, { minLength: 1, maxLength: 3 }),
    run: send,
    setUp: startServer,
    tearDown: stopServer,
    timeoutMs: 10_000,
    summary: () => [...statuses].sort(([a], [b]) => a - b).map(([status, n]) => `${status}: ${n}`).join(', '),
    fixture: ['models', 'stories260K'],
  };
}

export const SERVE_TARGETS: FuzzTarget[] = [
  serveTarget('serve: POST /v1/completions', requests('/v1/completions', bytes(body(COMPLETION_FIELDS, ['model', 'prompt']), (prompt) => ({ model: BASE, prompt, max_tokens: 1 })))),
  serveTarget('serve: POST /v1/chat/completions', requests('/v1/chat/completions', bytes(body(CHAT_FIELDS, ['model', 'messages']), (content) => ({ model: 'adapter_text', messages: [{ role: 'user', content }], max_tokens: 1 })))),
  serveTarget(
    'serve: POST /v1/load_adapter, /v1/unload_adapter',
    fc.oneof(
      requests('/v1/load_adapter', bytes(body(ADAPTER_FIELDS, ['adapter_name', 'adapter_path']), (path) => ({ adapter_name: 'a0', adapter_path: path }))),
      requests('/v1/unload_adapter', bytes(body({ adapter_name: LOAD_NAMES, lora_name: LOAD_NAMES }, ['adapter_name']), (name) => ({ adapter_name: name }))),
      // A request for an adapter that may just have been loaded or unloaded beside it.
      requests('/v1/completions', bytes(LOAD_NAMES.map((model) => ({ model, prompt: 'The dog', max_tokens: 2 })), (prompt) => ({ model: 'a0', prompt, max_tokens: 1 }))),
    ),
  ),
];
