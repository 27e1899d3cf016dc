/**
 * `fromPretrained`: a model directory or a hub repo id (`org/name`, downloaded into the cache shared with Python) ->
 * a loaded model (weights bound in an engine) and its tokenizer.
 */
import { PretrainedModel } from '../models/model.js';
import { Engine } from '../runtime/engine.js';
import type { TextTokenizer } from '../tokenizer/tokenizer.js';
import { loadConfig, loadTokenizer, loadWeights } from './local.js';
import { locateModel } from './model-files.js';
import type { HubOptions } from './settings.js';

export type { HubOptions } from './settings.js';
export type { ProgressCallback, ProgressInfo } from './progress.js';

export interface PretrainedOptions extends HubOptions {
  /** Share one engine (worker thread) between models; default: a new one. */
  engine?: Engine;
  threads?: number;
}

export async function modelFromPretrained(pathOrId: string, opts: PretrainedOptions = {}): Promise<PretrainedModel> {
  const dir = await locateModel(pathOrId, opts, { model: true, tokenizer: false });
  const config = await loadConfig(dir);
  const weights = await loadWeights(dir);
  const model = new PretrainedModel(config, weights, opts.engine ?? Engine.create({ threads: opts.threads }), dir);
  opts.progress_callback?.({ status: 'ready', name: pathOrId, model: pathOrId, task: 'text-generation' });
  return model;
}

export async function tokenizerFromPretrained(pathOrId: string, opts: HubOptions = {}): Promise<TextTokenizer> {
  const tokenizer = await loadTokenizer(await locateModel(pathOrId, opts, { model: false, tokenizer: true }));
  opts.progress_callback?.({ status: 'ready', name: pathOrId, model: pathOrId, task: 'tokenizer' });
  return tokenizer;
}

/**
 * The directory holding a model's files and its tokenizer's: `pathOrId` itself when it is a directory, else the
 * cache snapshot of that hub repo, downloaded as needed (for the CLI's `--model`; `offline` is its `--offline`).
 */
export async function resolveModelDir(pathOrId: string, opts: HubOptions = {}): Promise<string> {
  const dir = await locateModel(pathOrId, opts, { model: true, tokenizer: true });
  opts.progress_callback?.({ status: 'ready', name: pathOrId, model: pathOrId, task: 'text-generation' });
  return dir;
}
