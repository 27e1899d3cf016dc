/**
 * The decoding graph: new token ids (and, for the prefill, per-row soft prompts) plus every layer's past keys/values
 * in; the logits of the last position only ([B, V]: a 250k vocabulary times every prompt position would be wasted
 * work) and the grown keys/values out. The prefill runs it with a zero-length past, each decode step with one new
 * token, so a model needs this graph once (twice with prompts), never one per step or per length.
 */
import type { Tensor } from '../graph/graph.js';
import { toOnnx, type ExportOptions } from '../graph/onnx.js';
import { concat, gather } from '../graph/ops.js';
import type { KvCache } from '../models/architecture.js';
import type { ModelConfig } from '../models/config.js';
import { modelInputs } from '../models/graphs.js';
import { promptWidth } from '../models/architectures.js';

export const pastKey = (layer: number) => `past.${layer}.key`;
export const pastValue = (layer: number) => `past.${layer}.value`;
export const presentKey = (layer: number) => `present.${layer}.key`;
export const presentValue = (layer: number) => `present.${layer}.value`;

/** Where the prefill's soft prompt goes: none, in front of the input, or after it (before the new tokens). */
export type PromptPlace = 'none' | 'first' | 'last';

export function decoderGraphKey(cfg: ModelConfig, place: PromptPlace): string {
  return `${cfg.arch}:${JSON.stringify(cfg.raw)}:decode${place === 'none' ? '' : place === 'first' ? '+prompt' : '+prompt-last'}`;
}

export function buildDecoderGraph(
  cfg: ModelConfig,
  place: PromptPlace,
  resolve: (name: string, shape: number[]) => string,
  bake: ExportOptions = {},
): Uint8Array {
  const { g, arch, ids, aux } = modelInputs(cfg, resolve, 'new', 'total', bake);

  const cache: KvCache = { past: [], present: [] };
  for (let i = 0; i < cfg.numLayers; i++) {
    const shape = ['batch', cfg.numKvHeads, 'past', cfg.headDim];
    cache.past.push({ key: g.input(pastKey(i), 'float32', shape), value: g.input(pastValue(i), 'float32', shape) });
  }

  const tokens = arch.embed(ids);
  const prompt = place === 'none' ? null : g.input('prompt', 'float32', ['batch', 'virtual', promptWidth(cfg)]);
  const embeds = !prompt ? tokens : concat(place === 'first' ? [prompt, tokens] : [tokens, prompt], 1);
  const hidden = arch.forward(embeds, aux, cache);
  const last = gather(hidden, g.constant(BigInt64Array.of(-1n), []), 1);

  const outputs: Record<string, Tensor> = { logits: arch.head(last) };
  cache.present.forEach(({ key, value }, i) => {
    outputs[presentKey(i)] = key;
    outputs[presentValue(i)] = value;
  });
  return toOnnx(g, outputs, bake);
}
