// Fuzz targets: every parser of user files, fed generated malformed inputs. Each input must parse or raise a typed
// SoftpromptError: any other exception is a bug (a stack trace for the user). Shared by the seeded share in `npm test`
// (test/fuzz.test.ts) and the long run (`npm run fuzz`, bench/fuzz.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { parseRows } from '../../src/data/formats.js';
import { SoftpromptError } from '../../src/errors.js';
import { parseModelConfig } from '../../src/models/config.js';
import { parseAdapter, promptTuningConfigOf } from '../../src/peft/adapter.js';
import { TextTokenizer } from '../../src/tokenizer/tokenizer.js';
import { checkpointFiles, parseCheckpoint } from '../../src/train/checkpoint.js';
import { Safetensors, serializeSafetensors } from '../../src/weights/safetensors.js';
import { FIXTURES } from '../fixtures.js';

export interface FuzzTarget {
  name: string;
  input: fc.Arbitrary<unknown>;
  /** Checks one input; returns (or resolves) normally or throws. */
  run(input: unknown): void | Promise<void>;
  /** What `run` needs (a server), made before the first input and closed after the last. */
  setUp?(): Promise<void>;
  tearDown?(): Promise<void>;
  /** A line on what the inputs met since setUp (responses by status), for the long run's report. */
  summary?(): string;
  /** Most milliseconds one input may take; more fails the run as a hang. */
  timeoutMs?: number;
  /** The fixture it needs (path parts under ../shared/fixtures): the test suite skips it where that is absent. */
  fixture?: string[];
}

const text = new TextEncoder();

/** A JSON value that is hostile to a parser: wrong types, huge and negative numbers, deep nesting, odd strings. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, -5, 1.5, 1e300, -1e300, 2 ** 53 + 2, 2 ** 64, Number.MAX_SAFE_INTEGER, '', 'gelu', 'NaN', '0', '..', '/etc/passwd', [], {}, [1, 2], { content: 1 }),
  fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
  fc.double(),
  fc.string({ maxLength: 20 }),
  fc.jsonValue({ maxDepth: 3 }),
);

/** A valid JSON object with keys dropped, replaced by hostile values, or added. */
function mutatedObject(base: Record<string, unknown>): fc.Arbitrary<unknown> {
  const keys = Object.keys(base);
  const edit = fc.record({
    drop: fc.subarray(keys, { maxLength: 3 }),
    set: fc.dictionary(fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 8 })), hostileValue, { maxKeys: 3 }),
  });
  return fc.oneof(
    { weight: 8, arbitrary: edit.map(({ drop, set }) => ({ ...Object.fromEntries(Object.entries(base).filter(([k]) => !drop.includes(k))), ...set })) },
    { weight: 1, arbitrary: hostileValue },
  );
}

/** A valid byte string with a few bytes overwritten, a piece cut out, or truncated; or random bytes. */
function mutatedBytes(base: Uint8Array): fc.Arbitrary<Uint8Array> {
  const flips = fc.array(fc.tuple(fc.nat({ max: base.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }).map((edits) => {
    const out = base.slice();
    for (const [at, value] of edits) out[at] = value;
    return out;
  });
  const truncated = fc.nat({ max: base.length }).map((n) => base.slice(0, n));
  const spliced = fc.tuple(fc.nat({ max: base.length }), fc.nat({ max: 64 }), fc.uint8Array({ maxLength: 16 })).map(([at, cut, insert]) => {
    const out = new Uint8Array(base.length - Math.min(cut, base.length - at) + insert.length);
    out.set(base.subarray(0, at));
    out.set(insert, at);
    out.set(base.subarray(Math.min(base.length, at + cut)), at + insert.length);
    return out;
  });
  return fc.oneof({ weight: 4, arbitrary: flips }, { weight: 2, arbitrary: truncated }, { weight: 2, arbitrary: spliced }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }) });
}

