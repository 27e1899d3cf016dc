// `softprompt eval`: lm-eval's scoring rules (the pair encoding and target delimiter, few-shot contexts, acc and
// acc_norm, macro-F1, stderr) and log-likelihoods that are exactly `softprompt forward`'s, on models/default.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePair, loglikelihoods, rowStats } from '../src/eval/loglikelihood.js';
import { classificationMetrics, macroF1, meanStderr } from '../src/eval/metrics.js';
import { fewshotContexts, TASK_DEFAULTS, taskDocs, type TaskConfig } from '../src/eval/task.js';
import { prefixWidth } from '../src/models/prefix.js';
import { modelFromPretrained } from '../src/models/pretrained.js';
import type { PretrainedModel } from '../src/models/model.js';
import { tokenizerFromPretrained } from '../src/tokenizer/pretrained.js';
import { assertSvg, svgTexts } from './svg.js';
import type { TextTokenizer } from '../src/tokenizer/tokenizer.js';
import { Safetensors } from '../src/weights/safetensors.js';
import { Generator } from '../src/random.js';
import { fixture, FIXTURES } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'softprompt-eval-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const config: TaskConfig = { ...TASK_DEFAULTS, task: 't', template: 'Q: {q}\nA:', choices: ['yes', 'no'], label_column: 'a', output_type: 'multiple_choice' };
const rows = [{ q: 'one', a: 'yes' }, { q: 'two', a: 'no' }, { q: 'three', a: '0' }, { q: 'four', a: 1 }];

describe('tasks', () => {
  test('docs take their text from the template and their gold from a choice or an index', () => {
    const docs = taskDocs(rows, config, 'x');
    assert.deepEqual(docs.map((d) => [d.text, d.gold, d.target]), [['Q: one\nA:', 0, 'yes'], ['Q: two\nA:', 1, 'no'], ['Q: three\nA:', 0, 'yes'], ['Q: four\nA:', 1, 'no']]);
    assert.throws(() => taskDocs([{ q: 'x', a: 'maybe' }], config, 'x'), /neither one of the choices/);
  });

  test('a k-shot context is k labelled examples (text + target_delimiter + target) joined by the fewshot delimiter, never the doc itself', () => {
    const docs = taskDocs(rows, config, 'x');
    const contexts = fewshotContexts(docs, docs, true, { ...config, num_fewshot: 2 });
    contexts.forEach((context, d) => {
      const parts = context.split('\n\n');
      assert.equal(parts.length, 3);
      assert.equal(parts[2], docs[d].text);
      for (const shot of parts.slice(0, 2)) {
        const source = docs.find((s) => shot === `${s.text} ${s.target}`);
        assert.ok(source && source.index !== d, shot);
      }
    });
    assert.deepEqual(fewshotContexts(docs, docs, true, { ...config, num_fewshot: 2 }), contexts, 'seeded: the same contexts again');
    assert.throws(() => fewshotContexts(docs, docs, true, { ...config, num_fewshot: 4 }), /needs 4 examples/);
  });
});

describe('metrics', () => {
  test('acc takes the highest log-likelihood, acc_norm divides it by the choice length first', () => {
    const m = classificationMetrics([{ gold: 1, choices: ['a', 'bbbb'], loglikelihoods: [-2, -4] }, { gold: 0, choices: ['a', 'bbbb'], loglikelihoods: [-1, -8] }]);
    assert.equal(m.acc, 0.5); // picks 'a' both times
    assert.equal(m.acc_norm, 1); // -2/1 < -4/4, then -1/1 > -8/4
    assert.deepEqual(m.confusion, [[1, 0], [1, 0]]);
    assert.equal(m.acc_stderr, meanStderr([0, 1]));
    assert.equal(meanStderr([0, 1]), Math.sqrt(0.5 / 2));
  });

  test('macro-F1 averages the per-class F1 (sklearn average="macro")', () => {
    // class 0: tp 2, fp 1, fn 0 -> p 2/3, r 1, f1 0.8; class 1: tp 1, fp 0, fn 1 -> p 1, r 0.5, f1 2/3
    assert.ok(Math.abs(macroF1([0, 0, 1, 1], [0, 0, 0, 1], 2) - (0.8 + 2 / 3) / 2) < 1e-12);
  });
});

