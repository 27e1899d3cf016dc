// PromptTuningConfig: PEFT's fields and defaults, the adapter_config.json bytes PEFT writes, validation, and the
// Python formats (float repr, json.dumps) the files and print_trainable_parameters are compared in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { OptionError } from '../src/errors.js';
import { loadConfig } from '../src/models/pretrained.js';
import { parseModelConfig } from '../src/models/config.js';
import { serializeAdapterConfig } from '../src/peft/adapter.js';
import { promptTuningConfig, type PromptTuningOptions } from '../src/peft/config.js';
import { countBaseParameters, formatParameterCounts, parameterCounts } from '../src/peft/parameters.js';
import { pythonFloatRepr, pythonJsonDumps } from '../src/peft/python.js';
import { FIXTURE_MODELS, fixture } from './fixtures.js';

/** The settings the golden adapters were made with (see fixtures/README.md). */
function goldenSettings(model: string, dir: string, initText: string): PromptTuningOptions {
  const n = dir.startsWith('trainer') ? 8 : 4;
  if (dir === 'adapter_random') return { num_virtual_tokens: n };
  return {
    num_virtual_tokens: n,
    prompt_tuning_init: 'TEXT',
    prompt_tuning_init_text: initText,
    tokenizer_name_or_path: model,
    tokenizer_kwargs: { use_fast: false },
  };
}

const GOLDEN_ADAPTERS = [
  ...FIXTURE_MODELS.flatMap((m) => [[m, 'adapter_random'], [m, 'adapter_text']]),
  ['bloom-tiny-4h', 'trainer/adapter'],
  ['stories260K', 'trainer/adapter'],
];

test('a config made for the same settings writes the adapter_config.json PEFT wrote, byte for byte', async (t) => {
  for (const [model, dir] of GOLDEN_ADAPTERS) {
    const path = fixture(t, 'golden', model, dir, 'adapter_config.json');
    const inputs = fixture(t, 'golden', model, 'inputs.json');
    const modelDir = fixture(t, 'models', model);
    if (!path || !inputs || !modelDir) return;
    const { init_text } = JSON.parse(readFileSync(inputs, 'utf8'));
    const config = promptTuningConfig(goldenSettings(model, dir, init_text), await loadConfig(modelDir), model);
    const golden = readFileSync(path, 'utf8');
    assert.deepEqual(JSON.parse(serializeAdapterConfig(config)), JSON.parse(golden), `${model}/${dir}`);
    assert.equal(serializeAdapterConfig(config), golden, `${model}/${dir}`);
  }
});

test('fields and defaults follow PEFT: RANDOM init, model dims filled in, training mode until saved', () => {
  const model = parseModelConfig(
    { architectures: ['LlamaForCausalLM'], hidden_size: 64, num_hidden_layers: 3, num_attention_heads: 4, intermediate_size: 128, vocab_size: 100 },
    'config.json',
  );
  const config = promptTuningConfig({ num_virtual_tokens: 8 }, model);
  assert.deepEqual(config, {
    peft_type: 'PROMPT_TUNING', task_type: 'CAUSAL_LM', num_virtual_tokens: 8, token_dim: 64,
    num_transformer_submodules: 1, num_attention_heads: 4, num_layers: 3, prompt_tuning_init: 'RANDOM',
    prompt_tuning_init_text: null, tokenizer_name_or_path: null, tokenizer_kwargs: null, base_model_name_or_path: null,
    revision: null, inference_mode: false, auto_mapping: null,
  });
  assert.equal(JSON.parse(serializeAdapterConfig(config)).inference_mode, true);
  const text = promptTuningConfig({ num_virtual_tokens: 2, prompt_tuning_init: 'TEXT', prompt_tuning_init_text: 'hi' }, model, 'org/base');
  assert.equal(text.tokenizer_name_or_path, 'org/base', 'TEXT init defaults the tokenizer to the base model');
});

test('invalid options are OptionErrors naming the field', () => {
  const model = parseModelConfig(
    { architectures: ['GPT2LMHeadModel'], n_embd: 32, n_layer: 2, n_head: 4, vocab_size: 50 },
    'config.json',
  );
  const rejects = (opts: PromptTuningOptions, field: string, base?: string) =>
    assert.throws(() => promptTuningConfig(opts, model, base), (e: unknown) => e instanceof OptionError && e.where === field);
  rejects({ num_virtual_tokens: 0 }, 'num_virtual_tokens');
  rejects({ num_virtual_tokens: -3 }, 'num_virtual_tokens');
  rejects({ num_virtual_tokens: 2.5 }, 'num_virtual_tokens');
  rejects({ num_virtual_tokens: 4, prompt_tuning_init: 'TEXT' }, 'prompt_tuning_init_text', 'base');
  rejects({ num_virtual_tokens: 4, prompt_tuning_init: 'TEXT', prompt_tuning_init_text: '' }, 'prompt_tuning_init_text', 'base');
  rejects({ num_virtual_tokens: 4, prompt_tuning_init: 'TEXT', prompt_tuning_init_text: 'x' }, 'tokenizer_name_or_path');
  rejects({ num_virtual_tokens: 4, prompt_tuning_init: 'VOCAB' as 'TEXT' }, 'prompt_tuning_init');
  rejects({ num_virtual_tokens: 4, tokenizer_kwargs: { use_fast: false } }, 'tokenizer_kwargs');
});

test('Python float repr: shortest digits, exponent form below 1e-4 and from 1e16', () => {
  const cases: Array<[number, string]> = [
    [1e-5, '1e-05'], [0.0001, '0.0001'], [1.5e-7, '1.5e-07'], [1e16, '1e+16'], [1e15, '1000000000000000.0'],
    [1234567890123456, '1234567890123456.0'], [1.2345678901234568e17, '1.2345678901234568e+17'], [0.1, '0.1'],
    [1, '1.0'], [-0, '-0.0'], [5e-324, '5e-324'], [Number.MAX_VALUE, '1.7976931348623157e+308'], [-3.25e-5, '-3.25e-05'],
    [NaN, 'nan'], [-Infinity, '-inf'],
  ];
  for (const [x, want] of cases) assert.equal(pythonFloatRepr(x), want, String(x));
});

test('Python json.dumps(indent=2, sort_keys=True): ASCII escapes, code-point key order, empty containers', () => {
  const got = pythonJsonDumps({ b: [1, {}], a: 'é😀\n"', c: [], '\u{1F600}': 0, '\uFFFF': 0, d: { z: null, y: true, x: 1.5 } });
  const want = [
    '{', '  "a": "\\u00e9\\ud83d\\ude00\\n\\"",', '  "b": [', '    1,', '    {}', '  ],', '  "c": [],', '  "d": {',
    '    "x": 1.5,', '    "y": true,', '    "z": null', '  },', '  "\\uffff": 0,', '  "\\ud83d\\ude00": 0', '}',
  ].join('\n');
  assert.equal(got, want);
});

test('print_trainable_parameters line for bloomz-560m with 4 virtual tokens, as in PEFT', (t) => {
  const path = fixture(t, 'configs', 'bloomz-560m', 'config.json');
  if (!path) return;
  const config = parseModelConfig(JSON.parse(readFileSync(path, 'utf8')), path);
  const base = countBaseParameters(config);
  assert.equal(base, 559_214_592);
  assert.equal(
    formatParameterCounts(parameterCounts(4 * 1024, base + 4 * 1024)),
    'trainable params: 4,096 || all params: 559,218,688 || trainable%: 0.0007324504863471229',
  );
});