/** A safetensors file whose JSON header is generated: hostile entries, dtypes, shapes and offsets, any padding. */
const hostileSafetensors: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    fc.dictionary(
      fc.oneof(fc.constantFrom('prompt_embeddings', 'exp_avg', 'exp_avg_sq', '__metadata__'), fc.string({ maxLength: 6 })),
      fc.oneof(
        fc.record({
          dtype: fc.oneof(fc.constantFrom('F32', 'F16', 'BF16', 'I64', 'U8', 'F64', 'F8_E4M3', 'Q4'), hostileValue),
          shape: fc.oneof(fc.array(fc.oneof(fc.nat({ max: 8 }), fc.constantFrom(-1, 1.5, 2 ** 40, 1e300)), { maxLength: 3 }), hostileValue),
          data_offsets: fc.oneof(fc.tuple(fc.nat({ max: 64 }), fc.nat({ max: 64 })), fc.array(fc.integer(), { maxLength: 3 }), hostileValue),
        }, { requiredKeys: [] }),
        hostileValue,
      ),
      { maxKeys: 3 },
    ),
    fc.nat({ max: 9 }),
    fc.uint8Array({ maxLength: 64 }),
  )
  .map(([header, pad, data]) => {
    const json = text.encode(JSON.stringify(header) + ' '.repeat(pad));
    const out = new Uint8Array(8 + json.length + data.length);
    new DataView(out.buffer).setUint32(0, json.length, true);
    out.set(json, 8);
    out.set(data, 8 + json.length);
    return out;
  });

/** Reads every tensor a parsed file holds, as the loaders do. */
function readAll(file: Safetensors): void {
  for (const name of file.names()) {
    if (['F32', 'F16', 'BF16'].includes(file.entry(name).dtype)) file.float32(name);
    else file.raw(name);
  }
}

const validAdapter = serializeSafetensors([{ name: 'prompt_embeddings', shape: [2, 4], data: Float32Array.from({ length: 8 }, (_, i) => i / 8) }], { format: 'pt' });
const validAdapterConfig = {
  peft_type: 'PROMPT_TUNING', task_type: 'CAUSAL_LM', num_virtual_tokens: 2, token_dim: 4, num_transformer_submodules: 1,
  num_attention_heads: 2, num_layers: 2, prompt_tuning_init: 'RANDOM', prompt_tuning_init_text: null,
  tokenizer_name_or_path: null, base_model_name_or_path: 'm', revision: null, inference_mode: true,
};
const validState = {
  global_step: 2, epoch: 0.2, max_steps: 4, num_train_epochs: 1, train_batch_size: 4, logging_steps: 500, eval_steps: 500,
  save_steps: 1, log_history: [{ loss: 1, step: 1 }], epoch_index: 0, micro_batches_in_epoch: 2, total_micro_batches: 2,
  rng_state: [1, 2, 3, 4], total_loss: 0, loss_since_log: 5.5, last_logged_step: 0, run: { data: 'abc' },
};
const validOptimizer = checkpointFiles({}, {
  optimizer: { exp_avg: Float32Array.of(0.1, 0.2), exp_avg_sq: Float32Array.of(0.01, 0.02), step: 2 },
  state: validState as never,
})['optimizer.safetensors'] as Uint8Array;

function fixtureJson(...parts: string[]): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(join(FIXTURES, ...parts), 'utf8'));
  } catch {
    return {};
  }
}

const CONFIGS = ['stories260K', 'gpt2-tiny', 'bloom-tiny-4h', 'llama-tiny'].map((m) => fixtureJson('models', m, 'config.json'));
const TOKENIZER = fixtureJson('models', 'stories260K', 'tokenizer.json');
const TOKENIZER_CONFIG = fixtureJson('models', 'stories260K', 'tokenizer_config.json');

/** Dataset text: a valid file of the format with edits, or arbitrary text (quotes, delimiters, braces, newlines). */
function datasetText(valid: string): fc.Arbitrary<string> {
  const pieces = fc.constantFrom('"', ',', '\t', '\n', '\r\n', '{', '}', '[', ']', ':', '\\', 'text', '"text"', '\u0000', '\ufeff', 'null', '1e999', '\u2028');
  const noise = fc.array(fc.oneof(pieces, fc.string({ maxLength: 6 })), { maxLength: 40 }).map((xs) => xs.join(''));
  const edited = fc.tuple(fc.nat({ max: valid.length }), fc.nat({ max: 8 }), noise).map(([at, cut, insert]) => valid.slice(0, at) + insert + valid.slice(at + cut));
  return fc.oneof(edited, noise, fc.string({ unit: 'binary', maxLength: 80 }));
}

