/** tokenizer/pretrained.ts for browsers (package.json "browser" swaps it in): a tokenizer from web/files.ts. */
import { MissingError } from '../errors.js';
import type { HubOptions } from '../hub/settings.js';
import { TextTokenizer } from '../tokenizer/tokenizer.js';
import { joinPath, locate, readOptionalBytes, readOptionalObject } from './files.js';

export async function loadTokenizer(dir: string): Promise<TextTokenizer> {
  const path = joinPath(dir, 'tokenizer.json');
  const bytes = await readOptionalBytes(path);
  if (bytes === null) {
    throw new MissingError('tokenizer.json is required (the fast-tokenizer file; vocab.json/merges.txt or *.model alone are not read)', path);
  }
  const tokenizerJson = JSON.parse(new TextDecoder().decode(bytes)) as object;
  // transformers lets tokenizer_config.json win over special_tokens_map.json.
  const specialTokensMap = await readOptionalObject(joinPath(dir, 'special_tokens_map.json'));
  const tokenizerConfig = await readOptionalObject(joinPath(dir, 'tokenizer_config.json'));
  const chatTemplate = await readOptionalBytes(joinPath(dir, 'chat_template.jinja'));
  return TextTokenizer.fromJSON(tokenizerJson, { ...specialTokensMap, ...tokenizerConfig }, dir, chatTemplate && new TextDecoder().decode(chatTemplate));
}

/** AutoTokenizer.from_pretrained: a URL prefix, a hub id or picked files. */
export async function tokenizerFromPretrained(pathOrId: string, opts: HubOptions = {}): Promise<TextTokenizer> {
  const tokenizer = await loadTokenizer(locate(pathOrId, opts.revision));
  opts.progress_callback?.({ status: 'ready', name: pathOrId, model: pathOrId, task: 'tokenizer' });
  return tokenizer;
}
