/**
 * `softprompt serve`'s HTTP side: OpenAI's /v1/models, /v1/completions and /v1/chat/completions (SSE streaming
 * included), vLLM's /v1/load_adapter and /v1/unload_adapter, /health and /metrics, on fastify with every body
 * validated against a JSON schema. One base model; `model` names it or one of its adapters, `ensemble` several.
 * Requests become sequences in the Scheduler's continuous batch. The server keeps no state besides the adapters
 * directory, so replicas behind a load balancer can share one adapters volume.
 */
import type { WeightDtype } from '../weights/quantize.js';
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { PassThrough } from 'node:stream';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { AutoModelForCausalLM } from '../api/model.js';
import { AutoTokenizer } from '../api/tokenizer.js';
import { SoftpromptError } from '../errors.js';
import { promptPosition } from '../generate/inputs.js';
import { resolveGenerationConfig } from '../generate/options.js';
import { hardPositionLimit } from '../models/architectures.js';
import type { PretrainedModel } from '../models/model.js';
import type { HubOptions } from '../hub/settings.js';
import { Generator, freshSeed } from '../random.js';
import type { TextTokenizer } from '../tokenizer/tokenizer.js';
import { AdapterRegistry, modelNotFound, type LoadedAdapter } from './adapters.js';
import { renderChat } from './chat.js';
import { ServerMetrics } from './metrics.js';
import {
  ApiError, chatSchema, completionSchema, loadAdapterSchema, unloadAdapterSchema,
  type ChatBody, type CompletionBody, type SamplingBody, type Usage,
} from './openai.js';
import type { Sampling, TokenChoice } from './sampling.js';
import { QueueFullError, Scheduler, Sequence, type FinishReason, type Member } from './scheduler.js';

export interface ServeOptions {
  /** A model directory or hub id; also the base model's id in the API. */
  model: string;
  /** The base model's id in the API (default: `model` as given). */
  servedModelName?: string | null;
  /** A directory whose subdirectories are adapters (named after them); load_adapter paths must lie inside it. */
  adapters?: string | null;
  /** When set, /v1/* needs `Authorization: Bearer <key>`. */
  apiKey?: string | null;
  /** Rows decoded together at most (default 64). */
  maxBatchSize?: number;
  /** How the base model's frozen weights are held (from_pretrained's dtype; default fp32). */
  dtype?: WeightDtype;
  /** Sequences waiting to join at most; beyond it requests get 429 (default 1024). */
  maxQueue?: number;
  /** Prompt + virtual tokens + max_tokens at most (default: the model's position limit, else 2048). */
  maxModelLen?: number | null;
  /**
   * Start rows from each adapter's cached prompt keys/values (default true; off only to measure it). Adapters whose
   * virtual tokens go before the completion are never cached: those keys/values depend on the request's text.
   */
  prefixCache?: boolean;
  /** Batch only requests for the same model/adapter together (a baseline for benchmarks; default false). */
  onePromptPerBatch?: boolean;
  /** fastify's logger option: true for pino's JSON lines on stdout, false for none, or pino options. */
  logger?: FastifyServerOptions['logger'];
  /** Largest request body in bytes (default 1 MiB); larger ones get 413. */
  bodyLimit?: number;
  /** onnxruntime intra-op threads (default: the cores). */
  threads?: number;
  hub?: HubOptions;
}

interface RequestInfo {
  model?: string;
  promptTokens?: number;
  completionTokens?: number;
}

/** A chosen token and the one before it (its text depends on it: SentencePiece drops a leading space otherwise). */
type Logged = { tok: TokenChoice; prev: number };
type Choice = { index: number; seq: Sequence; tokens: Logged[]; offsets: number[]; finish: FinishReason | null; error?: Error; cancelled?: boolean };

