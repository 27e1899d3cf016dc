// fp16 and bf16 checkpoints of the GPT-NeoX, OPT, Phi, StableLM and Falcon fixtures load (upcast to float32) and give
// PEFT's prompt-tuned logits and loss to within what the rounded weights allow.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelFromPretrained } from '../src/models/pretrained.js';
import { Engine } from '../src/runtime/engine.js';
import { loadWeights } from '../src/weights/files.js';
import { serializeSafetensors } from '../src/weights/safetensors.js';
import { fixture, MORE_FAMILIES } from './fixtures.js';
import { readGolden, relDiff } from './golden.js';

const engine = Engine.create({ threads: 1 });
const dir = mkdtempSync(join(tmpdir(), 'softprompt-half-'));
after(async () => {
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

for (const name of MORE_FAMILIES) {
  for (const [dtype, tol] of [['F16', 5e-3], ['BF16', 4e-2]] as const) {
    test(`${name} saved as ${dtype}: prompt-tuned logits and loss near PEFT's`, async (t) => {
      const src = fixture(t, 'models', name);
      if (!src) return;
      const out = join(dir, `${name}-${dtype}`);
      cpSync(src, out, { recursive: true });
      const weights = await loadWeights(src);
      const tensors = weights.names().map((n) => ({ name: n, shape: weights.shape(n), data: weights.float32(n), dtype }));
      writeFileSync(join(out, 'model.safetensors'), serializeSafetensors(tensors, { format: 'pt' }));
      const model = await modelFromPretrained(out, { engine });
      const golden = readGolden(name);
      const res = await model.forward(golden.inputs.cases.left, { prompt: golden.tensors.float32('text.prompt_init') });
      const d = relDiff(res.logits!.data as Float32Array, golden.tensors.float32('text.left.peft_logits'));
      assert.ok(d > 0 && d < tol, `logits rel diff ${d}`);
      const want = golden.results['text.left.loss'] as number;
      assert.ok(Math.abs(res.loss! - want) / want < tol, `loss ${res.loss} vs ${want}`);
    });
  }
}
