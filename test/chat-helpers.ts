// A chat template for tests (the fixture models have none) and a copy of a fixture model that has one.
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** ChatML, with the BOS token first as Llama-family templates write it. */
export const CHATML =
  "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";

/** A copy of the model directory `source` at `dir`, its tokenizer_config.json given the fields of `extra`. */
export function modelWith(dir: string, source: string, extra: Record<string, unknown>): string {
  cpSync(source, dir, { recursive: true });
  const path = join(dir, 'tokenizer_config.json');
  writeFileSync(path, JSON.stringify({ ...JSON.parse(readFileSync(path, 'utf8')), ...extra }));
  return dir;
}
