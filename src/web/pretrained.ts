/**
 * models/pretrained.ts for browsers (package.json "browser" swaps it in): a model from a URL prefix, a hub id or
 * picked files (web/files.ts) -> a loaded model, its weights bound in a Web Worker engine.
 */
import { FormatError, MissingError, UnsupportedError } from '../errors.js';
import type { HubOptions } from '../hub/settings.js';
import { parseModelConfig, type ModelConfig } from '../models/config.js';
import { PretrainedModel } from '../models/model.js';
import type { InferenceEngine } from '../runtime/engine-api.js';
import type { WeightSource } from '../weights/files.js';
import type { WeightDtype } from '../weights/quantize.js';
import { Safetensors } from '../weights/safetensors.js';
import { weightSource } from '../weights/source.js';
import { Engine, type Device } from './engine.js';
import { joinPath, locate, readBytes, readJson, readOptionalBytes } from './files.js';

export interface PretrainedOptions extends HubOptions {
  /** Share one engine (Web Worker) between models; default: a new one. */
  engine?: InferenceEngine;
  threads?: number;
  /** 'webgpu' when the browser has a GPU adapter, else 'wasm' (default 'auto'). */
  device?: Device;
  /** Only 'fp32' in browsers: the quantized copy lives in a file that onnxruntime-node maps (models/pretrained.ts). */
  dtype?: WeightDtype;
}

export async function loadConfig(dir: string): Promise<ModelConfig> {
  const path = joinPath(dir, 'config.json');
  return parseModelConfig(await readJson(path), path);
}

export async function modelFromPretrained(pathOrId: string, opts: PretrainedOptions = {}): Promise<PretrainedModel> {
  const dir = locate(pathOrId, opts.revision);
  const config = await loadConfig(dir);
  const weights = await loadWeights(dir);
  const engine = opts.engine ?? Engine.create({ threads: opts.threads, device: opts.device });
  const model = withDtype(new PretrainedModel(config, weights, engine, pathOrId), opts.dtype ?? 'fp32');
  opts.progress_callback?.({ status: 'ready', name: pathOrId, model: pathOrId, task: 'text-generation' });
  return model;
}

/** Browsers hold weights as fp32: quantized weights are read by onnxruntime-node from a mapped file (Node only). */
export function withDtype(model: PretrainedModel, dtype: WeightDtype): PretrainedModel {
  if (dtype !== 'fp32') throw new UnsupportedError(`dtype ${dtype} runs in Node only; in a browser use fp32`, 'dtype');
  return model;
}

/** The model's generation_config.json (defaults beneath generate's options), or null when it has none. */
export async function readGenerationConfig(pathOrId: string): Promise<Record<string, unknown> | null> {
  const path = joinPath(locate(pathOrId), 'generation_config.json');
  const bytes = await readOptionalBytes(path);
  return bytes === null ? null : (JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>);
}

/** model.safetensors, or the shards a model.safetensors.index.json names, held in memory. */
async function loadWeights(dir: string): Promise<WeightSource> {
  const single = await readOptionalBytes(joinPath(dir, 'model.safetensors'));
  const byName = new Map<string, Safetensors>();
  if (single !== null) {
    const file = Safetensors.parse(single, joinPath(dir, 'model.safetensors'));
    for (const name of file.names()) byName.set(name, file);
  } else {
    const indexPath = joinPath(dir, 'model.safetensors.index.json');
    if ((await readOptionalBytes(indexPath)) === null) {
      throw new MissingError('no model.safetensors or model.safetensors.index.json (only safetensors weights are supported)', dir);
    }
    const map = ((await readJson(indexPath)) as { weight_map?: Record<string, string> }).weight_map;
    if (typeof map !== 'object' || map === null) throw new FormatError('expected a "weight_map" object', indexPath);
    const shards = new Map<string, Safetensors>();
    for (const file of new Set(Object.values(map))) {
      if (typeof file !== 'string' || file.includes('/')) throw new FormatError(`weight_map names ${JSON.stringify(file)}; expected a file name`, indexPath);
      shards.set(file, Safetensors.parse(await readBytes(joinPath(dir, file)), joinPath(dir, file)));
    }
    for (const [name, file] of Object.entries(map)) byName.set(name, shards.get(file)!);
  }
  return weightSource(byName, dir);
}
