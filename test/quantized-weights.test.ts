// from_pretrained(dir, { dtype: 'q8' | 'q4' }): quality against fp32 on held-out text (perplexity within 1% at q8 and
// 5% at q4 on the default model and stories260K), greedy continuations identical at q8, every family's forward and
// decoding through quantized kernels, the cached copy reused on a second load, and what stays refused.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { modelFromPretrained } from '../src/models/pretrained.js';
import { tokenizerFromPretrained } from '../src/tokenizer/pretrained.js';
import { generate } from '../src/generate/generate.js';
import { QuantizedWeightFiles } from '../src/weights/quantized-files.js';
import { DEFAULT_MODEL } from '../src/hub/default-model.js';
import { fixture, FIXTURE_MODELS, MORE_FAMILIES } from './fixtures.js';
import { tempDir } from './cli-helpers.js';
import { defaultModelTexts, greedy, perplexity, SEED_PROMPT, shortPromptTuning, storiesTexts } from './quantized-helpers.js';
import { cosine as gradCosine } from './quantized-helpers.js';

const cache_dir = tempDir('softprompt-quant-cache-');
after(() => rmSync(cache_dir, { recursive: true, force: true }));

async function perplexities(dir: string, texts: string[]): Promise<Record<string, number>> {
  const tokenizer = await tokenizerFromPretrained(dir);
  const out: Record<string, number> = {};
  for (const dtype of ['fp32', 'q8', 'q4'] as const) {
    const model = await modelFromPretrained(dir, { dtype, cache_dir });
    out[dtype] = await perplexity(model, tokenizer, texts);
    await model.engine.close();
  }
  return out;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let [ab, aa, bb] = [0, 0, 0];
  for (let i = 0; i < a.length; i++) [ab, aa, bb] = [ab + a[i] * b[i], aa + a[i] * a[i], bb + b[i] * b[i]];
  return ab / Math.sqrt(aa * bb);
}

function assertClose(p: Record<string, number>, label: string): void {
  console.log(`${label}: perplexity fp32 ${p.fp32.toFixed(3)}, q8 ${p.q8.toFixed(3)}, q4 ${p.q4.toFixed(3)}`);
  assert.ok(Math.abs(p.q8 / p.fp32 - 1) <= 0.01, `${label} q8 perplexity ${p.q8} vs fp32 ${p.fp32}`);
  assert.ok(Math.abs(p.q4 / p.fp32 - 1) <= 0.05, `${label} q4 perplexity ${p.q4} vs fp32 ${p.fp32}`);
}

test('the default model: held-out perplexity within 1% of fp32 at q8 and 5% at q4', async () => {
  assertClose(await perplexities(DEFAULT_MODEL, defaultModelTexts()), 'models/default on reserved Moby Dick passages');
});

test('stories260K: held-out perplexity within 1% at q8 and 5% at q4; greedy continuation of the seed prompt identical at q8', async (t) => {
  const dir = fixture(t, 'models', 'stories260K');
  const texts = fixture(t, 'golden', 'stories260K', 'train_texts.json');
  if (!dir || !texts) return;
  assertClose(await perplexities(dir, storiesTexts(texts)), 'stories260K on the fixture texts');
  const tokenizer = await tokenizerFromPretrained(dir);
  const continuations: number[][] = [];
  for (const dtype of ['fp32', 'q8'] as const) {
    const model = await modelFromPretrained(dir, { dtype, cache_dir });
    continuations.push(await greedy(model, tokenizer, SEED_PROMPT, 24));
    await model.engine.close();
  }
  assert.deepEqual(continuations[1].slice(0, 20), continuations[0].slice(0, 20));
});

test('every family runs its forward and KV-cache decoding through quantized weights, close to fp32', async (t) => {
  for (const name of [...FIXTURE_MODELS, ...MORE_FAMILIES]) {
    const dir = fixture(t, 'models', name);
    if (!dir) continue;
    const base = await modelFromPretrained(dir);
    const V = base.config.vocabSize;
    const ids = [Array.from({ length: 9 }, (_, i) => (i * 37 + 3) % V)];
    const want = (await base.forward({ input_ids: ids })).logits!.data as Float32Array;
    await base.engine.close();
    for (const dtype of ['q8', 'q4'] as const) {
      const model = await modelFromPretrained(dir, { dtype, cache_dir });
      assert.ok(model.quantized, `${name}: nothing quantized`);
      const got = (await model.forward({ input_ids: ids })).logits!.data as Float32Array;
      // Random tiny weights: 4 bits move their logits a lot; the check is that the kernels compute the right thing.
      const c = cosine(got, want);
      assert.ok(c > (dtype === 'q8' ? 0.999 : 0.9), `${name} ${dtype}: logits' cosine with fp32's ${c}`);
      const out = await generate(model, null, { input_ids: ids, max_new_tokens: 4, eos_token_id: null });
      assert.equal(out.sequences[0].length, 13, `${name} ${dtype} decoding`);
      await model.engine.close();
    }
  }
});

