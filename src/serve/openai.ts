/**
 * OpenAI's API shapes: the JSON schemas every request body is validated against (unknown fields are ignored, as
 * vLLM ignores them), and errors as `{ "error": { "message", "type", "param", "code" } }`. Fields are OpenAI's plus
 * vLLM's sampling extras (top_k, repetition_penalty, min_tokens, stop_token_ids, ignore_eos) and softprompt's
 * `ensemble`.
 */

/** An error the client caused (or a state it must wait out), with its HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    /** Seconds, for 429 and 503. */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }

  get type(): string {
    if (this.status === 401) return 'authentication_error';
    if (this.status === 404) return 'not_found_error';
    if (this.status === 429) return 'rate_limit_error';
    if (this.status >= 500) return this.status === 503 ? 'service_unavailable_error' : 'server_error';
    return 'invalid_request_error';
  }

  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

const nullable = (schema: Record<string, unknown>) => ({ anyOf: [schema, { type: 'null' }] });
const tokenIds = { type: 'array', minItems: 1, items: { type: 'integer', minimum: 0 } };

/** Sampling fields shared by /v1/completions and /v1/chat/completions. */
const sampling = {
  model: { type: 'string', minLength: 1, maxLength: 1024 },
  max_tokens: nullable({ type: 'integer', minimum: 1 }),
  temperature: nullable({ type: 'number', minimum: 0, maximum: 2 }),
  top_p: nullable({ type: 'number', exclusiveMinimum: 0, maximum: 1 }),
  top_k: nullable({ type: 'integer', minimum: -1 }),
  n: nullable({ type: 'integer', minimum: 1, maximum: 128 }),
  stream: nullable({ type: 'boolean' }),
  stream_options: nullable({ type: 'object', properties: { include_usage: nullable({ type: 'boolean' }) } }),
  stop: nullable({ anyOf: [{ type: 'string' }, { type: 'array', maxItems: 16, items: { type: 'string' } }] }),
  seed: nullable({ type: 'integer', minimum: -(2 ** 53) + 1, maximum: 2 ** 53 - 1 }),
  presence_penalty: nullable({ type: 'number', minimum: -2, maximum: 2 }),
  frequency_penalty: nullable({ type: 'number', minimum: -2, maximum: 2 }),
  repetition_penalty: nullable({ type: 'number', exclusiveMinimum: 0, maximum: 100 }),
  logit_bias: nullable({
    type: 'object',
    maxProperties: 1024,
    propertyNames: { pattern: '^[0-9]{1,9}$' },
    additionalProperties: { type: 'number', minimum: -100, maximum: 100 },
  }),
  min_tokens: nullable({ type: 'integer', minimum: 0 }),
  stop_token_ids: nullable({ type: 'array', maxItems: 256, items: { type: 'integer', minimum: 0 } }),
  ignore_eos: nullable({ type: 'boolean' }),
  user: nullable({ type: 'string' }),
  ensemble: nullable({ type: 'array', minItems: 1, maxItems: 64, items: { type: 'string', minLength: 1, maxLength: 1024 } }),
};

export const completionSchema = {
  type: 'object',
  required: ['model', 'prompt'],
  properties: {
    ...sampling,
    prompt: {
      anyOf: [
        { type: 'string' },
        { type: 'array', minItems: 1, items: { type: 'string' } },
        tokenIds,
        { type: 'array', minItems: 1, items: tokenIds },
      ],
    },
    logprobs: nullable({ type: 'integer', minimum: 0, maximum: 20 }),
    echo: nullable({ type: 'boolean' }),
    best_of: nullable({ type: 'integer', minimum: 1 }),
    suffix: nullable({ type: 'string' }),
  },
};

const contentPart = {
  type: 'object',
  required: ['type'],
  properties: { type: { type: 'string' }, text: { type: 'string' } },
};

export const chatSchema = {
  type: 'object',
  required: ['model', 'messages'],
  properties: {
    ...sampling,
    messages: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['role'],
        properties: {
          role: { enum: ['system', 'developer', 'user', 'assistant', 'tool'] },
          content: nullable({ anyOf: [{ type: 'string' }, { type: 'array', items: contentPart }] }),
          name: nullable({ type: 'string' }),
        },
      },
    },
    max_completion_tokens: nullable({ type: 'integer', minimum: 1 }),
    logprobs: nullable({ type: 'boolean' }),
    top_logprobs: nullable({ type: 'integer', minimum: 0, maximum: 20 }),
    add_generation_prompt: nullable({ type: 'boolean' }),
    tools: nullable({ type: 'array', maxItems: 0 }),
  },
};

export const loadAdapterSchema = {
  type: 'object',
  properties: {
    adapter_name: { type: 'string', minLength: 1, maxLength: 200 },
    adapter_path: { type: 'string', minLength: 1, maxLength: 1024 },
    // vLLM's names for the same fields.
    lora_name: { type: 'string', minLength: 1, maxLength: 200 },
    lora_path: { type: 'string', minLength: 1, maxLength: 1024 },
  },
  anyOf: [{ required: ['adapter_name', 'adapter_path'] }, { required: ['lora_name', 'lora_path'] }],
};

export const unloadAdapterSchema = {
  type: 'object',
  properties: {
    adapter_name: { type: 'string', minLength: 1, maxLength: 200 },
    lora_name: { type: 'string', minLength: 1, maxLength: 200 },
  },
  anyOf: [{ required: ['adapter_name'] }, { required: ['lora_name'] }],
};

/** The fields both endpoints read, after validation. */
export interface SamplingBody {
  model: string;
  max_tokens?: number | null;
  temperature?: number | null;
  top_p?: number | null;
  top_k?: number | null;
  n?: number | null;
  stream?: boolean | null;
  stream_options?: { include_usage?: boolean | null } | null;
  stop?: string | string[] | null;
  seed?: number | null;
  presence_penalty?: number | null;
  frequency_penalty?: number | null;
  repetition_penalty?: number | null;
  logit_bias?: Record<string, number> | null;
  min_tokens?: number | null;
  stop_token_ids?: number[] | null;
  ignore_eos?: boolean | null;
  ensemble?: string[] | null;
}

export interface CompletionBody extends SamplingBody {
  prompt: string | string[] | number[] | number[][];
  logprobs?: number | null;
  echo?: boolean | null;
  best_of?: number | null;
  suffix?: string | null;
}

export interface ChatMessage {
  role: string;
  content?: string | Array<{ type: string; text?: string }> | null;
  name?: string | null;
}

export interface ChatBody extends SamplingBody {
  messages: ChatMessage[];
  max_completion_tokens?: number | null;
  logprobs?: boolean | null;
  top_logprobs?: number | null;
  add_generation_prompt?: boolean | null;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}
