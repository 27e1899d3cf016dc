import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError, MissingError } from '../src/errors.js';
import { loadConfig } from '../src/models/pretrained.js';
import { loadTokenizer } from '../src/tokenizer/pretrained.js';
import { loadWeights } from '../src/weights/files.js';
import { readJson, writeFileAtomic } from '../src/hub/local.js';
import { Safetensors, serializeSafetensors } from '../src/weights/safetensors.js';
import { FIXTURE_MODELS, fixture } from './fixtures.js';
import { elementCount } from '../src/shape.js';

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'softprompt-test-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const isError = (type: typeof MissingError | typeof FormatError, pattern: RegExp) => (e: unknown) =>
  e instanceof type && pattern.test(e.message);

const EMBEDDINGS: Record<string, string> = {
  bloom: 'transformer.word_embeddings.weight',
  gpt2: 'transformer.wte.weight',
  llama: 'model.embed_tokens.weight',
  qwen2: 'model.embed_tokens.weight',
};

test('every fixture model loads: config and weights agree', async (t) => {
  for (const model of FIXTURE_MODELS) {
    const dir = fixture(t, 'models', model);
    if (!dir) return;
    const config = await loadConfig(dir);
    const weights = await loadWeights(dir);
    const embeddings = EMBEDDINGS[config.arch];
    assert.deepEqual(weights.shape(embeddings), [config.vocabSize, config.hiddenSize], model);
    assert.equal(weights.has('lm_head.weight'), !config.tieWordEmbeddings, model);
    assert.equal(weights.source(embeddings), join(dir, 'model.safetensors'));
    for (const name of weights.names()) {
      assert.equal(weights.float32(name).length, elementCount(weights.shape(name)), `${model} ${name}`);
    }
  }
});

test('a 2-shard checkpoint loads the same tensors as the single file', async (t) => {
  const dir = fixture(t, 'models', 'llama-tiny');
  if (!dir) return;
  const original = Safetensors.parse(await readFile(join(dir, 'model.safetensors')), 'model.safetensors');
  const names = original.names();
  const half = Math.ceil(names.length / 2);
  const shards = {
    'model-00001-of-00002.safetensors': names.slice(0, half),
    'model-00002-of-00002.safetensors': names.slice(half),
  };
  await withTempDir(async (out) => {
    const weightMap: Record<string, string> = {};
    for (const [file, shardNames] of Object.entries(shards)) {
      const tensors = shardNames.map((name) => ({
        name,
        shape: original.entry(name).shape,
        data: original.float32(name),
      }));
      await writeFile(join(out, file), serializeSafetensors(tensors, { format: 'pt' }));
      for (const name of shardNames) weightMap[name] = file;
    }
    const index = { metadata: { total_size: 0 }, weight_map: weightMap };
    await writeFile(join(out, 'model.safetensors.index.json'), JSON.stringify(index));

    const weights = await loadWeights(out);
    assert.deepEqual([...weights.names()].sort(), [...names].sort());
    for (const name of names) {
      assert.deepEqual(weights.float32(name), original.float32(name), name);
      assert.deepEqual(weights.shape(name), original.entry(name).shape);
      assert.equal(weights.source(name), join(out, weightMap[name]));
    }
    assert.throws(() => weights.float32('nope'), isError(MissingError, /"nope"/));

    await rm(join(out, 'model-00002-of-00002.safetensors'));
    await assert.rejects(loadWeights(out), isError(MissingError, /model-00002-of-00002\.safetensors/));
  });
});

test('a shard index that names a tensor its shard lacks, or a path outside the directory, is refused', async () => {
  await withTempDir(async (out) => {
    const shard = serializeSafetensors([{ name: 'x', shape: [1], data: new Float32Array(1) }]);
    await writeFile(join(out, 'a.safetensors'), shard);
    const index = join(out, 'model.safetensors.index.json');
    await writeFile(index, JSON.stringify({ weight_map: { x: 'a.safetensors', y: 'a.safetensors' } }));
    await assert.rejects(loadWeights(out), isError(MissingError, /tensor "y".*not in it/));
    await writeFile(index, JSON.stringify({ weight_map: { x: '../a.safetensors' } }));
    await assert.rejects(loadWeights(out), isError(FormatError, /weight_map\["x"\]/));
    await writeFile(index, JSON.stringify({ shards: [] }));
    await assert.rejects(loadWeights(out), isError(FormatError, /weight_map/));
  });
});

test('a directory without safetensors weights is a MissingError', async () => {
  await withTempDir(async (out) => {
    await assert.rejects(loadWeights(out), isError(MissingError, /model\.safetensors/));
  });
});

test('a missing tokenizer.json is a MissingError saying it is required', async () => {
  await withTempDir(async (out) => {
    await writeFile(join(out, 'tokenizer_config.json'), '{}');
    await assert.rejects(loadTokenizer(out), isError(MissingError, /tokenizer\.json.*tokenizer\.json is required/));
  });
});

test('special_tokens_map.json fills in tokens tokenizer_config.json lacks', async (t) => {
  const dir = fixture(t, 'models', 'gpt2-tiny');
  if (!dir) return;
  await withTempDir(async (out) => {
    await writeFile(join(out, 'tokenizer.json'), await readFile(join(dir, 'tokenizer.json')));
    await writeFile(join(out, 'special_tokens_map.json'), JSON.stringify({ eos_token: { content: '<|endoftext|>' } }));
    const tokenizer = await loadTokenizer(out);
    assert.deepEqual([tokenizer.bos_token_id, tokenizer.eos_token_id], [null, 999]);
  });
});

test('readJson: a missing file is a MissingError, bad JSON a FormatError, both naming the file', async () => {
  await withTempDir(async (out) => {
    const path = join(out, 'config.json');
    await assert.rejects(readJson(path), isError(MissingError, /config\.json/));
    await writeFile(path, '{"hidden_size": 64,');
    await assert.rejects(readJson(path), isError(FormatError, /config\.json.*not valid JSON/));
    await assert.rejects(loadConfig(out), isError(FormatError, /config\.json/));
  });
});

test('writeFileAtomic replaces the file and leaves no temporary behind, even on failure', async () => {
  await withTempDir(async (out) => {
    const path = join(out, 'adapter_config.json');
    await writeFileAtomic(path, 'first');
    await writeFileAtomic(path, new TextEncoder().encode('second'));
    assert.equal(await readFile(path, 'utf8'), 'second');
    assert.deepEqual(await readdir(out), ['adapter_config.json']);

    // Renaming onto a non-empty directory fails after the temporary file was written.
    const blocked = join(out, 'blocked');
    await mkdir(join(blocked, 'inside'), { recursive: true });
    await assert.rejects(writeFileAtomic(blocked, 'x'));
    assert.deepEqual((await readdir(out)).sort(), ['adapter_config.json', 'blocked']);
  });
});
