/** Reads a PEFT adapter directory from disk (the format itself is in peft/adapter.ts). */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MissingError } from '../errors.js';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, parseAdapter, type Adapter } from '../peft/adapter.js';
import { readJson } from './local.js';

export async function loadAdapter(dir: string): Promise<Adapter> {
  const config = await readJson(join(dir, ADAPTER_CONFIG));
  const path = join(dir, ADAPTER_WEIGHTS);
  const bytes = await readFile(path).catch((e: NodeJS.ErrnoException) => {
    throw e.code === 'ENOENT' ? new MissingError('file not found', path) : e;
  });
  return parseAdapter(config, bytes, dir);
}