export class SoftpromptServer {
  readonly app: FastifyInstance;
  readonly metrics = new ServerMetrics();
  readonly scheduler: Scheduler;
  private draining = false;
  private closing: Promise<void> | null = null;
  private readonly info = new WeakMap<FastifyRequest, RequestInfo>();
  private readonly created = Math.floor(Date.now() / 1000);
  private readonly maxModelLen: number;
  /** Longer prompt text cannot fit in maxModelLen tokens; it is refused before the (slow, blocking) tokenizer runs. */
  private readonly maxPromptChars: number;
  private readonly eos: number[];
  private readonly keyDigest: Buffer | null;

  private constructor(
    readonly model: PretrainedModel,
    readonly tokenizer: TextTokenizer,
    readonly adapters: AdapterRegistry,
    generationConfig: Record<string, unknown> | null,
    private readonly opts: Required<Pick<ServeOptions, 'maxBatchSize' | 'maxQueue' | 'prefixCache'>> & ServeOptions,
  ) {
    const cfg = model.config;
    const hard = hardPositionLimit(cfg);
    this.maxModelLen = Math.min(opts.maxModelLen ?? cfg.maxPositions ?? 2048, hard?.max ?? Infinity);
    // Each token covers at most maxTokenLength characters of the normalized text, and normalization shrinks text at
    // most 4x (NFC composes at most four code points into one); a normalizer that deletes text (StripAccents) can make
    // this refuse a prompt that would fit, which takes a pathological prompt.
    this.maxPromptChars = this.maxModelLen * tokenizer.maxTokenLength * 4;
    this.eos = resolveGenerationConfig({}, cfg, generationConfig).eos_token_id;
    this.keyDigest = opts.apiKey ? digest(opts.apiKey) : null;
    this.scheduler = new Scheduler(model, {
      maxBatchSize: opts.maxBatchSize,
      maxQueue: opts.maxQueue,
      onePromptPerBatch: opts.onePromptPerBatch ?? false,
      onStep: (rows, waiting) => this.metrics.observeBatch(rows, waiting, opts.maxBatchSize),
    });
    this.app = Fastify({
      logger: opts.logger ?? false,
      // One line per request, written by the onResponse hook, instead of fastify's two.
      logController: new LogController({ disableRequestLogging: true }),
      bodyLimit: opts.bodyLimit ?? 1 << 20,
      return503OnClosing: false,
      ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false, allowUnionTypes: true } },
    });
    this.routes();
  }

  /** Loads the model, its tokenizer and chat template, and the adapters; call `listen` next. */
  static async create(opts: ServeOptions): Promise<SoftpromptServer> {
    const full = { maxBatchSize: 64, maxQueue: 1024, prefixCache: true, ...opts };
    for (const [key, v] of [['maxBatchSize', full.maxBatchSize], ['maxQueue', full.maxQueue]] as const) {
      if (!Number.isSafeInteger(v) || v < 1) throw new SoftpromptError(`${v} is not an integer >= 1`, key);
    }
    const pretrained = await AutoModelForCausalLM.from_pretrained(opts.model, { ...opts.hub, threads: opts.threads, dtype: opts.dtype });
    try {
      const tokenizer = await AutoTokenizer.from_pretrained(opts.model, opts.hub);
      const model = pretrained.model;
      const warnings: string[] = [];
      const adapters = new AdapterRegistry(model, opts.servedModelName ?? opts.model, opts.adapters ?? null, opts.hub, (m) => warnings.push(m));
      await adapters.init();
      const server = new SoftpromptServer(model, tokenizer.text_tokenizer, adapters, pretrained.generation_config, full);
      for (const w of warnings) server.app.log.warn(w);
      server.metrics.adaptersLoaded.set((await adapters.list()).length);
      return server;
    } catch (e) {
      await pretrained.dispose();
      throw e;
    }
  }

  get baseId(): string {
    return this.opts.servedModelName ?? this.opts.model;
  }

  /** Starts listening; returns the address (http://host:port). */
  listen(host = '127.0.0.1', port = 8000): Promise<string> {
    return this.app.listen({ host, port });
  }

  /** SIGTERM: new requests get 503, running ones finish, then the server and the engine close. */
  shutdown(): Promise<void> {
    this.draining = true;
    this.closing ??= (async () => {
      await this.scheduler.idle();
      await this.app.close();
      await this.model.engine.close();
    })();
    return this.closing;
  }

  private routes(): void {
    const app = this.app;
    app.addHook('onRequest', async (req, reply) => {
      if (this.draining && req.url !== '/metrics') {
        reply.header('connection', 'close');
        throw new ApiError(503, 'the server is shutting down', null, 'shutting_down', 5);
      }
      if (this.keyDigest && req.url.startsWith('/v1/')) {
        const header = req.headers.authorization ?? '';
        const m = /^Bearer (.+)$/.exec(header);
        if (!m || !timingSafeEqual(digest(m[1]), this.keyDigest)) {
          throw new ApiError(401, m ? 'Incorrect API key provided.' : 'Missing API key: send "Authorization: Bearer <key>".', null, 'invalid_api_key');
        }
      }
    });
    app.addHook('onResponse', async (req, reply) => {
      const info = this.info.get(req) ?? {};
      if (req.url.startsWith('/v1/')) this.metrics.requests.inc({ model: info.model ?? '', status: String(reply.statusCode) });
      req.log.info(
        {
          method: req.method,
          url: req.url,
          model: info.model ?? null,
          status: reply.statusCode,
          prompt_tokens: info.promptTokens ?? 0,
          completion_tokens: info.completionTokens ?? 0,
          ms: Math.round(reply.elapsedTime * 10) / 10,
        },
        'request',
      );
    });
    app.setNotFoundHandler((req, reply) => {
      reply.code(404).send(new ApiError(404, `no route ${req.method} ${req.url.split('?')[0]}`, null, 'not_found').body());
    });
    app.setErrorHandler((err, req, reply) => {
      const api = toApiError(err);
      if (api.status >= 500) req.log.error({ err }, 'request failed');
      if (api.retryAfter !== null) reply.header('retry-after', String(api.retryAfter));
      reply.code(api.status).send(api.body());
    });

    app.get('/health', async () => ({ status: 'ok' }));
    app.get('/metrics', async (_req, reply) => {
      reply.header('content-type', this.metrics.registry.contentType);
      return this.metrics.registry.metrics();
    });
    app.get('/v1/models', async () => ({ object: 'list', data: [this.baseCard(), ...(await this.adapters.list()).map((a) => this.adapterCard(a))] }));
    app.get<{ Params: { model: string } }>('/v1/models/*', async (req) => {
      const id = (req.params as Record<string, string>)['*'];
      if (id === this.baseId) return this.baseCard();
      return this.adapterCard(await this.adapters.get(id));
    });
    app.post<{ Body: CompletionBody }>('/v1/completions', { schema: { body: completionSchema } }, (req, reply) => this.completions(req, reply));
    app.post<{ Body: ChatBody }>('/v1/chat/completions', { schema: { body: chatSchema } }, (req, reply) => this.chatCompletions(req, reply));
    app.post<{ Body: Record<string, string> }>('/v1/load_adapter', { schema: { body: loadAdapterSchema } }, async (req) => {
      const name = req.body.adapter_name ?? req.body.lora_name;
      const loaded = await this.adapters.load(name, req.body.adapter_path ?? req.body.lora_path);
      this.metrics.adaptersLoaded.set((await this.adapters.list()).length);
      this.info.set(req, { model: name });
      return this.adapterCard(loaded);
    });
    app.post<{ Body: Record<string, string> }>('/v1/unload_adapter', { schema: { body: unloadAdapterSchema } }, async (req) => {
      const name = req.body.adapter_name ?? req.body.lora_name;
      await this.adapters.unload(name);
      this.metrics.adaptersLoaded.set((await this.adapters.list()).length);
      this.info.set(req, { model: name });
      return { id: name, object: 'model', deleted: true };
    });
  }

  private baseCard() {
    return { id: this.baseId, object: 'model', created: this.created, owned_by: 'softprompt', root: this.model.source, parent: null, max_model_len: this.maxModelLen };
  }

  private adapterCard(a: LoadedAdapter) {
    return { id: a.name, object: 'model', created: a.created, owned_by: 'softprompt', root: a.path, parent: this.baseId, max_model_len: this.maxModelLen };
  }

  private async completions(req: FastifyRequest<{ Body: CompletionBody }>, reply: FastifyReply): Promise<unknown> {
    const body = req.body;
    if (body.suffix) throw new ApiError(400, 'suffix is not supported', 'suffix');
    if (body.best_of !== undefined && body.best_of !== null && body.best_of !== (body.n ?? 1)) throw new ApiError(400, 'best_of other than n is not supported', 'best_of');
    if (body.echo && body.logprobs !== undefined && body.logprobs !== null) throw new ApiError(400, 'echo with logprobs (prompt log-probabilities) is not supported', 'echo');
    const members = await this.members(req, body);
    const V = this.model.config.vocabSize;
    const p = body.prompt;
    const prompts: number[][] =
      typeof p === 'string' ? [this.encode(p)] : typeof p[0] === 'string' ? (p as string[]).map((t) => this.encode(t)) : typeof p[0] === 'number' ? [p as number[]] : (p as number[][]);
    prompts.forEach((ids, i) => {
      if (ids.length === 0) throw new ApiError(400, 'the prompt is empty (it encodes to no tokens)', 'prompt');
      for (const id of ids) if (id >= V) throw new ApiError(400, `token id ${id} in prompt ${i} is outside the vocabulary [0, ${V})`, 'prompt');
    });
    const logprobs = body.logprobs ?? null;
    return this.run(req, reply, body, prompts, members, body.max_tokens ?? 16, logprobs, 'text_completion', body.echo ?? false);
  }

  private async chatCompletions(req: FastifyRequest<{ Body: ChatBody }>, reply: FastifyReply): Promise<unknown> {
    const body = req.body;
    const members = await this.members(req, body);
    const template = this.tokenizer.chat_template;
    if (!template) {
      throw new ApiError(
        400,
        `the model '${this.baseId}' has no chat template (tokenizer_config.json "chat_template" or chat_template.jinja); use /v1/completions`,
        'messages',
        'chat_template_missing',
      );
    }
    const text = renderChat(template, body.messages, body.add_generation_prompt ?? true);
    this.checkLength(text, 'messages');
    const ids = this.tokenizer.encode(text, { add_special_tokens: false });
    if (ids.length === 0) throw new ApiError(400, 'the conversation renders to no tokens', 'messages');
    const logprobs = body.logprobs ? (body.top_logprobs ?? 0) : null;
    return this.run(req, reply, body, [ids], members, body.max_completion_tokens ?? body.max_tokens ?? null, logprobs, 'chat.completion', false);
  }

  /** The rows each sequence of this request gets: its model's, or one per ensemble member. */
  private async members(req: FastifyRequest, body: SamplingBody): Promise<Array<{ name: string; adapter: LoadedAdapter | null }>> {
    const known = body.model === this.baseId ? true : await this.adapters.get(body.model).then(() => true, (e) => { if (e instanceof ApiError && e.status === 404) return false; throw e; });
    this.info.set(req, { model: known ? body.model : '' });
    if (!known) throw modelNotFound(body.model);
    const names = body.ensemble ?? [body.model];
    if (names.length > this.opts.maxBatchSize) throw new ApiError(400, `an ensemble takes one batch row per member: at most ${this.opts.maxBatchSize}`, 'ensemble');
    return Promise.all(names.map(async (name) => ({ name, adapter: name === this.baseId ? null : await this.adapters.get(name) })));
  }

  private encode(text: string): number[] {
    this.checkLength(text, 'prompt');
    return this.tokenizer.encode(text);
  }

  /**
   * Refuses text too long to fit before tokenizing it: the tokenizer runs on the event loop at about 7 µs a character,
   * so a 1 MiB prompt would stall every request for seconds only to be refused for its length.
   */
  private checkLength(text: string, param: string): void {
    if (text.length <= this.maxPromptChars) return;
    throw new ApiError(
      400,
      `This model's maximum context length is ${this.maxModelLen} tokens. However, your ${param === 'prompt' ? 'prompt' : 'conversation'} has ` +
        `${text.length} characters, more than ${this.maxModelLen} tokens of at most ${this.tokenizer.maxTokenLength} characters each can hold. ` +
        'Please reduce the length of the prompt.',
      param,
    );
  }

  /** Queues every prompt's n sequences and answers with the completion (JSON) or its stream (SSE). */
  private async run(
    req: FastifyRequest,
    reply: FastifyReply,
    body: SamplingBody,
    prompts: number[][],
    members: Array<{ name: string; adapter: LoadedAdapter | null }>,
    maxTokens: number | null,
    logprobs: number | null,
    object: 'text_completion' | 'chat.completion',
    echo: boolean,
  ): Promise<unknown> {
    const n = body.n ?? 1;
    if (prompts.length * n > this.opts.maxQueue) throw new ApiError(400, `${prompts.length * n} sequences (prompts x n) exceed the queue's ${this.opts.maxQueue}`, 'n');
    const virtual = Math.max(0, ...members.map((m) => m.adapter?.adapter.numVirtualTokens ?? 0));
    const longest = Math.max(...prompts.map((p) => p.length)) + virtual;
    const maxNew = maxTokens ?? this.maxModelLen - longest;
    if (longest + maxNew > this.maxModelLen || maxNew < 1) {
      throw new ApiError(
        400,
        `This model's maximum context length is ${this.maxModelLen} tokens. However, you requested ${longest + maxNew} tokens ` +
          `(${longest - virtual} in the prompt, ${virtual} virtual, ${maxNew} for the completion). Please reduce the length of the prompt or max_tokens.`,
        maxTokens === null ? 'messages' : 'max_tokens',
      );
    }
    const sampling = this.sampling(body, maxNew, logprobs);
    const rows: Member[] = await Promise.all(members.map((m) => this.member(m.adapter)));
    // Each sequence gets its own generator, drawn up front: with a seed, sampled output does not depend on the batch.
    const random = Generator.seeded(sampling.seed ?? freshSeed());
    const seeds = Array.from({ length: prompts.length * n }, () => random.nextUint32());
    const streaming = body.stream === true;
    const id = `${object === 'chat.completion' ? 'chatcmpl' : 'cmpl'}-${randomUUID().replaceAll('-', '')}`;
    const created = Math.floor(Date.now() / 1000);
    const model = body.model;
    const chunkObject = object === 'chat.completion' ? 'chat.completion.chunk' : 'text_completion';
    const chat = object === 'chat.completion';
    const promptTokens = prompts.reduce((s, p) => s + p.length, 0) * n;
    const info = this.info.get(req) ?? {};
    info.promptTokens = promptTokens;
    this.info.set(req, info);
    this.metrics.promptTokens.inc({ model }, promptTokens);

    const stream = streaming ? new PassThrough() : null;
    const send = (data: unknown) => stream?.write(`data: ${JSON.stringify(data)}\n\n`);
    const choices: Choice[] = [];
    let open = prompts.length * n;
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const promptTexts = echo ? prompts.map((p) => this.tokenizer.decode(p, { skip_special_tokens: true })) : [];

    const seqs = prompts.flatMap((ids, p) =>
      Array.from({ length: n }, (_, j) => {
        const index = p * n + j;
        const choice: Choice = { index, seq: null as unknown as Sequence, tokens: [], offsets: [], finish: null };
        let textLength = 0;
        choice.seq = new Sequence(
          this.tokenizer,
          ids,
          rows,
          sampling,
          {
            token: (tok, text) => {
              const prev = choice.seq.output.at(-2) ?? ids[ids.length - 1];
              if (logprobs !== null) {
                choice.tokens.push({ tok, prev });
                choice.offsets.push(textLength);
              }
              textLength += text.length;
              if (!stream || (text === '' && logprobs === null)) return;
              const lp = logprobs === null ? null : chat ? this.chatLogprobs([{ tok, prev }]) : this.completionLogprobs([{ tok, prev }], [textLength - text.length]);
              send(chat ? chunk(id, created, model, chunkObject, index, { content: text }, null, lp) : chunk(id, created, model, chunkObject, index, text, null, lp));
            },
            finish: (reason, error) => {
              if (reason === 'cancelled') choice.cancelled = true;
              else if (reason === 'error') choice.error = error;
              else choice.finish = reason;
              this.metrics.generationTokens.inc({ model }, choice.seq.output.length);
              const s = choice.seq;
              if (s.firstTokenAt > 0) {
                this.metrics.timeToFirstToken.observe((s.firstTokenAt - s.queuedAt) / 1000);
                if (s.output.length > 1) this.metrics.timePerOutputToken.observe((s.finishedAt - s.firstTokenAt) / 1000 / (s.output.length - 1));
              }
              if (stream && reason !== 'cancelled') {
                if (error) send(new ApiError(500, `generation failed: ${error.message}`).body());
                else send(chat ? chunk(id, created, model, chunkObject, index, {}, reason, null) : chunk(id, created, model, chunkObject, index, '', reason, null));
              }
              if (--open === 0) done();
            },
          },
          Generator.seeded(seeds[index]),
        );
        choice.seq.group = members.map((m) => m.name).join('+');
        choices.push(choice);
        return choice.seq;
      }),
    );
    try {
      this.scheduler.submit(seqs);
    } catch (e) {
      if (e instanceof QueueFullError) throw new ApiError(429, `the server is busy (${e.message}); retry later`, null, 'queue_full', 1);
      throw e;
    }
    for (const m of rows) if (m && 'prefix' in m) this.metrics.prefixHits.inc(seqs.length), this.metrics.prefixTokensSaved.inc(seqs.length * m.prefix.length);
    // A client that goes away ends its sequences; their rows leave the batch at the next step.
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) for (const s of seqs) s.cancel();
    });
    const usage = (): Usage => {
      const completion = choices.reduce((s, c) => s + c.seq.output.length, 0);
      info.completionTokens = completion;
      return { prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion };
    };

    if (stream) {
      if (chat) for (let i = 0; i < choices.length; i++) send(chunk(id, created, model, chunkObject, i, { role: 'assistant', content: '' }, null, null));
      if (echo) promptTexts.forEach((t, p) => { for (let j = 0; j < n; j++) send(chunk(id, created, model, chunkObject, p * n + j, t, null, null)); });
      void finished.then(() => {
        const u = usage();
        if (body.stream_options?.include_usage) send({ id, object: chunkObject, created, model, choices: [], usage: u });
        stream.end('data: [DONE]\n\n');
      });
      reply.header('content-type', 'text/event-stream; charset=utf-8').header('cache-control', 'no-cache').header('x-accel-buffering', 'no');
      return reply.send(stream);
    }

    await finished;
    if (choices.some((c) => c.cancelled)) throw new ApiError(499, 'the client closed the request');
    const failed = choices.find((c) => c.error);
    if (failed) throw new ApiError(500, `generation failed: ${failed.error!.message}`);
    const u = usage();
    return {
      id,
      object,
      created,
      model,
      choices: choices.map((c) => {
        const text = (echo ? promptTexts[Math.floor(c.index / n)] : '') + c.seq.text;
        return chat
          ? { index: c.index, message: { role: 'assistant', content: c.seq.text }, logprobs: logprobs === null ? null : this.chatLogprobs(c.tokens), finish_reason: c.finish }
          : { index: c.index, text, logprobs: logprobs === null ? null : this.completionLogprobs(c.tokens, c.offsets), finish_reason: c.finish };
      }),
      usage: u,
    };
  }

  private async member(adapter: LoadedAdapter | null): Promise<Member> {
    if (!adapter) return null;
    // Virtual tokens placed after the text attend to it: no prefix to cache, so they run in each request's prefill.
    if (!this.opts.prefixCache || promptPosition(adapter.adapter) === 'before_completion') return { prompt: adapter.adapter };
    return { prefix: await this.adapters.prefix(adapter) };
  }

  private sampling(body: SamplingBody, maxTokens: number, logprobs: number | null): Sampling {
    const V = this.model.config.vocabSize;
    const logitBias = new Map<number, number>();
    for (const [key, bias] of Object.entries(body.logit_bias ?? {})) {
      const id = Number(key);
      if (id >= V) throw new ApiError(400, `token id ${key} is outside the vocabulary [0, ${V})`, 'logit_bias');
      logitBias.set(id, bias);
    }
    for (const id of body.stop_token_ids ?? []) if (id >= V) throw new ApiError(400, `token id ${id} is outside the vocabulary [0, ${V})`, 'stop_token_ids');
    const stop = body.stop === undefined || body.stop === null ? [] : typeof body.stop === 'string' ? [body.stop] : body.stop;
    return {
      max_tokens: maxTokens,
      min_tokens: Math.min(body.min_tokens ?? 0, maxTokens),
      temperature: body.temperature ?? 1,
      top_p: body.top_p ?? 1,
      top_k: Math.max(0, body.top_k ?? 0),
      repetition_penalty: body.repetition_penalty ?? 1,
      presence_penalty: body.presence_penalty ?? 0,
      frequency_penalty: body.frequency_penalty ?? 0,
      logit_bias: logitBias,
      stop: stop.filter((s) => s.length > 0),
      stop_token_ids: [...(body.ignore_eos ? [] : this.eos), ...(body.stop_token_ids ?? [])],
      logprobs,
      seed: body.seed ?? null,
    };
  }

  /** A token's text as it reads after `prev`. */
  private tokenText(prev: number, id: number): string {
    const before = this.tokenizer.decode([prev], { skip_special_tokens: false });
    const both = this.tokenizer.decode([prev, id], { skip_special_tokens: false });
    return both.startsWith(before) ? both.slice(before.length) : this.tokenizer.decode([id], { skip_special_tokens: false });
  }

  private completionLogprobs(tokens: Logged[], offsets: number[]) {
    return {
      tokens: tokens.map(({ tok, prev }) => this.tokenText(prev, tok.id)),
      token_logprobs: tokens.map(({ tok }) => tok.logprob),
      top_logprobs: tokens.map(({ tok, prev }) => Object.fromEntries(tok.top.map(([id, lp]) => [this.tokenText(prev, id), lp]))),
      text_offset: offsets,
    };
  }

  private chatLogprobs(tokens: Logged[]) {
    const entry = (prev: number, id: number, logprob: number) => {
      const token = this.tokenText(prev, id);
      return { token, logprob, bytes: [...Buffer.from(token, 'utf8')] };
    };
    return {
      content: tokens.map(({ tok, prev }) => ({ ...entry(prev, tok.id, tok.logprob), top_logprobs: tok.top.map(([id, lp]) => entry(prev, id, lp)) })),
    };
  }
}

