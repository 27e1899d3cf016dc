/**
 * The files of a model repo that softprompt reads, fetched into the cache: config.json (+ generation_config.json),
 * safetensors weights (model.safetensors, or model.safetensors.index.json and the shards it names), tokenizer.json
 * (+ tokenizer_config.json, special_tokens_map.json, chat_template.jinja). The snapshot directory they land in is a
 * model directory the local loaders read like any other.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MissingError } from '../errors.js';
import { readWeightMap } from './local.js';
import { ProgressTracker } from './progress.js';
import { isRepoId, openRevision, type Revision } from './repo.js';
import { hubSettings, type HubOptions } from './settings.js';

export interface ModelParts {
  model: boolean;
  tokenizer: boolean;
}

const SINGLE = 'model.safetensors';
const INDEX = 'model.safetensors.index.json';

/** A local directory as it is (it wins over a hub id of the same name, as in transformers), else a hub repo's snapshot. */
export async function locateModel(pathOrId: string, opts: HubOptions, parts: ModelParts): Promise<string> {
  const local = await stat(pathOrId).catch(() => null);
  if (local?.isDirectory()) return pathOrId;
  if (!isRepoId(pathOrId)) throw new MissingError('no such directory, and not a hub repo id (org/name)', pathOrId);
  return fetchModelFiles(pathOrId, opts, parts);
}

/**
 * A directory holding `files`: `pathOrId` itself when it is a directory, else the cache snapshot of that hub model
 * repo with those files fetched (e.g. a PEFT adapter's two files).
 */
export async function locateFiles(pathOrId: string, files: string[], opts: HubOptions = {}): Promise<string> {
  const local = await stat(pathOrId).catch(() => null);
  if (local?.isDirectory()) return pathOrId;
  if (!isRepoId(pathOrId)) throw new MissingError('no such directory, and not a hub repo id (org/name)', pathOrId);
  const revision = await openRevision(hubSettings(opts), { id: pathOrId, type: 'model', revision: opts.revision ?? 'main' }, new ProgressTracker(pathOrId, opts.progress_callback));
  const absent = files.filter((file) => !revision.files.includes(file));
  if (absent.length > 0) throw revision.missing(absent);
  await revision.fetch(files);
  return revision.dir;
}

async function fetchModelFiles(id: string, opts: HubOptions, parts: ModelParts): Promise<string> {
  const s = hubSettings(opts);
  const progress = new ProgressTracker(id, opts.progress_callback);
  const revision = await openRevision(s, { id, type: 'model', revision: opts.revision ?? 'main' }, progress);
  const has = (file: string): boolean => revision.files.includes(file);
  const required = [...(parts.model ? ['config.json'] : []), ...(parts.tokenizer ? ['tokenizer.json'] : [])];
  const optional = [
    ...(parts.model ? ['generation_config.json'] : []),
    ...(parts.tokenizer ? ['tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja'] : []),
  ].filter(has);
  const weights = !parts.model ? [] : has(SINGLE) ? [SINGLE] : has(INDEX) ? [INDEX] : null;
  const absent = required.filter((file) => !has(file));
  if (weights === null) absent.push(`${SINGLE} or ${INDEX} (only safetensors weights are read)`);
  if (absent.length > 0) throw revision.missing(absent);
  // The index first, so that one fetch covers everything and an offline error can name all that is missing.
  const shards = weights![0] === INDEX ? await shardsOf(revision) : [];
  await revision.fetch([...required, ...optional, ...weights!, ...shards]);
  return revision.dir;
}

async function shardsOf(revision: Revision): Promise<string[]> {
  await revision.fetch([INDEX]);
  return [...new Set((await readWeightMap(join(revision.dir, INDEX))).map(([, file]) => file))];
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
