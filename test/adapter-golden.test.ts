// Every adapter PEFT saved in the goldens loads, reproduces PEFT's logits, and saves back to the same bytes.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../src/peft/adapter.js';
import { PeftModel } from '../src/peft/peft-model.js';
import { Engine } from '../src/runtime/engine.js';
import { Safetensors } from '../src/weights/safetensors.js';
import { fixture, FIXTURE_MODELS, FIXTURES, MORE_FAMILIES } from './fixtures.js';
import { loadFixtureModel, readGolden, relDiff } from './golden.js';

const engine = Engine.create();
after(() => engine.close());
const TOL = 1e-4;

for (const model of [...FIXTURE_MODELS, ...MORE_FAMILIES]) {
  for (const init of ['random', 'text']) {
    test(`${model} adapter_${init}: prompt equals prompt_init and logits match PEFT for every case`, async (t) => {
      const dir = fixture(t, 'golden', model, `adapter_${init}`);
      if (!dir) return;
      const golden = readGolden(model);
      const peft = await PeftModel.fromPretrained(await loadFixtureModel(model, engine), dir);
      assert.deepEqual(peft.prompt(), Float32Array.from(golden.tensors.float32(`${init}.prompt_init`)));
      for (const [name, batch] of Object.entries(golden.inputs.cases)) {
        const out = await peft.forward(batch);
        const d = relDiff(out.logits!.data as Float32Array, golden.tensors.float32(`${init}.${name}.peft_logits`));
        assert.ok(d < TOL, `${name}: logits rel diff ${d}`);
      }
    });
  }
}

test('the trainer adapters load and hold the run\'s final prompt', async (t) => {
  for (const model of ['bloom-tiny-4h', 'stories260K']) {
    const dir = fixture(t, 'golden', model, 'trainer');
    if (!dir) return;
    const peft = await PeftModel.fromPretrained(await loadFixtureModel(model, engine), join(dir, 'adapter'));
    const prompts = Safetensors.parse(readFileSync(join(dir, 'prompts.safetensors')), dir);
    assert.deepEqual(peft.prompt(), Float32Array.from(prompts.float32('prompt_final')), model);
  }
});

test('a loaded golden adapter saves back to the very bytes PEFT wrote', async (t) => {
  if (!fixture(t, 'golden')) return;
  const out = await mkdtemp(join(tmpdir(), 'softprompt-adapter-'));
  try {
    for (const model of [...FIXTURE_MODELS, ...MORE_FAMILIES]) {
      for (const dir of ['adapter_random', 'adapter_text']) {
        const source = join(FIXTURES, 'golden', model, dir);
        const peft = await PeftModel.fromPretrained(await loadFixtureModel(model, engine), source);
        const target = join(out, model, dir);
        await peft.savePretrained(target);
        for (const file of [ADAPTER_CONFIG, ADAPTER_WEIGHTS]) {
          assert.deepEqual(await readFile(join(target, file)), await readFile(join(source, file)), `${model}/${dir}/${file}`);
        }
      }
    }
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});
