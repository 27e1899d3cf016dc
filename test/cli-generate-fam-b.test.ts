// `softprompt generate --adapter` from outside for the Mistral and Gemma fixture models: the greedy ids PEFT generated
// (left-padded batch and single row), from text that tokenizes to the golden input ids.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { join } from 'node:path';
import { loadTokenizer } from '../src/tokenizer/pretrained.js';
import { FIXTURES, fixture } from './fixtures.js';
import { FIXTURE_MODELS_FAM_B } from './fixture-families-fam-b.js';
import { readGolden } from './golden.js';

for (const name of FIXTURE_MODELS_FAM_B) {
  test(`softprompt generate --adapter reproduces PEFT's greedy ids for ${name} (left-padded batch and single row)`, async (t) => {
    const modelDir = fixture(t, 'models', name);
    if (!modelDir) return;
    const golden = readGolden(name);
    const tokenizer = await loadTokenizer(modelDir);
    const settings = (golden.inputs as { generation?: { max_new_tokens: number; repetition_penalty: number } }).generation!;
    for (const caseName of ['left', 'single']) {
      const c = golden.inputs.cases[caseName];
      const rows = c.input_ids.map((row, b) => row.filter((_, i) => c.attention_mask[b][i]));
      const texts = rows.map((ids) => tokenizer.decode(ids, { skip_special_tokens: false }));
      texts.forEach((text, b) => assert.deepEqual(tokenizer.encode(text), rows[b], 'the text tokenizes to the golden ids'));
      const args: string[] = [
        'bin/softprompt.js', 'generate', '--model', modelDir, '--adapter', join(FIXTURES, 'golden', name, 'adapter_text'),
        ...texts.flatMap((text) => ['--prompt', text]),
        '--max_new_tokens', String(settings.max_new_tokens), '--repetition_penalty', String(settings.repetition_penalty), '--json',
      ];
      const r: SpawnSyncReturns<string> = spawnSync(process.execPath, args, { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout).sequences, golden.results[`text.${caseName}.generate_ids`], caseName);
    }
  });
}
