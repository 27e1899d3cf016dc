// from_pretrained(dir, { dtype: 'fp16' }): matrices bound as float16 and cast to float32 where read. Logits within 1e-2
// relative of fp32's, greedy continuations identical, perplexity within 1%, the chunked loss head over fp16 row views,
// prompt tuning through fp16 weights, every family's forward and decoding, the CLI, and what stays refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { modelFromPretrained } from '../src/models/pretrained.js';
import { tokenizerFromPretrained } from '../src/tokenizer/pretrained.js';
import { generate } from '../src/generate/generate.js';
import { fixture, FIXTURE_MODELS, MORE_FAMILIES } from './fixtures.js';
import { cosine, greedy, perplexity, SEED_PROMPT, shortPromptTuning, storiesTexts } from './quantized-helpers.js';

/** ||a - b|| / ||b|| */
function relative(a: Float32Array, b: Float32Array): number {
  let [d, n] = [0, 0];
  for (let i = 0; i < a.length; i++) [d, n] = [d + (a[i] - b[i]) ** 2, n + b[i] ** 2];
  return Math.sqrt(d / n);
}

test('stories260K at fp16: logits within 1e-2 relative of fp32, greedy continuation identical for 20 tokens, perplexity within 1%', async (t) => {
  const dir = fixture(t, 'models', 'stories260K');
  const texts = fixture(t, 'golden', 'stories260K', 'train_texts.json');
  if (!dir || !texts) return;
  const tokenizer = await tokenizerFromPretrained(dir);
  const ids = [tokenizer.encode(SEED_PROMPT)];
  const runs: Record<string, { logits: Float32Array; continuation: number[]; ppl: number }> = {};
  for (const dtype of ['fp32', 'fp16'] as const) {
    const model = await modelFromPretrained(dir, { dtype });
    assert.equal(model.dtype, dtype);
    runs[dtype] = {
      logits: (await model.forward({ input_ids: ids })).logits!.data as Float32Array,
      continuation: await greedy(model, tokenizer, SEED_PROMPT, 24),
      ppl: await perplexity(model, tokenizer, storiesTexts(texts)),
    };
    await model.engine.close();
  }
  const rel = relative(runs.fp16.logits, runs.fp32.logits);
  console.log(`stories260K: logits relative difference ${rel.toExponential(2)}; perplexity fp32 ${runs.fp32.ppl.toFixed(4)}, fp16 ${runs.fp16.ppl.toFixed(4)}`);
  assert.ok(rel <= 1e-2, `relative difference ${rel}`);
  assert.notDeepEqual(runs.fp16.logits, runs.fp32.logits, 'the weights were rounded to fp16');
  assert.deepEqual(runs.fp16.continuation.slice(0, 20), runs.fp32.continuation.slice(0, 20));
  assert.ok(Math.abs(runs.fp16.ppl / runs.fp32.ppl - 1) <= 0.01, `perplexity fp16 ${runs.fp16.ppl} vs fp32 ${runs.fp32.ppl}`);
});

test('the chunked loss head reads fp16 row views: loss and prompt gradient as unchunked', async (t) => {
  const dir = fixture(t, 'models', 'stories260K');
  if (!dir) return;
  const model = await modelFromPretrained(dir, { dtype: 'fp16' });
  const H = model.config.hiddenSize;
  const prompt = Float32Array.from({ length: 3 * H }, (_, i) => Math.sin(i) * 0.1);
  const batch = { input_ids: [[5, 9, 40, 7, 22, 3]], labels: [[5, 9, 40, 7, 22, 3]] };
  const whole = await model.forward(batch, { prompt, grad: true, logits: false });
  model.vocabChunk = 100; // 512 words: 6 views
  const chunked = await model.forward(batch, { prompt, grad: true, logits: false });
  assert.ok(Math.abs(chunked.loss! - whole.loss!) < 1e-5, `${chunked.loss} vs ${whole.loss}`);
  assert.ok(relative(chunked.grad as Float32Array, whole.grad as Float32Array) < 1e-4);
  await model.engine.close();
});

