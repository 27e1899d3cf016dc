/**
 * The decoding graph: new token ids (and, for the prefill, per-row soft prompts) plus every layer's past keys/values
 * in; the logits of the last position only ([B, V]: a 250k vocabulary times every prompt position would be wasted
 * work) and the grown keys/values out. The prefill runs it with a zero-length past, each decode step with one new
 * token, so a model needs this graph once (twice with prompts), never one per step or per length.
 */
import { Graph, type Tensor } from '../graph/graph.js';
import { toOnnx, type ExportOptions } from '../graph/onnx.js';
import { concat, gather } from '../graph/ops.js';
import type { AuxTensors, KvCache } from '../models/architecture.js';
import type { ModelConfig } from '../models/config.js';
import { ARCHITECTURES } from '../models/graphs.js';

export const pastKey = (layer: number) => `past.${layer}.key`;
export const pastValue = (layer: number) => `past.${layer}.value`;
export const presentKey = (layer: number) => `present.${layer}.key`;
export const presentValue = (layer: number) => `present.${layer}.value`;

export function decoderGraphKey(cfg: ModelConfig, withPrompt: boolean): string {
  return `${cfg.arch}:${JSON.stringify(cfg.raw)}:decode${withPrompt ? '+prompt' : ''}`;
}

export function buildDecoderGraph(
  cfg: ModelConfig,
  withPrompt: boolean,
  resolve: (name: string, shape: number[]) => string,
  bake: ExportOptions = {},
): Uint8Array {
  const g = new Graph();
  const params = new Map<string, Tensor>();
  const arch = ARCHITECTURES[cfg.arch](cfg, (name, shape) => {
    const actual = resolve(name, shape);
    if (!params.has(actual)) params.set(actual, g.input(actual, 'float32', shape));
    return params.get(actual)!;
  });

  const ids = g.input('input_ids', 'int64', ['batch', 'tokens']);
  const aux: AuxTensors = { bias: g.input('attn_bias', 'float32', ['batch', cfg.arch === 'bloom' ? cfg.numHeads : 1, 'new', 'total']) };
  if (cfg.arch === 'llama' || cfg.arch === 'qwen2') {
    aux.cos = g.input('rope_cos', 'float32', ['batch', 'new', cfg.headDim]);
    aux.sin = g.input('rope_sin', 'float32', ['batch', 'new', cfg.headDim]);
  }
  if (cfg.arch === 'gpt2') aux.positionIds = g.input('position_ids', 'int64', ['batch', 'new']);

  const cache: KvCache = { past: [], present: [] };
  for (let i = 0; i < cfg.numLayers; i++) {
    const shape = ['batch', cfg.numKvHeads, 'past', cfg.headDim];
    cache.past.push({ key: g.input(pastKey(i), 'float32', shape), value: g.input(pastValue(i), 'float32', shape) });
  }

  const tokens = arch.embed(ids);
  const embeds = withPrompt ? concat([g.input('prompt', 'float32', ['batch', 'virtual', cfg.hiddenSize]), tokens], 1) : tokens;
  const hidden = arch.forward(embeds, aux, cache);
  const last = gather(hidden, g.constant(BigInt64Array.of(-1n), []), 1);

  const outputs: Record<string, Tensor> = { logits: arch.head(last) };
  cache.present.forEach(({ key, value }, i) => {
    outputs[presentKey(i)] = key;
    outputs[presentValue(i)] = value;
  });
  return toOnnx(g, outputs, bake);
}
