// `softprompt inspect` and inspect_prompt: a prompt initialised from known token embeddings (TEXT init) finds those
// tokens first, has not drifted, and the CLI prints JSON and draws an SVG heatmap.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AutoModelForCausalLM, AutoTokenizer, get_peft_model, inspect_prompt, PromptTuningConfig } from '../src/index.js';
import { fixture, FIXTURES } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'softprompt-inspect-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a TEXT-initialised prompt has its init tokens as nearest by cosine, at distance 0 and no drift', async () => {
  const model = await AutoModelForCausalLM.from_pretrained('models/default');
  const tokenizer = await AutoTokenizer.from_pretrained('models/default');
  try {
    const text = 'The whale swam under the sea';
    const peft = await get_peft_model(model, new PromptTuningConfig({
      task_type: 'CAUSAL_LM', num_virtual_tokens: 6, prompt_tuning_init: 'TEXT', prompt_tuning_init_text: text, tokenizer_name_or_path: 'models/default',
    }));
    const report = inspect_prompt(peft, tokenizer, { top_k: 3 });
    const ids = tokenizer.encode(text);
    assert.equal(report.tokens.length, 6);
    report.tokens.forEach((t, i) => {
      assert.equal(t.by_cosine[0].id, ids[i % ids.length], `v${i}`);
      assert.ok(Math.abs(t.by_cosine[0].score - 1) < 1e-5);
      assert.ok(t.nearest_distance < 1e-3);
      assert.equal(t.drift!.init_id, ids[i % ids.length]);
      assert.ok(t.drift!.distance < 1e-6);
      assert.ok(t.norm_percentile >= 0 && t.norm_percentile <= 100);
    });
    assert.match(report.note, /Prompt Waywardness/);
    await peft.save_pretrained(join(dir, 'adapter'));
  } finally {
    await model.dispose();
  }
  const r = spawnSync(process.execPath, ['bin/softprompt.js', 'inspect', join(dir, 'adapter'), '--model', 'models/default', '--json', '--svg', join(dir, 'h.svg'), '--top_k', '2'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.tokens[0].by_cosine.length, 2);
  assert.match(readFileSync(join(dir, 'h.svg'), 'utf8'), /^<svg/);
});

test("inspect reads P-tuning's saved prompt and refuses prefix and multitask adapters by their method", (t) => {
  const golden = fixture(t, 'golden-methods', 'llama-tiny');
  if (!golden) return;
  const run = (method: string) => spawnSync(process.execPath, ['bin/softprompt.js', 'inspect', join(golden, method, 'adapter'), '--model', join(FIXTURES, 'models', 'llama-tiny'), '--json'], { encoding: 'utf8' });
  const ok = run('ptuning_mlp');
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).num_virtual_tokens, 4);
  for (const method of ['prefix_noproj', 'multitask']) {
    const r = run(method);
    assert.equal(r.status, 2, method);
    assert.match(r.stderr, method === 'multitask' ? /MULTITASK_PROMPT_TUNING/ : /PREFIX_TUNING/);
  }
});