test('prompt tuning through fp16 weights: the gradient matches fp32\'s and a short run ends within 1% of its loss', async (t) => {
  const dir = fixture(t, 'models', 'stories260K');
  const textsPath = fixture(t, 'golden', 'stories260K', 'train_texts.json');
  if (!dir || !textsPath) return;
  const tokenizer = await tokenizerFromPretrained(dir);
  const texts = storiesTexts(textsPath, 16);
  const runs: Record<string, Awaited<ReturnType<typeof shortPromptTuning>>> = {};
  for (const dtype of ['fp32', 'fp16'] as const) {
    const model = await modelFromPretrained(dir, { dtype });
    runs[dtype] = await shortPromptTuning(model, tokenizer, texts, { virtual: 8, steps: 20, lr: 0.05 });
    await model.engine.close();
  }
  const [fp32, fp16] = [runs.fp32.losses.at(-1)!, runs.fp16.losses.at(-1)!];
  const c = cosine(runs.fp16.firstGrad, runs.fp32.firstGrad);
  console.log(`stories260K, 20 steps: final loss fp32 ${fp32.toFixed(4)}, fp16 ${fp16.toFixed(4)}; first gradient's cosine ${c.toFixed(6)}`);
  assert.ok(runs.fp32.losses[0] - fp32 > 0.2, 'the run learns');
  assert.ok(c > 0.999, `gradient cosine ${c}`);
  assert.ok(Math.abs(fp16 / fp32 - 1) <= 0.01, `final loss fp16 ${fp16} vs fp32 ${fp32}`);
});

test('every family runs its forward and KV-cache decoding through fp16 weights, close to fp32', async (t) => {
  for (const name of [...FIXTURE_MODELS, ...MORE_FAMILIES]) {
    const dir = fixture(t, 'models', name);
    if (!dir) continue;
    const base = await modelFromPretrained(dir);
    const V = base.config.vocabSize;
    const ids = [Array.from({ length: 9 }, (_, i) => (i * 37 + 3) % V)];
    const want = (await base.forward({ input_ids: ids })).logits!.data as Float32Array;
    const wantIds = (await generate(base, null, { input_ids: ids, max_new_tokens: 4, eos_token_id: null })).sequences[0];
    await base.engine.close();
    const model = await modelFromPretrained(dir, { dtype: 'fp16' });
    const got = (await model.forward({ input_ids: ids })).logits!.data as Float32Array;
    const rel = relative(got, want);
    assert.ok(rel < 1e-2, `${name}: logits' relative difference from fp32 ${rel}`);
    const out = await generate(model, null, { input_ids: ids, max_new_tokens: 4, eos_token_id: null });
    assert.equal(out.sequences[0].length, wantIds.length, `${name} decoding`);
    await model.engine.close();
  }
});

test('full fine-tuning refuses fp16 weights, which are frozen', async (t) => {
  const dir = fixture(t, 'models', 'stories260K');
  if (!dir) return;
  const model = await modelFromPretrained(dir, { dtype: 'fp16' });
  await assert.rejects(model.forward({ input_ids: [[1, 2, 3]], labels: [[1, 2, 3]] }, { weightGrads: true }), /frozen/);
  await assert.rejects(model.rebindWeights(), /frozen/);
  await model.engine.close();
});

test('softprompt generate --dtype fp16 runs and continues as fp32 does', (t) => {
  const dir = fixture(t, 'models', 'stories260K');
  if (!dir) return;
  const run = (dtype: string) => spawnSync(process.execPath, ['bin/softprompt.js', 'generate', '--model', dir, '--prompt', SEED_PROMPT,
    '--max_new_tokens', '12', '--dtype', dtype, '--json'], { encoding: 'utf8' });
  const [fp32, fp16] = [run('fp32'), run('fp16')];
  assert.equal(fp16.status, 0, fp16.stderr);
  assert.equal(fp32.status, 0, fp32.stderr);
  assert.deepEqual(JSON.parse(fp16.stdout), JSON.parse(fp32.stdout));
});
