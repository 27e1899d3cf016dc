/**
 * Decoding options under transformers' GenerationConfig names, with its defaults (max_length 20, top_k 50, ...),
 * validated up front so a bad value fails with the option's name instead of midway through decoding.
 * Precedence, as in transformers: explicit options > the model's generation_config.json > config.json.
 */
import { OptionError, UnsupportedError } from '../errors.js';
import type { ModelConfig } from '../models/config.js';

export interface GenerationOptions {
  /** New tokens to generate; wins over max_length when both are given. */
  max_new_tokens?: number | null;
  /** Length of the returned rows: the (padded) input plus new tokens; virtual tokens never count. */
  max_length?: number;
  do_sample?: boolean;
  temperature?: number;
  /** 0 disables top-k filtering. */
  top_k?: number;
  top_p?: number;
  /** Over each row's full current ids (pads and the input included, virtual tokens excluded). 1 disables it. */
  repetition_penalty?: number;
  no_repeat_ngram_size?: number;
  eos_token_id?: number | number[] | null;
  pad_token_id?: number | null;
  /** Stop a row once its text (the input's included) contains one of these, completed by the last token. */
  stop_strings?: string | string[];
  /** Samples per input row, returned next to each other (row 0's samples first). Needs do_sample. */
  num_return_sequences?: number;
  /** Seeds the sampler so the same call samples the same tokens; without it every call differs. */
  seed?: number | null;
  /** Also return the processed scores of every step ([B, V] each), as transformers' output_scores. */
  output_scores?: boolean;
}

export interface GenerationConfig {
  max_new_tokens: number | null;
  max_length: number;
  do_sample: boolean;
  temperature: number;
  top_k: number;
  top_p: number;
  repetition_penalty: number;
  no_repeat_ngram_size: number;
  eos_token_id: number[];
  pad_token_id: number | null;
  stop_strings: string[];
  num_return_sequences: number;
  seed: number | null;
  output_scores: boolean;
}

/** transformers' GenerationConfig defaults (eos/pad come from the model). */
export const GENERATION_DEFAULTS: GenerationConfig = {
  max_new_tokens: null,
  max_length: 20,
  do_sample: false,
  temperature: 1,
  top_k: 50,
  top_p: 1,
  repetition_penalty: 1,
  no_repeat_ngram_size: 0,
  eos_token_id: [],
  pad_token_id: null,
  stop_strings: [],
  num_return_sequences: 1,
  seed: null,
  output_scores: false,
};

const GENERATION_OPTION_NAMES = Object.keys(GENERATION_DEFAULTS);

/**
 * generation_config.json settings that select decoding strategies softprompt does not implement, with the value that
 * means "off". A file that turns one on is refused rather than silently decoded differently.
 */
const STRATEGIES_OFF: Record<string, unknown[]> = {
  num_beams: [1],
  num_beam_groups: [1],
  penalty_alpha: [null, 0],
  typical_p: [1, null],
  epsilon_cutoff: [0, null],
  eta_cutoff: [0, null],
  min_length: [0, null],
  min_new_tokens: [0, null],
  guidance_scale: [1, null],
  bad_words_ids: [null],
  suppress_tokens: [null],
  begin_suppress_tokens: [null],
  forced_bos_token_id: [null],
  forced_eos_token_id: [null],
};

/**
 * Merges `options` over the model's defaults and checks every value. `generationConfigJson` is the parsed
 * generation_config.json, if the model has one; its keys other than the options above are ignored.
 */