const VALID_TEXT: Record<string, string> = {
  csv: 'text,label\n"Once, upon",1\nThe end,0\n',
  tsv: 'text\tlabel\nOnce upon\t1\nThe end\t0\n',
  json: '[{"text": "Once upon"}, {"text": "The end"}]',
  jsonl: '{"text": "Once upon"}\n{"text": "The end"}\n',
  text: 'Once upon\nThe end\n',
};

export const TARGETS: FuzzTarget[] = [
  {
    name: 'safetensors header and data',
    input: fc.oneof(mutatedBytes(validAdapter), mutatedBytes(validOptimizer), hostileSafetensors),
    run: (bytes) => readAll(Safetensors.parse(bytes as Uint8Array, 'fuzz.safetensors')),
  },
  {
    name: 'config.json',
    input: fc.oneof(...CONFIGS.map(mutatedObject)),
    run: (json) => void parseModelConfig(json, 'config.json'),
  },
  {
    name: 'tokenizer.json + tokenizer_config.json',
    input: fc.tuple(mutatedObject(TOKENIZER), mutatedObject(TOKENIZER_CONFIG)),
    run: (input) => {
      const [json, config] = input as [unknown, unknown];
      const tokenizer = TextTokenizer.fromJSON(json as object, config as object, 'tokenizer.json');
      tokenizer.decode(tokenizer.encode('Once upon a time'));
    },
  },
  {
    name: 'adapter_config.json + adapter_model.safetensors',
    input: fc.tuple(mutatedObject(validAdapterConfig), fc.oneof({ weight: 3, arbitrary: fc.constant(validAdapter) }, { weight: 1, arbitrary: mutatedBytes(validAdapter) })),
    run: (input) => {
      const [config, weights] = input as [unknown, Uint8Array];
      promptTuningConfigOf(parseAdapter(config, weights, 'adapter'), 'adapter');
    },
  },
  {
    name: 'trainer_state.json (+ optimizer.safetensors)',
    input: fc.tuple(mutatedObject(validState), fc.oneof({ weight: 3, arbitrary: fc.constant(validOptimizer) }, { weight: 1, arbitrary: mutatedBytes(validOptimizer) })),
    run: (input) => {
      const [state, optimizer] = input as [unknown, Uint8Array];
      parseCheckpoint({ 'trainer_state.json': text.encode(JSON.stringify(state) ?? 'undefined'), 'optimizer.safetensors': optimizer }, 'checkpoint-2');
    },
  },
  ...(['csv', 'tsv', 'json', 'jsonl', 'text'] as const).map((format): FuzzTarget => ({
    name: `${format.toUpperCase()} rows`,
    input: datasetText(VALID_TEXT[format]),
    run: (input) => void parseRows(input as string, `data.${format}`, { format }),
  })),
];

/**
 * Runs `runs` inputs of `target` (set up by the caller); returns the count and the first input that threw something
 * untyped or took longer than the target's timeout, if any.
 */
export async function fuzz(target: FuzzTarget, runs: number, seed: number): Promise<{ runs: number; failure: string | null; slowestMs: number }> {
  let slowestMs = 0;
  const property = fc.asyncProperty(target.input, async (input) => {
    const started = performance.now();
    try {
      await target.run(input);
    } catch (e) {
      if (!(e instanceof SoftpromptError)) throw e;
      if (e.message.includes('\n')) throw new Error(`a typed error of more than one line: ${e.message}`);
    } finally {
      slowestMs = Math.max(slowestMs, performance.now() - started);
    }
  });
  const result = await fc.check(property, { numRuns: runs, seed, endOnFailure: true, timeout: target.timeoutMs });
  const failure = result.failed ? `${String((result as { errorInstance?: unknown }).errorInstance)}\n  input: ${fc.stringify(result.counterexample).slice(0, 500)}` : null;
  return { runs: result.numRuns, failure, slowestMs };
}