describe('log-likelihoods on models/default', () => {
  let model: PretrainedModel;
  let tokenizer: TextTokenizer;
  before(async () => {
    model = await modelFromPretrained('models/default');
    tokenizer = await tokenizerFromPretrained('models/default');
  });
  after(() => model.engine.close());

  test('the pair encoding moves trailing spaces into the continuation and splits the whole encoding after the context', () => {
    const pair = encodePair(tokenizer, 'The sea is ', 'calm');
    assert.deepEqual(pair.context, tokenizer.encode('The sea is'));
    assert.deepEqual([...pair.context, ...pair.continuation], tokenizer.encode('The sea is calm'));
  });

  test('each choice scores the sum of log_softmax(forward logits) over target_delimiter + choice, with and without a prompt', async () => {
    const H = model.config.hiddenSize;
    const rnd = Generator.seeded(3);
    const prompt = Float32Array.from({ length: 4 * H }, () => (rnd.uniform() - 0.5) * 0.1);
    const variants = [{ name: 'base', prompt: null }, { name: 'p', prompt }];
    const requests = [0, 1].flatMap((variant) => [
      { context: 'Q: Is the whale white?\nA:', continuation: ' yes', variant },
      { context: 'Q: Is the whale white?\nA:', continuation: ' not at all', variant },
      { context: 'Call me', continuation: ' Ishmael', variant },
    ]);
    const got = await loglikelihoods(model, tokenizer, requests, variants);
    for (const [i, r] of requests.entries()) {
      const pair = encodePair(tokenizer, r.context, r.continuation);
      const input = [...pair.context, ...pair.continuation].slice(0, -1);
      const p = variants[r.variant].prompt;
      const out = await model.forward({ input_ids: [input] }, p ? { prompt: p } : {});
      const n = p ? 4 : 0;
      const V = model.config.vocabSize;
      const logits = out.logits!.data as Float32Array;
      let want = 0;
      pair.continuation.forEach((token, j) => {
        const t = n + pair.context.length - 1 + j;
        const row = logits.subarray(t * V, (t + 1) * V);
        want += row[token] - rowStats(row).logSumExp;
      });
      assert.ok(Math.abs(got[i].logprob - want) < 1e-4, `${r.continuation} (${variants[r.variant].name}): ${got[i].logprob} vs ${want}`);
    }
  });

  test("a prefix-tuning variant scores with forward's prefix logits, mixed with prompt and base variants", async () => {
    const rnd = Generator.seeded(5);
    const prefix = Float32Array.from({ length: 3 * prefixWidth(model.config) }, () => (rnd.uniform() - 0.5) * 0.2);
    const prompt = Float32Array.from({ length: 3 * model.config.hiddenSize }, () => (rnd.uniform() - 0.5) * 0.1);
    const variants = [{ name: 'base', prompt: null }, { name: 'prefix', prompt: null, prefix }, { name: 'prompt', prompt }];
    const requests = [0, 1, 2].flatMap((variant) => [
      { context: 'Q: Is the whale white?\nA:', continuation: ' yes', variant },
      { context: 'Call me', continuation: ' Ishmael', variant },
    ]);
    const got = await loglikelihoods(model, tokenizer, requests, variants);
    const V = model.config.vocabSize;
    for (const [i, r] of requests.entries()) {
      if (r.variant !== 1) continue;
      const pair = encodePair(tokenizer, r.context, r.continuation);
      const input = [...pair.context, ...pair.continuation].slice(0, -1);
      const logits = (await model.forward({ input_ids: [input] }, { prefix })).logits!.data as Float32Array;
      let want = 0;
      pair.continuation.forEach((token, j) => {
        const t = pair.context.length - 1 + j;
        const row = logits.subarray(t * V, (t + 1) * V);
        want += row[token] - rowStats(row).logSumExp;
      });
      assert.ok(Math.abs(got[i].logprob - want) < 1e-4, `${r.continuation}: ${got[i].logprob} vs ${want}`);
      // The prefix changes the scores: it is not the base model's.
      assert.ok(Math.abs(got[i].logprob - got[i - 2].logprob) > 1e-4, 'the prefix changed nothing');
    }
  });

  test('they equal what `softprompt forward` writes for the same ids', async () => {
    const pair = encodePair(tokenizer, 'Message: free prize now\nAnswer:', ' spam');
    const input = [...pair.context, ...pair.continuation].slice(0, -1);
    const [got] = await loglikelihoods(model, tokenizer, [{ context: 'Message: free prize now\nAnswer:', continuation: ' spam', variant: 0 }], [{ name: 'base', prompt: null }]);
    writeFileSync(join(dir, 'batch.json'), JSON.stringify({ input_ids: [input] }));
    const r = spawnSync(process.execPath, ['bin/softprompt.js', 'forward', '--model', 'models/default', '--batch', join(dir, 'batch.json'), '--out', join(dir, 'out.safetensors')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const logits = Safetensors.parse(readFileSync(join(dir, 'out.safetensors')), 'out').float32('logits');
    const V = model.config.vocabSize;
    let want = 0;
    pair.continuation.forEach((token, j) => {
      const row = logits.subarray((pair.context.length - 1 + j) * V, (pair.context.length + j) * V);
      want += row[token] - rowStats(row).logSumExp;
    });
    assert.ok(Math.abs(got.logprob - want) < 1e-5, `${got.logprob} vs ${want}`);
  });
});

test('softprompt eval writes lm-eval results whose acc is the share of docs whose gold choice scores highest', () => {
  const data = join(dir, 'task.jsonl');
  const texts = ['free prize call now', 'see you at lunch', 'win cash text WIN', 'ok thanks mum', 'urgent claim your reward', 'running late sorry'];
  writeFileSync(data, texts.map((text, i) => JSON.stringify({ text, label: i % 2 === 0 ? 'spam' : 'ham' })).join('\n'));
  const out = join(dir, 'out.json');
  const r = spawnSync(process.execPath, [
    'bin/softprompt.js', 'eval', '--model', 'models/default', '--dataset', data, '--template', 'Message: {text}\\nAnswer:',
    '--choices', 'spam,ham', '--label_column', 'label', '--num_fewshot', '2', '--output_path', out, '--log_samples', '--json',
    '--plot', join(dir, 'confusion.svg'),
  ], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const results = JSON.parse(readFileSync(out, 'utf8'));
  assert.deepEqual(Object.keys(results.results), ['task']);
  assert.equal(results['n-shot'].task, 2);
  assert.equal(results['n-samples'].task.effective, 6);
  for (const key of ['configs', 'versions', 'config', 'date']) assert.ok(key in results, key);
  const samples = readFileSync(join(dir, 'out_samples_task.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const acc = samples.filter((s) => s.resps[s.target === 'spam' ? 0 : 1][0] >= Math.max(...s.resps.map((x: [number]) => x[0]))).length / samples.length;
  assert.equal(results.results.task['acc,none'], acc);
  assert.ok(samples[0].context.includes('\n\n'), 'two-shot contexts');
  // The plot's cells count the samples by gold and predicted choice.
  const svg = readFileSync(join(dir, 'confusion.svg'), 'utf8');
  assertSvg(svg);
  const predicted = samples.map((s) => ['spam', 'ham'][s.resps[0][0] >= s.resps[1][0] ? 0 : 1]);
  for (const gold of ['spam', 'ham']) {
    for (const p of ['spam', 'ham']) {
      const count = samples.filter((s, i) => s.target === gold && predicted[i] === p).length;
      assert.match(svg, new RegExp(`aria-label="predicted: ${p}; gold: ${gold}; text: ${count}"`));
    }
  }
  const generate = spawnSync(process.execPath, ['bin/softprompt.js', 'eval', '--model', 'models/default', '--dataset', data, '--template', '{text}', '--label_column', 'label', '--generate', '--plot', join(dir, 'g.svg')], { encoding: 'utf8' });
  assert.equal(generate.status, 2);
  assert.match(generate.stderr, /--plot: draws confusion matrices, which need multiple choice/);
  const bad = spawnSync(process.execPath, ['bin/softprompt.js', 'eval', '--model', 'models/default', '--dataset', data, '--template', '{text}', '--choices', 'a,b', '--label_column', 'nope'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--label_column/);
});

test('softprompt eval scores P-tuning and prefix-tuning adapters and refuses a multitask one by its method', (t) => {
  const golden = fixture(t, 'golden-methods', 'llama-tiny');
  if (!golden) return;
  const data = join(dir, 'methods.jsonl');
  writeFileSync(data, ['free prize', 'see you', 'win cash', 'ok thanks'].map((text, i) => JSON.stringify({ text, label: i % 2 ? 'ham' : 'spam' })).join('\n'));
  const model = join(FIXTURES, 'models', 'llama-tiny');
  const run = (...adapters: string[]) => spawnSync(process.execPath, [
    'bin/softprompt.js', 'eval', '--model', model, '--dataset', data, '--template', 'Message: {text}\\nAnswer:', '--choices', 'spam,ham',
    '--label_column', 'label', '--json', '--plot', join(dir, 'methods.svg'), ...adapters.flatMap((a) => ['--adapter', join(golden, a, 'adapter')]),
  ], { encoding: 'utf8' });
  const r = run('ptuning_lstm', 'prefix_proj');
  assert.equal(r.status, 0, r.stderr);
  const panels = svgTexts(readFileSync(join(dir, 'methods.svg'), 'utf8'));
  for (const name of [join(golden, 'ptuning_lstm', 'adapter'), join(golden, 'prefix_proj', 'adapter'), 'base']) assert.ok(panels.includes(name), name);
  const bad = run('multitask');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /MULTITASK_PROMPT_TUNING/);
});
