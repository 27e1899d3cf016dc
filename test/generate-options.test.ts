// Bad generation input fails up front with an error naming the option (or input) and what was expected.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { OptionError, ShapeError, UnsupportedError } from '../src/errors.js';
import { generate, type GenerateRequest } from '../src/generate/generate.js';
import { Engine } from '../src/runtime/engine.js';
import { fixture } from './fixtures.js';
import { loadFixtureModel } from './golden.js';

const engine = Engine.create();
// Nothing here reaches the worker, so let it finish starting before it is closed: terminating it while
// onnxruntime-node initialises can abort the process.
after(async () => {
  await engine.bindWeights('started', {});
  await engine.close();
});
const input_ids = [[64, 110, 328]];

async function rejects(t: import('node:test').TestContext, request: GenerateRequest, type: Function, message: RegExp, name = 'llama-tiny') {
  if (!fixture(t, 'models', name)) return;
  const model = await loadFixtureModel(name, engine);
  await assert.rejects(generate(model, null, request), (e: Error) => e instanceof type && message.test(e.message), String(message));
}

test('an unknown option is rejected by name', (t) =>
  rejects(t, { input_ids, max_tokens: 5 } as GenerateRequest, OptionError, /^max_tokens: unknown option \(expected one of max_new_tokens, /));

test('top_p outside (0, 1] is rejected', async (t) => {
  await rejects(t, { input_ids, top_p: 0 }, OptionError, /^top_p: 0 is outside \(0, 1\]/);
  await rejects(t, { input_ids, top_p: 1.5, do_sample: true }, OptionError, /^top_p: 1.5 is outside/);
});

test('temperature <= 0 is rejected when sampling', (t) =>
  rejects(t, { input_ids, do_sample: true, temperature: 0 }, OptionError, /^temperature: 0 must be > 0 when sampling/));

test('a negative max_new_tokens is rejected', (t) =>
  rejects(t, { input_ids, max_new_tokens: -1 }, OptionError, /^max_new_tokens: -1 is not an integer >= 0/));

test('a max_length that leaves no room after the input is rejected', (t) =>
  rejects(t, { input_ids, max_length: 3 }, OptionError, /^max_length: 3 leaves no room for new tokens after the 3-token input/));

test('several sequences need sampling', (t) =>
  rejects(t, { input_ids, num_return_sequences: 2 }, OptionError, /^num_return_sequences: greedy decoding returns one sequence/));

test('stop strings need a tokenizer', (t) => rejects(t, { input_ids, stop_strings: ['.'] }, OptionError, /^stop_strings: stop strings need a tokenizer/));

test('an eos id outside the vocabulary is rejected', (t) =>
  rejects(t, { input_ids, eos_token_id: [999, 1000] }, OptionError, /^eos_token_id: \[999,1000\] is not a token id in \[0, 1000\)/));

test('a generation_config.json asking for beam search is refused', (t) =>
  rejects(t, { input_ids, generation_config: { num_beams: 4 } }, UnsupportedError, /^generation_config.json: num_beams 4 is not supported/));

test('a soft prompt of the wrong width is rejected', (t) =>
  rejects(t, { input_ids, prompt: new Float32Array(10) }, ShapeError, /^prompt: expected a soft prompt of shape \[n, 64\]/));

test("GPT-2: an input longer than n_positions, virtual tokens included, is rejected", async (t) => {
  const long = [new Array(253).fill(5)]; // + 4 virtual tokens = 257 > n_positions 256
  const prompt = new Float32Array(4 * 64);
  await rejects(t, { input_ids: long, prompt }, ShapeError, /^input_ids: the input takes 257 positions \(4 virtual tokens included\) but the model has n_positions 256/, 'gpt2-tiny');
  await rejects(t, { input_ids: [new Array(250).fill(5)], prompt, max_new_tokens: 5 }, OptionError, /^max_new_tokens: 5 new tokens after a 254-position input exceed n_positions 256 \(at most 3\)/, 'gpt2-tiny');
});
