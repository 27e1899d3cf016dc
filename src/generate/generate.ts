/**
 * `generate`: greedy or sampled decoding with transformers' semantics (GenerationMixin._greedy_search / _sample in
 * 4.40, driven by PEFT 0.10's PeftModelForCausalLM.generate when a soft prompt is given), streamed step by step.
 * Each step: the last position's logits -> repetition penalty -> no-repeat n-grams -> (sampling) temperature, top-k,
 * top-p -> argmax or a draw; rows that have finished get pad_token_id; stop once every row has finished or the
 * length limit is reached.
 */
import { OptionError, ShapeError } from '../errors.js';
import { hardPositionLimit } from '../models/architectures.js';
import type { ModelConfig } from '../models/config.js';
import type { PretrainedModel } from '../models/model.js';
import type { TextTokenizer } from '../tokenizer/tokenizer.js';
import { Decoder } from './decoder.js';
import { prepareBatch, repeatRows, type InputOptions, type PreparedBatch } from './inputs.js';
import { argmax, noRepeatNgram, repetitionPenalty, sample, temperature, topK, topP } from './logits.js';
import { resolveGenerationConfig, type GenerationConfig, type GenerationOptions } from './options.js';
import { freshSeed, Generator } from '../random.js';
import { RowText } from './text.js';

export interface GenerateRequest extends InputOptions, GenerationOptions {
  /** Called with every step's tokens (and text) as soon as they are chosen. */
  streamer?: (chunk: StreamChunk) => void;
  /** The model's generation_config.json, parsed: defaults beneath these options (the CLI reads it for you). */
  generation_config?: Record<string, unknown> | null;
}

export interface StreamChunk {
  /** The token each row got this step (pad_token_id for rows that had already finished). */
  tokens: number[];
  /** With a tokenizer, per row: the text that became printable ('' while a multi-byte character is incomplete). */
  text: string[] | null;
  /** Per row: finished (eos or a stop string) by this step. */
  finished: boolean[];
}

export interface GenerateOutput {
  /** Per row: the (padded) input ids, then the new ids; rows that finished early continue with pad_token_id. */
  sequences: number[][];
  /** With a tokenizer: each row decoded without special tokens, as batch_decode(skip_special_tokens=True). */
  text: string[] | null;
  /** With output_scores: per step, the processed scores [B, V], row-major. */
  scores: Float32Array[] | null;
}

/** Generates to the end; `request.streamer` sees each step on the way. */
export async function generate(model: PretrainedModel, tokenizer: TextTokenizer | null, request: GenerateRequest): Promise<GenerateOutput> {
  const steps = generateStream(model, tokenizer, request);
  for (;;) {
    const r = await steps.next();
    if (r.done) return r.value;
    request.streamer?.(r.value);
  }
}

/** The same decoding as an async iterator of steps (request.streamer is not called); it returns the GenerateOutput. */
export async function* generateStream(
  model: PretrainedModel,
  tokenizer: TextTokenizer | null,
  request: GenerateRequest,
): AsyncGenerator<StreamChunk, GenerateOutput> {
  const { streamer: _streamer, generation_config, input_ids, attention_mask, text, prompt, prompts, row_prompts, prompt_position, ...options } = request;
  const config = resolveGenerationConfig(options, model.config, generation_config ?? null);
  if (config.stop_strings.length > 0 && !tokenizer) throw new OptionError('stop strings need a tokenizer to read the text', 'stop_strings');
  // transformers pads finished rows with pad_token_id, falling back to the first eos id.
  const pad = config.pad_token_id ?? config.eos_token_id[0] ?? null;
  const inputs = { input_ids, attention_mask, text, prompt, prompts, row_prompts, prompt_position };
  const batch = repeatRows(prepareBatch(inputs, model.config, tokenizer, pad, config.eos_token_id), config.num_return_sequences);
  checkContext(model.config, batch);
  const maxNew = newTokenBudget(config, batch.ids[0].length);
  checkContext(model.config, batch, maxNew);
  if (pad === null && batch.ids.length > 1 && config.stop_strings.length > 0) {
    throw new OptionError('rows that stop early are padded: set pad_token_id', 'pad_token_id');
  }

  const rows = new Rows(batch, config, tokenizer, pad);
  const scores: Float32Array[] | null = config.output_scores ? [] : null;
  if (maxNew > 0) {
    let { decoder, logits } = await Decoder.prefill(model, batch);
    for (let step = 0; ; step++) {
      const tokens = rows.choose(logits, model.config.vocabSize, scores);
      const last = step === maxNew - 1;
      yield rows.append(tokens, last);
      if (last || rows.finished.every(Boolean)) break;
      logits = await decoder.step(tokens);
    }
  }
  const decoded = tokenizer ? rows.sequences.map((s) => tokenizer.decode(s, { skip_special_tokens: true })) : null;
  return { sequences: rows.sequences, text: decoded, scores };
}