test('the quantized copy is cached in the HF cache folder and read on the second load', async (t) => {
  const dir = fixture(t, 'models', 'stories260K');
  if (!dir) return;
  const own = tempDir('softprompt-quant-cache-');
  try {
    const first = await modelFromPretrained(dir, { dtype: 'q4', cache_dir: own });
    const store = first.quantized as QuantizedWeightFiles;
    assert.equal(store.cached('rows'), false);
    const a = (await first.forward({ input_ids: [[1, 2, 3]] })).logits!.data as Float32Array;
    await first.engine.close();
    assert.ok(store.dir.startsWith(join(own, 'softprompt-quantized')), store.dir);
    assert.deepEqual(readdirSync(store.dir).sort(), ['rows.bin', 'rows.json'], 'no temporary or graph file left');
    const second = await modelFromPretrained(dir, { dtype: 'q4', cache_dir: own });
    assert.equal((second.quantized as QuantizedWeightFiles).dir, store.dir);
    assert.equal((second.quantized as QuantizedWeightFiles).cached('rows'), true);
    const b = (await second.forward({ input_ids: [[1, 2, 3]] })).logits!.data as Float32Array;
    assert.deepEqual(b, a);
    await second.engine.close();
    // Other settings are another copy.
    const q8 = await modelFromPretrained(dir, { dtype: 'q8', cache_dir: own });
    assert.notEqual((q8.quantized as QuantizedWeightFiles).dir, store.dir);
    await q8.engine.close();
    // A damaged index is ignored and rewritten.
    rmSync(join(store.dir, 'rows.bin'));
    const third = await modelFromPretrained(dir, { dtype: 'q4', cache_dir: own });
    assert.deepEqual((await third.forward({ input_ids: [[1, 2, 3]] })).logits!.data, a);
    assert.ok(existsSync(join(store.dir, 'rows.bin')));
    await third.engine.close();
  } finally {
    rmSync(own, { recursive: true, force: true });
  }
});

test('full fine-tuning refuses quantized weights, which are frozen', async (t) => {
  const dir = fixture(t, 'models', 'stories260K');
  if (!dir) return;
  const model = await modelFromPretrained(dir, { dtype: 'q8', cache_dir });
  await assert.rejects(model.forward({ input_ids: [[1, 2, 3]], labels: [[1, 2, 3]] }, { weightGrads: true }), /frozen/);
  await model.engine.close();
});

test('prompt tuning through q8 weights: the gradient points where fp32\'s does and a short run ends within 2% of its loss', async (t) => {
  const dir = fixture(t, 'models', 'stories260K');
  const textsPath = fixture(t, 'golden', 'stories260K', 'train_texts.json');
  if (!dir || !textsPath) return;
  const tokenizer = await tokenizerFromPretrained(dir);
  const texts = storiesTexts(textsPath, 16);
  const runs: Record<string, Awaited<ReturnType<typeof shortPromptTuning>>> = {};
  for (const dtype of ['fp32', 'q8'] as const) {
    const model = await modelFromPretrained(dir, { dtype, cache_dir });
    runs[dtype] = await shortPromptTuning(model, tokenizer, texts, { virtual: 8, steps: 40, lr: 0.05 });
    await model.engine.close();
  }
  const [fp32, q8] = [runs.fp32.losses.at(-1)!, runs.q8.losses.at(-1)!];
  const c = gradCosine(runs.q8.firstGrad, runs.fp32.firstGrad);
  console.log(`stories260K, 40 steps: final loss fp32 ${fp32.toFixed(4)}, q8 ${q8.toFixed(4)}; first gradient's cosine ${c.toFixed(5)}`);
  assert.ok(runs.fp32.losses[0] - fp32 > 0.5, 'the run learns');
  assert.ok(c > 0.99, `gradient cosine ${c}`);
  assert.ok(Math.abs(q8 / fp32 - 1) <= 0.02, `final loss q8 ${q8} vs fp32 ${fp32}`);
});
