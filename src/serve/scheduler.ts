/**
 * Continuous batching over one DecodeBatch: sequences wait in a queue, join the running batch between steps while
 * there is room (max_batch_size rows), and leave as each one finishes (eos, a stop string, max_tokens, or its client
 * went away). A sequence is one row, or one row per adapter for an ensemble, whose rows share every chosen token.
 * Rows for different adapters and the base model decode side by side; each row's output does not depend on the
 * others (see generate/batch.ts).
 */
import { DecodeBatch, type NewRow, type PromptPrefix } from '../generate/batch.js';
import type { PretrainedModel } from '../models/model.js';
import type { Adapter } from '../peft/adapter.js';
import { Generator, freshSeed } from '../random.js';
import type { TextTokenizer } from '../tokenizer/tokenizer.js';
import { chooseToken, type Sampling, type TokenChoice } from './sampling.js';

/** One member of a sequence: the base model (null) or an adapter, with its cached prefix or its prompt to run. */
export type Member = { prefix: PromptPrefix } | { prompt: Adapter } | null;

export type FinishReason = 'stop' | 'length';

export interface SequenceEvents {
  /** A token was chosen; `text` is the part of the completion that became final with it (maybe ''). */
  token(choice: TokenChoice, text: string): void;
  /** The sequence ended (the last token's text has been sent); `error` when the engine failed. */
  finish(reason: FinishReason | 'error' | 'cancelled', error?: Error): void;
}

export class Sequence {
  readonly output: number[] = [];
  finished = false;
  /** When it was queued, got its first token, and finished (ms, performance.now()). */
  readonly queuedAt = performance.now();
  firstTokenAt = 0;
  finishedAt = 0;
  /** What it decodes with (its model, or its ensemble's members), for SchedulerOptions.onePromptPerBatch. */
  group = '';
  private readonly random: Generator;
  private readonly promptText: string;
  /** The completion text so far (cut at a stop string once one appears) and how much of it has been sent. */
  text = '';
  private sent = 0;
  private readonly holdBack: number;

  constructor(
    private readonly tokenizer: TextTokenizer,
    readonly promptIds: number[],
    readonly members: Member[],
    readonly sampling: Sampling,
    private readonly events: SequenceEvents,
    /** Sequences of one request share a generator so that n > 1 samples differ and a seed repeats them all. */
    random?: Generator,
  ) {
    this.random = random ?? Generator.seeded(sampling.seed ?? freshSeed());
    this.promptText = tokenizer.decode(promptIds, { skip_special_tokens: true });
    this.holdBack = Math.max(0, ...sampling.stop.map((s) => s.length - 1));
  }

  /** Rows it takes in the batch. */
  get width(): number {
    return this.members.length;
  }

  get last(): number {
    return this.output[this.output.length - 1];
  }

  rows(): NewRow[] {
    return this.members.map((m) => (m === null ? { ids: this.promptIds } : 'prefix' in m ? { ids: this.promptIds, prefix: m.prefix } : { ids: this.promptIds, prompt: m.prompt }));
  }

  /** Ends it early (the client went away); its rows leave at the next step. */
  cancel(): void {
    if (this.finished) return;
    this.finished = true;
    this.finishedAt = performance.now();
    this.events.finish('cancelled');
  }

  fail(error: Error): void {
    if (this.finished) return;
    this.finished = true;
    this.finishedAt = performance.now();
    this.events.finish('error', error);
  }

  /** Chooses the next token from the member rows' logits and tells the client. */
  advance(logits: Float32Array[]): void {
    if (this.finished) return;
    const s = this.sampling;
    const choice = chooseToken(logits, this.promptIds, this.output, s, this.random);
    this.output.push(choice.id);
    if (this.output.length === 1) this.firstTokenAt = performance.now();
    let reason: FinishReason | null = s.stop_token_ids.includes(choice.id) ? 'stop' : null;
    this.text = this.decodeOutput();
    if (s.stop.length > 0) {
      const from = Math.max(0, this.sent - this.holdBack);
      const cut = Math.min(...s.stop.map((stop) => this.text.indexOf(stop, from)).filter((i) => i >= 0));
      if (Number.isFinite(cut)) {
        this.text = this.text.slice(0, cut);
        reason = 'stop';
      }
    }
    if (reason === null && this.output.length >= s.max_tokens) reason = 'length';
    // Until it ends, hold back an incomplete last character and what could still become a stop string.
    let ready = this.text.length;
    if (reason === null) ready = Math.max(this.sent, this.text.replace(/\uFFFD+$/, '').length - this.holdBack);
    const delta = this.text.slice(this.sent, ready);
    this.sent = Math.max(this.sent, ready);
    this.events.token(choice, delta);
    if (reason !== null) {
      this.finished = true;
      this.finishedAt = performance.now();
      this.events.finish(reason);
    }
  }

