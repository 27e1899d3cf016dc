/**
 * A tokenizer from a directory or the hub: tokenizer.json plus the special tokens of tokenizer_config.json /
 * special_tokens_map.json, and its chat template (tokenizer_config.json's, or chat_template.jinja).
 */
import { join } from 'node:path';
import { MissingError } from '../errors.js';
import { exists, MAX_JSON_BYTES, MAX_TOKENIZER_BYTES, readFileCapped, readObject, readOptionalObject } from '../hub/local.js';
import { locateModel } from '../hub/model-files.js';
import type { HubOptions } from '../hub/settings.js';
import { TextTokenizer } from './tokenizer.js';

export async function loadTokenizer(dir: string): Promise<TextTokenizer> {
  const path = join(dir, 'tokenizer.json');
  if (!(await exists(path))) {
    throw new MissingError(
      'tokenizer.json is required (the fast-tokenizer file; vocab.json/merges.txt or *.model alone are not read)',
      path,
    );
  }
  const tokenizerJson = await readObject(path, MAX_TOKENIZER_BYTES);
  // transformers lets tokenizer_config.json win over special_tokens_map.json.
  const specialTokensMap = await readOptionalObject(join(dir, 'special_tokens_map.json'));
  const tokenizerConfig = await readOptionalObject(join(dir, 'tokenizer_config.json'));
  const jinja = join(dir, 'chat_template.jinja');
  const chatTemplate = (await exists(jinja)) ? new TextDecoder().decode(await readFileCapped(jinja, MAX_JSON_BYTES)) : null;
  return TextTokenizer.fromJSON(tokenizerJson, { ...specialTokensMap, ...tokenizerConfig }, dir, chatTemplate);
}


/** AutoTokenizer.from_pretrained: a tokenizer directory, or a hub repo id whose tokenizer files are fetched into the cache. */
export async function tokenizerFromPretrained(pathOrId: string, opts: HubOptions = {}): Promise<TextTokenizer> {
  const tokenizer = await loadTokenizer(await locateModel(pathOrId, opts, { model: false, tokenizer: true }));
  opts.progress_callback?.({ status: 'ready', name: pathOrId, model: pathOrId, task: 'tokenizer' });
  return tokenizer;
}
