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
import { parseModelConfig, type ModelConfig } from './config.js';
import { PretrainedModel } from './model.js';

export interface PretrainedOptions extends HubOptions {
  /** Share one engine (worker thread) between models; default: a new one. */
  engine?: InferenceEngine;
  threads?: number;
}

export async function loadConfig(dir: string): Promise<ModelConfig> {
  const path = join(dir, 'config.json');
  return parseModelConfig(await readJson(path), path);
}

export async function modelFromPretrained(pathOrId: string, opts: PretrainedOptions = {}): Promise<PretrainedModel> {
  const dir = await locateModel(pathOrId, opts, { model: true, tokenizer: false });
  const config = await loadConfig(dir);
  const weights = await loadWeights(dir);
  const model = new PretrainedModel(config, weights, opts.engine ?? Engine.create({ threads: opts.threads }), dir);
  opts.progress_callback?.({ status: 'ready', name: pathOrId, model: pathOrId, task: 'text-generation' });
  return model;
}

/** The model's generation_config.json (defaults beneath generate's options), or null when it has none. */
export async function readGenerationConfig(dir: string): Promise<Record<string, unknown> | null> {
  const config = await readJson(join(dir, 'generation_config.json')).catch((e: unknown) => {
    if (e instanceof MissingError) return null;
    throw e;
  });
  return config as Record<string, unknown> | null;
}