  /** The whole row decoded, less the prompt's text, so that pieces join as the tokenizer joins them. */
  private decodeOutput(): string {
    const all = this.tokenizer.decode([...this.promptIds, ...this.output], { skip_special_tokens: true });
    return all.startsWith(this.promptText) ? all.slice(this.promptText.length) : this.tokenizer.decode(this.output, { skip_special_tokens: true });
  }
}

export interface SchedulerOptions {
  /** Rows decoded together at most. */
  maxBatchSize: number;
  /** Sequences waiting to join at most; more are refused (QueueFullError). */
  maxQueue: number;
  /**
   * Only sequences of one group (model or ensemble) share the batch, as a server without per-row prompts must batch:
   * a baseline for benchmarks. The batch takes the oldest waiting sequence's group whenever it empties.
   */
  onePromptPerBatch?: boolean;
  /** Called after every engine call with the rows in the batch and the sequences waiting. */
  onStep?: (rows: number, waiting: number) => void;
}

export class QueueFullError extends Error {}

export class Scheduler {
  private batch: DecodeBatch;
  private readonly waiting: Sequence[] = [];
  private active: Sequence[] = [];
  private running: Promise<void> | null = null;
  private idleWaiters: Array<() => void> = [];
  /** Engine calls made, and those that prefilled joining rows. */
  steps = 0;
  joins = 0;

  constructor(
    private readonly model: PretrainedModel,
    private readonly options: SchedulerOptions,
  ) {
    this.batch = new DecodeBatch(model);
  }

  get queued(): number {
    return this.waiting.length;
  }

  get rows(): number {
    return this.active.reduce((n, s) => n + s.width, 0);
  }

  /** Queues a request's sequences together, or refuses them all when the queue is full. */
  submit(seqs: Sequence[]): void {
    if (this.waiting.length + seqs.length > this.options.maxQueue) throw new QueueFullError(`the queue holds ${this.options.maxQueue} sequences`);
    this.waiting.push(...seqs);
    this.running ??= this.loop().finally(() => {
      this.running = null;
      if (this.waiting.length > 0) this.submit([]);
      else for (const wake of this.idleWaiters.splice(0)) wake();
    });
  }

  /** Resolves once nothing is queued or running. */
  idle(): Promise<void> {
    if (!this.running && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async loop(): Promise<void> {
    const { maxBatchSize } = this.options;
    try {
      while (this.active.length + this.waiting.length > 0) {
        this.leaveFinished();
        const joining = this.admit(maxBatchSize);
        if (joining.length > 0) {
          const logits = await this.batch.join(joining.flatMap((s) => s.rows()));
          this.joins++;
          this.active.push(...joining);
          let k = 0;
          for (const s of joining) s.advance(logits.slice(k, (k += s.width)));
          this.leaveFinished();
        }
        this.options.onStep?.(this.rows, this.waiting.length);
        if (this.active.length === 0) continue;
        const logits = await this.batch.step(this.active.flatMap((s) => new Array<number>(s.width).fill(s.last)));
        this.steps++;
        const V = this.model.config.vocabSize;
        let b = 0;
        for (const s of this.active) {
          const rows = Array.from({ length: s.width }, (_, j) => logits.subarray((b + j) * V, (b + j + 1) * V));
          b += s.width;
          s.advance(rows);
        }
      }
    } catch (e) {
      // The engine failed: every sequence gets the error, and a fresh batch starts with the next request.
      const error = e instanceof Error ? e : new Error(String(e));
      for (const s of [...this.active, ...this.waiting.splice(0)]) s.fail(error);
      this.active = [];
      this.batch = new DecodeBatch(this.model);
    } finally {
      this.options.onStep?.(this.rows, this.waiting.length);
    }
  }

  /** Takes waiting sequences, oldest first, while their rows fit. */
  private admit(maxBatchSize: number): Sequence[] {
    const joining: Sequence[] = [];
    let rows = this.rows;
    if (!this.options.onePromptPerBatch) {
      while (this.waiting.length > 0 && rows + this.waiting[0].width <= maxBatchSize) {
        const s = this.waiting.shift()!;
        if (s.finished) continue;
        joining.push(s);
        rows += s.width;
      }
      return joining;
    }
    let group = this.active[0]?.group ?? null;
    for (let i = 0; i < this.waiting.length && rows < maxBatchSize; i++) {
      const s = this.waiting[i];
      if (s.finished || (group !== null && s.group !== group) || rows + s.width > maxBatchSize) continue;
      group = s.group;
      joining.push(s);
      rows += s.width;
    }
    const taken = new Set(joining);
    const rest = this.waiting.filter((s) => !taken.has(s) && !s.finished);
    this.waiting.splice(0, this.waiting.length, ...rest);
    return joining;
  }

  private leaveFinished(): void {
    const keep = this.active.flatMap((s) => new Array<boolean>(s.width).fill(!s.finished));
    this.batch.leave(keep);
    this.active = this.active.filter((s) => !s.finished);
  }
}
