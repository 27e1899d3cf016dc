// fromPretrained by hub id: the downloaded snapshot gives the same model and tokenizer as the local directory.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { modelFromPretrained } from '../src/models/pretrained.js';
import { tokenizerFromPretrained } from '../src/tokenizer/pretrained.js';
import type { ProgressInfo } from '../src/hub/progress.js';
import { Engine } from '../src/runtime/engine.js';
import { AutoModelForCausalLM, HubError, PeftModel } from '../src/index.js';
import { fixture } from './fixtures.js';
import { hubOptions, modelRepo, readDir, withHub } from './hub/repos.js';

const engine = Engine.create({ threads: 1 });
after(() => engine.close());

test('modelFromPretrained and tokenizerFromPretrained take a hub id and match the local directory', { timeout: 60_000 }, async (t) => {
  const dir = fixture(t, 'models', 'bloom-tiny-4h');
  if (!dir) return;
  await withHub([modelRepo('tiny/bloom', await readDir(dir))], async (hub, cache) => {
    const events: ProgressInfo[] = [];
    const opts = hubOptions(hub, cache, { engine, progress_callback: (e: ProgressInfo) => events.push(e) });
    const [fromHub, local] = [await modelFromPretrained('tiny/bloom', opts), await modelFromPretrained(dir, { engine })];
    assert.deepEqual(fromHub.config, local.config);
    const batch = { input_ids: [[5, 6, 7, 8]] };
    assert.deepEqual((await fromHub.forward(batch)).logits!.data, (await local.forward(batch)).logits!.data);
    assert.deepEqual(events.at(-1), { status: 'ready', name: 'tiny/bloom', model: 'tiny/bloom', task: 'text-generation' });

    const text = 'Hello hub';
    const [hubTokenizer, localTokenizer] = [await tokenizerFromPretrained('tiny/bloom', opts), await tokenizerFromPretrained(dir)];
    assert.deepEqual(hubTokenizer.encode(text), localTokenizer.encode(text));
  });
});

test('PeftModel.from_pretrained and load_adapter take an adapter repo id from the hub', { timeout: 60_000 }, async (t) => {
  const adapter = fixture(t, 'golden', 'bloom-tiny-4h', 'adapter_text');
  const dir = fixture(t, 'models', 'bloom-tiny-4h');
  if (!adapter || !dir) return;
  await withHub([modelRepo('someone/bloom-adapter', await readDir(adapter))], async (hub, cache) => {
    const base = await AutoModelForCausalLM.from_pretrained(dir, { engine });
    const fromHub = await PeftModel.from_pretrained(base, 'someone/bloom-adapter', hubOptions(hub, cache));
    const local = await PeftModel.from_pretrained(base, adapter);
    await fromHub.load_adapter('someone/bloom-adapter', 'again', { ...hubOptions(hub, cache), local_files_only: true });
    const batch = { input_ids: [[5, 6, 7, 8]] };
    assert.deepEqual((await fromHub.forward(batch)).logits.data, (await local.forward(batch)).logits.data);
    await assert.rejects(() => fromHub.load_adapter('someone/absent', 'x', hubOptions(hub, cache)), HubError);
  });
});
