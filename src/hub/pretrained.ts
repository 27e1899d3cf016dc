/** `fromPretrained`: a model directory -> a loaded model (weights bound in an engine) and its tokenizer. */
import { PretrainedModel } from '../models/model.js';
import { Engine } from '../runtime/engine.js';
import type { TextTokenizer } from '../tokenizer/tokenizer.js';
import { loadConfig, loadTokenizer, loadWeights } from './local.js';

export interface PretrainedOptions {
  /** Share one engine (worker thread) between models; default: a new one. */
  engine?: Engine;
  threads?: number;
}

export async function modelFromPretrained(dir: string, opts: PretrainedOptions = {}): Promise<PretrainedModel> {
  const config = await loadConfig(dir);
  const weights = await loadWeights(dir);
  return new PretrainedModel(config, weights, opts.engine ?? Engine.create({ threads: opts.threads }), dir);
}

export async function tokenizerFromPretrained(dir: string): Promise<TextTokenizer> {
  return loadTokenizer(dir);
}
