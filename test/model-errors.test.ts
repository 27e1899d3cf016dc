// Weights that do not fit the config, and batches that do not fit the model, are typed errors naming the culprit.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MissingError, ShapeError } from '../src/errors.js';
import { modelFromPretrained } from '../src/models/pretrained.js';
import { Engine } from '../src/runtime/engine.js';
import { fixture } from './fixtures.js';

const engine = Engine.create({ threads: 1 });
const dir = mkdtempSync(join(tmpdir(), 'softprompt-model-'));
after(async () => {
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

function copyWithConfig(src: string, name: string, edit: (c: Record<string, unknown>) => void): string {
  const dst = join(dir, name);
  cpSync(src, dst, { recursive: true });
  const config = JSON.parse(readFileSync(join(dst, 'config.json'), 'utf8'));
  edit(config);
  writeFileSync(join(dst, 'config.json'), JSON.stringify(config));
  return dst;
}

test('a tensor whose shape does not match config.json names the tensor, its file and both shapes', async (t) => {
  const src = fixture(t, 'models', 'llama-tiny');
  if (!src) return;
  const modelDir = copyWithConfig(src, 'wrong-intermediate', (c) => (c.intermediate_size = 96));
  const model = await modelFromPretrained(modelDir, { engine });
  await assert.rejects(model.forward({ input_ids: [[1, 2, 3]] }), (e: unknown) => {
    assert.ok(e instanceof ShapeError);
    assert.match(e.message, /model\.safetensors: tensor 'model\.layers\.0\.mlp\.gate_proj\.weight' has shape \[128,64\] but config\.json implies \[96,64\]/);
    return true;
  });
});

test('a checkpoint missing a tensor the architecture needs is a MissingError', async (t) => {
  const src = fixture(t, 'models', 'llama-tiny');
  if (!src) return;
  // Untied config on a checkpoint without lm_head: stories260K ties its head.
  const tied = fixture(t, 'models', 'stories260K')!;
  const modelDir = copyWithConfig(tied, 'untied', (c) => (c.tie_word_embeddings = false));
  const model = await modelFromPretrained(modelDir, { engine });
  await assert.rejects(model.forward({ input_ids: [[1, 2, 3]] }), (e: unknown) => e instanceof MissingError && /lm_head\.weight/.test(e.message));
});

test('token ids outside the vocabulary and ragged masks are rejected before running', async (t) => {
  const src = fixture(t, 'models', 'llama-tiny');
  if (!src) return;
  const model = await modelFromPretrained(src, { engine });
  await assert.rejects(model.forward({ input_ids: [[1, 5000]] }), /input_ids: token id 5000 is outside the vocabulary \[0, 1000\)/);
  await assert.rejects(model.forward({ input_ids: [[1, 2]], attention_mask: [[1]] }), /attention_mask: expected shape \[1, 2\]/);
  await assert.rejects(model.forward({ input_ids: [[1, 2]], labels: [[1, 2000]] }), /labels: label 2000 is outside the vocabulary/);
  await assert.rejects(model.forward({ input_ids: [[1, 2]] }, { prompt: new Float32Array(10) }), /prompt: expected prompts of shape \[n, 64\]/);
  await assert.rejects(model.forward({ input_ids: [[1, 2]] }, { logits: false }), /logits: nothing to compute/);
});

test('GPT-2 counts the virtual tokens against n_positions', async (t) => {
  const src = fixture(t, 'models', 'gpt2-tiny');
  if (!src) return;
  const model = await modelFromPretrained(src, { engine });
  const ids = [new Array(254).fill(5)];
  await assert.rejects(model.forward({ input_ids: ids }, { prompt: new Float32Array(4 * 64) }), /258 positions .* exceeds n_positions 256/);
});