function chunk(id: string, created: number, model: string, object: string, index: number, content: string | Record<string, unknown>, finish: string | null, logprobs: unknown) {
  const choice = typeof content === 'string' ? { index, text: content, logprobs, finish_reason: finish } : { index, delta: content, logprobs, finish_reason: finish };
  return { id, object, created, model, choices: [choice] };
}

function digest(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

/** Any error as the OpenAI-shaped one the client gets. */
function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as { validation?: Array<{ instancePath?: string; message?: string }>; validationContext?: string; statusCode?: number; code?: string; message?: string };
  if (e.validation) {
    const first = e.validation[0];
    const param = first?.instancePath ? first.instancePath.slice(1).replaceAll('/', '.') : null;
    return new ApiError(400, `invalid request body: ${e.message ?? 'does not match the schema'}`, param, 'invalid_request');
  }
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || e.statusCode === 413) return new ApiError(413, e.message ?? 'request body too large', null, 'body_too_large');
  if (err instanceof QueueFullError) return new ApiError(429, err.message, null, 'queue_full', 1);
  if (err instanceof SoftpromptError) return new ApiError(400, err.message);
  if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) return new ApiError(e.statusCode, e.message ?? 'bad request', null, e.code ?? null);
  return new ApiError(500, 'internal server error', null, 'internal_error');
}