/** The rows being generated: their ids, text and whether each has finished. */
class Rows {
  readonly sequences: number[][];
  /** What the repetition penalty and n-gram ban see: transformers' input_ids (pads included) unless rows stand alone. */
  private readonly history: number[][];
  private readonly texts: RowText[] | null;
  readonly finished: boolean[];
  private readonly random: Generator;

  constructor(
    batch: PreparedBatch,
    private readonly config: GenerationConfig,
    tokenizer: TextTokenizer | null,
    /** Null only where no row can finish early (checked by the caller). */
    private readonly pad: number | null,
  ) {
    this.sequences = batch.ids.map((r) => [...r]);
    const realIds = batch.ids.map((r, b) => r.filter((_, t) => batch.mask[b][t] === 1));
    this.history = batch.alone ? realIds : this.sequences;
    this.texts = tokenizer ? realIds.map((ids) => new RowText(tokenizer, ids)) : null;
    this.finished = new Array<boolean>(batch.ids.length).fill(false);
    this.random = Generator.seeded(config.seed ?? freshSeed());
  }

  /** Each row's next token from the logits [B, V]; the processed scores go to `scores` when it is given. */
  choose(logits: Float32Array, V: number, scores: Float32Array[] | null): number[] {
    const stepScores = scores ? new Float32Array(logits.length) : null;
    const tokens = this.history.map((ids, b) => {
      const s = processScores(logits.slice(b * V, (b + 1) * V), ids, this.config);
      stepScores?.set(s, b * V);
      if (this.finished[b]) return this.pad!;
      return this.config.do_sample ? sample(s, this.random) : argmax(s);
    });
    if (stepScores) scores!.push(stepScores);
    return tokens;
  }

  /** Appends the step's tokens, marks rows that hit eos or a stop string, and says what to stream. */
  append(tokens: number[], last: boolean): StreamChunk {
    const { eos_token_id: eos, stop_strings: stops } = this.config;
    const text = tokens.map((token, b) => {
      this.sequences[b].push(token);
      if (this.history !== this.sequences) this.history[b].push(token);
      if (this.finished[b]) return '';
      const row = this.texts?.[b];
      let delta = row?.push(token) ?? '';
      this.finished[b] = eos.includes(token) || (stops.length > 0 && row!.contains(stops));
      if (this.finished[b] || last) delta += row?.flush() ?? '';
      return delta;
    });
    return { tokens, text: this.texts ? text : null, finished: [...this.finished] };
  }
}

function processScores(s: Float32Array, ids: number[], c: GenerationConfig): Float32Array {
  if (c.repetition_penalty !== 1) repetitionPenalty(s, ids, c.repetition_penalty);
  if (c.no_repeat_ngram_size > 0) noRepeatNgram(s, ids, c.no_repeat_ngram_size);
  if (c.do_sample) {
    if (c.temperature !== 1) temperature(s, c.temperature);
    if (c.top_k > 0) topK(s, c.top_k);
    if (c.top_p < 1) topP(s, c.top_p);
  }
  return s;
}

/** max_new_tokens wins; otherwise max_length bounds the returned rows (the padded input included). */
function newTokenBudget(c: GenerationConfig, T: number): number {
  if (c.max_new_tokens !== null) return c.max_new_tokens;
  if (c.max_length <= T) {
    throw new OptionError(`${c.max_length} leaves no room for new tokens after the ${T}-token input (use max_new_tokens)`, 'max_length');
  }
  return c.max_length - T;
}

/**
 * A learned position table ends (GPT-2: at n_positions), and its positions count the virtual tokens. (RoPE and ALiBi
 * have no hard end; transformers does not check them either.) Without `maxNew`, checks the input alone.
 */
function checkContext(cfg: ModelConfig, batch: PreparedBatch, maxNew = 1): void {
  const hard = hardPositionLimit(cfg);
  if (hard === null) return;
  const { max: limit, key } = hard;
  const n = (batch.prompt?.length ?? 0) + (batch.prefix?.length ?? 0);
  const virtual = (b: number) => sum(batch.prompt?.mask[b] ?? []) + sum(batch.prefix?.mask[b] ?? []);
  const used = batch.mask.map((row, b) => (batch.positions === 'slots' ? n + row.length : sum(row) + virtual(b)));
  const input = Math.max(...used);
  if (input > limit) {
    throw new ShapeError(`the input takes ${input} positions (${n} virtual tokens included) but the model has ${key} ${limit}`, 'input_ids');
  }
  // The last new token is never fed back, so it needs no position.
  if (input + maxNew - 1 > limit) {
    const room = limit - input + 1;
    throw new OptionError(`${maxNew} new tokens after a ${input}-position input exceed ${key} ${limit} (at most ${room})`, 'max_new_tokens');
  }
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
