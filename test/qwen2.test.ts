// Qwen2 is Llama plus q/k/v biases: a Qwen2 checkpoint made from llama-tiny with zero biases must give llama-tiny's
// logits exactly, and non-zero biases must change them (so they are read and applied).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadWeights } from '../src/weights/files.js';
import { modelFromPretrained } from '../src/models/pretrained.js';
import { Engine } from '../src/runtime/engine.js';
import { serializeSafetensors } from '../src/weights/safetensors.js';
import { fixture } from './fixtures.js';
import { readGolden, relDiff } from './golden.js';

const engine = Engine.create({ threads: 1 });
const dir = mkdtempSync(join(tmpdir(), 'softprompt-qwen2-'));
after(async () => {
  await engine.close();
  rmSync(dir, { recursive: true, force: true });
});

async function qwen2From(llamaDir: string, name: string, bias: number): Promise<string> {
  const out = join(dir, name);
  cpSync(llamaDir, out, { recursive: true });
  const config = JSON.parse(readFileSync(join(llamaDir, 'config.json'), 'utf8'));
  writeFileSync(join(out, 'config.json'), JSON.stringify({ ...config, architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2' }));
  const weights = await loadWeights(llamaDir);
  const tensors = weights.names().map((n) => ({ name: n, shape: weights.shape(n), data: Float32Array.from(weights.float32(n)) }));
  for (let i = 0; i < config.num_hidden_layers; i++) {
    for (const [proj, size] of [['q_proj', 64], ['k_proj', 32], ['v_proj', 32]] as const) {
      tensors.push({ name: `model.layers.${i}.self_attn.${proj}.bias`, shape: [size], data: new Float32Array(size).fill(bias) });
    }
  }
  writeFileSync(join(out, 'model.safetensors'), serializeSafetensors(tensors, { format: 'pt' }));
  return out;
}

test('a Qwen2 checkpoint with zero q/k/v biases reproduces the Llama logits; non-zero biases change them', async (t) => {
  const llama = fixture(t, 'models', 'llama-tiny');
  if (!llama) return;
  const golden = readGolden('llama-tiny');
  const batch = golden.inputs.cases.left;
  const want = golden.tensors.float32('base.left.logits');
  const zero = await modelFromPretrained(await qwen2From(llama, 'zero', 0), { engine });
  assert.equal(zero.config.arch, 'qwen2');
  assert.ok(relDiff((await zero.forward(batch)).logits!.data as Float32Array, want) < 1e-4);
  const biased = await modelFromPretrained(await qwen2From(llama, 'biased', 0.5), { engine });
  assert.ok(relDiff((await biased.forward(batch)).logits!.data as Float32Array, want) > 1e-3);
});
