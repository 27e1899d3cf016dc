// The package as a user gets it: `npm pack`, unpacked into an empty project as node_modules/softprompt (its
// dependencies linked from this checkout, so no network is needed), then examples/seed.ts compiled there with
// `tsc --strict` (module nodenext) against the shipped types and run on a fixture model, and the package imported
// from plain JavaScript.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fixture } from './fixtures.js';

const repo = resolve('.');
const project = mkdtempSync(join(tmpdir(), 'softprompt-consumer-'));
after(() => rmSync(project, { recursive: true, force: true }));

before(() => {
  execFileSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: repo });
  const npm = process.env.npm_execpath;
  const [cmd, args] = npm ? [process.execPath, [npm]] : ['npm', []];
  const packed = JSON.parse(execFileSync(cmd, [...args, 'pack', '--ignore-scripts', '--json', '--pack-destination', project], { cwd: repo, encoding: 'utf8' }));
  const modules = join(project, 'node_modules');
  mkdirSync(join(modules, 'softprompt'), { recursive: true });
  execFileSync('tar', ['xzf', join(project, packed[0].filename), '-C', join(modules, 'softprompt'), '--strip-components=1']);
  for (const name of readdirSync(join(repo, 'node_modules'))) {
    if (!name.startsWith('.') && name !== 'softprompt') symlinkSync(join(repo, 'node_modules', name), join(modules, name));
  }
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  const tsconfig = { compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, types: ['node'], outDir: 'out' }, files: ['seed.ts'] };
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(tsconfig));
});

test('the tarball ships the library build, the CLI, the default model and the seed example, and no tests', () => {
  const shipped = join(project, 'node_modules', 'softprompt');
  const files = readdirSync(shipped, { recursive: true }) as string[];
  for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'bin/softprompt.js', 'models/default/config.json', 'examples/seed.ts', 'LICENSE', 'README.md']) {
    assert.ok(files.includes(f), `${f} is in the package`);
  }
  assert.deepEqual(files.filter((f) => /^(dist\/)?(test|bench|scripts)\//.test(f)), []);
});

test('examples/seed.ts compiles with tsc --strict against the shipped types and runs on a fixture model', (t) => {
  const model = fixture(t, 'models', 'bloom-tiny-4h');
  const data = fixture(t, 'datasets', 'awesome-chatgpt-prompts', 'prompts.2025-02-03.act_prompt.csv');
  if (!model || !data) return;
  writeFileSync(join(project, 'seed.ts'), execFileSync('cat', [join(project, 'node_modules', 'softprompt', 'examples', 'seed.ts')]));
  const tsc = spawnSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], { cwd: project, encoding: 'utf8' });
  assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
  const run = spawnSync(process.execPath, ['out/seed.js', model, data, '3'], { cwd: project, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^Initial model output: \[/m);
  assert.match(run.stdout, /^trainable params: 256 \|\| all params: [\d,]+ \|\| trainable%: /m);
  assert.match(run.stdout, /^Tuned model output: \[/m);
  assert.ok(readdirSync(project).includes('checkpoint-3'), 'the Trainer checkpointed into output_dir');
});

test('plain JavaScript imports the package by name and tokenizes with the shipped default model', () => {
  const script = `
    import { AutoTokenizer, PromptTuningConfig, OptionError } from 'softprompt';
    const tokenizer = await AutoTokenizer.from_pretrained('node_modules/softprompt/models/default');
    const { input_ids, attention_mask } = tokenizer(['Call me Ishmael.', 'Hi'], { padding: true });
    let refused = null;
    try { new PromptTuningConfig({ task_type: 'CAUSAL_LM', num_virtual_tokens: 0 }); } catch (e) { refused = e instanceof OptionError; }
    console.log(JSON.stringify({ widths: input_ids.map((r) => r.length), mask: attention_mask[1], text: tokenizer.decode(input_ids[0], { skip_special_tokens: true }), refused }));
  `;
  writeFileSync(join(project, 'use.mjs'), script);
  const run = spawnSync(process.execPath, ['use.mjs'], { cwd: project, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout);
  assert.equal(out.widths[0], out.widths[1]);
  assert.ok(out.mask.includes(0) && out.mask[0] === 1, 'right padding is masked');
  assert.equal(out.text, 'Call me Ishmael.');
  assert.equal(out.refused, true);
});
