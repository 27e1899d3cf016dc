/**
 * `fromPretrained`: a model directory or a hub repo id (`org/name`, downloaded into the cache shared with Python) ->
 * a loaded model, its weights bound in an engine.
 */
import { join } from 'node:path';
import { MissingError } from '../errors.js';
import { readJson } from '../hub/local.js';
import { locateModel } from '../hub/model-files.js';
import type { HubOptions } from '../hub/settings.js';
import { Engine } from '../runtime/engine.js';
import type { InferenceEngine } from '../runtime/engine-api.js';
import { loadWeights } from '../weights/files.js';
import { quantizationFor, type BlockQuantization, type WeightDtype } from '../weights/quantize.js';
import { QuantizedWeightFiles, type QuantizedPlan } from '../weights/quantized-files.js';
import { quantizableWeights } from './graphs.js';
import { parseModelConfig, type ModelConfig } from './config.js';
import { PretrainedModel } from './model.js';

export interface PretrainedOptions extends HubOptions {
  /** Share one engine (worker thread) between models; default: a new one. */
  engine?: InferenceEngine;
  threads?: number;
  /**
   * How the frozen weights are held: 'fp32' (default), 'fp16' (matrices bound as float16, half the memory, cast to
   * float32 where read: compute stays fp32), or 'q8' / 'q4', quantized on load block-wise along the
   * reduction axis and multiplied with onnxruntime's quantized kernels; the quantized copy is cached in the HF cache
   * folder, so a second load reads it.
   */
  dtype?: WeightDtype;
  /** Block size (32 or 64), zero points (symmetric false) and MatMulNBits accuracy_level; defaults measured fastest. */
  quantization?: Partial<BlockQuantization>;
}

export async function loadConfig(dir: string): Promise<ModelConfig> {
  const path = join(dir, 'config.json');
  return parseModelConfig(await readJson(path), path);
}

export async function modelFromPretrained(pathOrId: string, opts: PretrainedOptions = {}): Promise<PretrainedModel> {
  const dir = await locateModel(pathOrId, opts, { model: true, tokenizer: false });
  const config = await loadConfig(dir);
  const weights = await loadWeights(dir);
  const engine = opts.engine ?? Engine.create({ threads: opts.threads });
  const model = withDtype(new PretrainedModel(config, weights, engine, dir), opts.dtype ?? 'fp32', opts.quantization, opts);
  opts.progress_callback?.({ status: 'ready', name: pathOrId, model: pathOrId, task: 'text-generation' });
  return model;
}

/** Embedding tables and heads up to this size (fp32) stay fp32 when the rest is quantized (see withDtype). */
const SMALL_TABLE_BYTES = 64 * 2 ** 20;

/**
 * The same model with its frozen weights held as `dtype`: for q8/q4, every weight the architecture reads only through
 * products and row gathers (models/graphs.ts quantizableWeights) is quantized into the on-disk store.
 */
export function withDtype(model: PretrainedModel, dtype: WeightDtype, quantization: Partial<BlockQuantization> = {}, hub: HubOptions = {}): PretrainedModel {
  if (dtype === 'fp32') return model;
  // fp16: weights bound as float16 tensors and cast to float32 where graphs read them (onnxruntime's fp16 CPU MatMul
  // measured 3x slower than fp32's), so fp16 saves memory, not time.
  if (dtype === 'fp16') return new PretrainedModel(model.config, model.weights, model.engine, model.source, 'inputs', null, true);
  const plan = new Map<string, QuantizedPlan>();
  for (const [name, { shape, table }] of quantizableWeights(model.config)) {
    // Embedding tables and the head carry the largest error per weight (a row is read whole into the residual stream,
    // and the head's errors move every logit): small ones stay fp32; large ones are most of the memory, so they are
    // quantized like the rest (8-bit tables at q4 measured 0.41x fp32's peak RSS on bloomz-560m instead of 0.32x).
    if (table && shape[0] * shape[1] * 4 <= SMALL_TABLE_BYTES) continue;
    plan.set(model.resolveWeight(name, shape), { shape, settings: quantizationFor(dtype, shape[1], quantization) });
  }
  const store = QuantizedWeightFiles.open(model.weights, plan, dtype, hub);
  return new PretrainedModel(model.config, model.weights, model.engine, model.source, 'inputs', store);
}

/** The model's generation_config.json (defaults beneath generate's options), or null when it has none. */
export async function readGenerationConfig(dir: string): Promise<Record<string, unknown> | null> {
  const config = await readJson(join(dir, 'generation_config.json')).catch((e: unknown) => {
    if (e instanceof MissingError) return null;
    throw e;
  });
  return config as Record<string, unknown> | null;
}