export function resolveGenerationConfig(
  options: GenerationOptions,
  model: ModelConfig,
  generationConfigJson: Record<string, unknown> | null = null,
): GenerationConfig {
  for (const key of Object.keys(options)) {
    if (!GENERATION_OPTION_NAMES.includes(key)) {
      throw new OptionError(`unknown option (expected one of ${GENERATION_OPTION_NAMES.join(', ')})`, key);
    }
  }
  const fromFile: Record<string, unknown> = {};
  if (generationConfigJson) {
    for (const [key, off] of Object.entries(STRATEGIES_OFF)) {
      const v = generationConfigJson[key];
      if (v !== undefined && !off.includes(v)) throw new UnsupportedError(`${key} ${JSON.stringify(v)} is not supported`, 'generation_config.json');
    }
    for (const key of GENERATION_OPTION_NAMES) if (generationConfigJson[key] !== undefined) fromFile[key] = generationConfigJson[key];
  }
  const modelDefaults = { eos_token_id: model.eosTokenId, pad_token_id: model.padTokenId };
  const merged = { ...GENERATION_DEFAULTS, ...modelDefaults, ...fromFile, ...definedOnly(options) } as Record<string, unknown>;
  return checkConfig(merged, model.vocabSize);
}

function definedOnly(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

function checkConfig(m: Record<string, unknown>, vocabSize: number): GenerationConfig {
  const c: GenerationConfig = {
    max_new_tokens: m.max_new_tokens === null ? null : integer(m, 'max_new_tokens', 0),
    max_length: integer(m, 'max_length', 1),
    do_sample: boolean(m, 'do_sample'),
    temperature: number(m, 'temperature'),
    top_k: integer(m, 'top_k', 0),
    top_p: number(m, 'top_p'),
    repetition_penalty: number(m, 'repetition_penalty'),
    no_repeat_ngram_size: integer(m, 'no_repeat_ngram_size', 0),
    eos_token_id: tokenIds(m.eos_token_id, 'eos_token_id', vocabSize),
    pad_token_id: m.pad_token_id === null ? null : tokenIds(m.pad_token_id, 'pad_token_id', vocabSize, false)[0],
    stop_strings: strings(m.stop_strings, 'stop_strings'),
    num_return_sequences: integer(m, 'num_return_sequences', 1),
    seed: m.seed === null ? null : integer(m, 'seed', 0),
    output_scores: boolean(m, 'output_scores'),
  };
  if (c.do_sample && !(c.temperature > 0)) throw new OptionError(`${c.temperature} must be > 0 when sampling`, 'temperature');
  if (!(c.top_p > 0 && c.top_p <= 1)) throw new OptionError(`${c.top_p} is outside (0, 1]`, 'top_p');
  if (!(c.repetition_penalty > 0)) throw new OptionError(`${c.repetition_penalty} must be > 0 (1 turns it off)`, 'repetition_penalty');
  if (c.num_return_sequences > 1 && !c.do_sample) {
    throw new OptionError('greedy decoding returns one sequence per input; set do_sample for several', 'num_return_sequences');
  }
  return c;
}

function integer(m: Record<string, unknown>, key: string, min: number): number {
  const v = m[key];
  if (!Number.isSafeInteger(v) || (v as number) < min) throw new OptionError(`${JSON.stringify(v)} is not an integer >= ${min}`, key);
  return v as number;
}

function number(m: Record<string, unknown>, key: string): number {
  const v = m[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new OptionError(`${JSON.stringify(v)} is not a finite number`, key);
  return v;
}

function boolean(m: Record<string, unknown>, key: string): boolean {
  const v = m[key];
  if (typeof v !== 'boolean') throw new OptionError(`${JSON.stringify(v)} is not true or false`, key);
  return v;
}

function tokenIds(v: unknown, key: string, vocabSize: number, listAllowed = true): number[] {
  if (v === null) return [];
  const ids = Array.isArray(v) && listAllowed ? v : [v];
  for (const id of ids) {
    if (!Number.isSafeInteger(id) || id < 0 || id >= vocabSize) {
      throw new OptionError(`${JSON.stringify(v)} is not a token id in [0, ${vocabSize})${listAllowed ? ' or a list of them' : ''}`, key);
    }
  }
  return ids as number[];
}

function strings(v: unknown, key: string): string[] {
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || !list.every((s) => typeof s === 'string' && s.length > 0)) {
    throw new OptionError(`${JSON.stringify(v)} is not a non-empty string or a list of them`, key);
  }
  return list;
}
