/**
 * Runs the decoding graph with a KV cache: `prefill` puts the soft prompts and the input through it with an empty
 * past (or the prefixes, for prefix tuning), `step` feeds one token per row. The cache is the graph's own `present` output fed back as the next `past`:
 * nothing is recomputed and nothing here copies it. (The engine still clones it across the worker boundary both
 * ways; docs/benchmarks.md measures what that costs.)
 */
import type { PretrainedModel } from '../models/model.js';
import { auxFeeds } from '../models/positions.js';
import { promptWidth } from '../models/architectures.js';
import type { TensorData } from '../runtime/engine.js';
import { buildDecoderGraph, decoderGraphKey, pastKey, pastValue, presentKey, presentValue, type PromptPlace } from './graph.js';
import type { PreparedBatch } from './inputs.js';

export class Decoder {
  private constructor(
    private readonly model: PretrainedModel,
    private readonly key: string,
    /** Per row, the attention mask over every slot so far: [prompt slots | input | new tokens] (or [input | prompt slots | ...]). */
    private readonly mask: number[][],
    private readonly positions: PreparedBatch['positions'],
    private readonly past: Record<string, TensorData>,
    /** Mixed-task rows, each as if generated alone (sliding windows then skip masked slots). */
    private readonly alone: boolean,
  ) {}

  /** Runs the prompts and input; returns the decoder and the logits [B, V] of the last input position. */
  static async prefill(model: PretrainedModel, batch: PreparedBatch): Promise<{ decoder: Decoder; logits: Float32Array }> {
    const cfg = model.config;
    const B = batch.ids.length;
    const place = batch.prompt === null ? 'none' : batch.prompt.last ? 'last' : 'first';
    const [key, prefillKey] = await Promise.all([loadDecoderGraph(model, 'none'), place !== 'none' ? loadDecoderGraph(model, place) : null]);
    // Slots: [prefix | prompt | input], or [prefix | input | prompt] with the prompt placed last.
    const mask = batch.mask.map((row, b) => {
      const prefix = batch.prefix?.mask[b] ?? [];
      const prompt = batch.prompt?.mask[b] ?? [];
      return place === 'last' ? [...prefix, ...row, ...prompt] : [...prefix, ...prompt, ...row];
    });
    // The prefixes (prefix tuning) are the initial cache; without them it starts empty.
    const P = batch.prefix?.length ?? 0;
    const past: Record<string, TensorData> = {};
    for (let i = 0; i < cfg.numLayers; i++) {
      const dims = [B, cfg.numKvHeads, P, cfg.headDim];
      past[pastKey(i)] = { dtype: 'float32', dims, data: batch.prefix?.past[2 * i] ?? new Float32Array(0) };
      past[pastValue(i)] = { dtype: 'float32', dims, data: batch.prefix?.past[2 * i + 1] ?? new Float32Array(0) };
    }
    const decoder = new Decoder(model, key, mask, batch.positions, past, batch.alone);
    const feeds: Record<string, TensorData> = {
      input_ids: { dtype: 'int64', dims: [B, batch.ids[0].length], data: BigInt64Array.from(batch.ids.flat(), BigInt) },
    };
    if (batch.prompt) feeds.prompt = { dtype: 'float32', dims: [B, batch.prompt.length, promptWidth(cfg)], data: batch.prompt.data };
    // Not transferred: the prompt rows may be the caller's own array.
    const logits = await decoder.run(prefillKey ?? key, feeds, P, false);
    return { decoder, logits };
  }

  /** Feeds one token per row; returns the logits [B, V] for the next. */
  step(tokens: number[]): Promise<Float32Array> {
    const start = this.mask[0].length;
    for (const row of this.mask) row.push(1);
    const feeds: Record<string, TensorData> = {
      input_ids: { dtype: 'int64', dims: [tokens.length, 1], data: BigInt64Array.from(tokens, BigInt) },
    };
    // The cache moves to the worker and back each step instead of being copied twice.
    return this.run(this.key, feeds, start, true);
  }

  private async run(key: string, feeds: Record<string, TensorData>, queryStart: number, transfer: boolean): Promise<Float32Array> {
    const cfg = this.model.config;
    const positions = positionIds(this.mask, queryStart, this.positions);
    Object.assign(feeds, this.past, auxFeeds(cfg, { mask: this.mask, positions, queryStart, alone: this.alone }));
    const names = Array.from({ length: cfg.numLayers }, (_, i) => [presentKey(i), presentValue(i)]).flat();
    const out = await this.model.runGraph(key, feeds, ['logits', ...names], transfer);
    for (let i = 0; i < cfg.numLayers; i++) {
      this.past[pastKey(i)] = out[presentKey(i)];
      this.past[pastValue(i)] = out[presentValue(i)];
    }
    return out.logits.data as Float32Array;
  }
}

/** The decoding graph for a prompt placement, built and loaded once per model; returns its key. */
export function loadDecoderGraph(model: PretrainedModel, place: PromptPlace): Promise<string> {
  const cfg = model.config;
  return model.loadGraph(decoderGraphKey(cfg, place), (bake) =>
    buildDecoderGraph(cfg, place, (n, s) => model.resolveWeight(n, s), bake),
  );
}

/** Position ids of the slots from `start` on (see PreparedBatch.positions). */
export function positionIds(mask: number[][], start: number, mode: PreparedBatch['positions']): number[][] {
  return mask.map((row) => {
    const out: number[] = [];
    let seen = 0;
    for (let j = 0; j < row.length; j++) {
      seen += row[j];
      if (j >= start) out.push(mode === 'slots' ? j : row[j] ? seen - 1 : 1);
    }
    return out;
  });
}
