// What the serve tests share: a server on an ephemeral 127.0.0.1 port with the official client pointed at it, and
// the completion text the server sends for given ids.
import OpenAI from 'openai';
import { SoftpromptServer, type ServeOptions } from '../src/serve/server.js';
import type { TextTokenizer } from '../src/tokenizer/tokenizer.js';

export interface Running {
  server: SoftpromptServer;
  url: string;
  client: OpenAI;
}

export async function startServer(opts: ServeOptions, apiKey = 'unused'): Promise<Running> {
  const server = await SoftpromptServer.create({ threads: 1, ...opts });
  const url = await server.listen('127.0.0.1', 0);
  return { server, url, client: new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0, timeout: 60_000 }) };
}

/** The completion text the server sends for `output` after `prompt`, as its Sequence decodes it. */
export function completionText(tokenizer: TextTokenizer, prompt: number[], output: number[]): string {
  const all = tokenizer.decode([...prompt, ...output], { skip_special_tokens: true });
  const before = tokenizer.decode(prompt, { skip_special_tokens: true });
  return all.startsWith(before) ? all.slice(before.length) : tokenizer.decode(output, { skip_special_tokens: true });
}
