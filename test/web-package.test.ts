// softprompt/web as a user gets it: the packed package, imported by name from a plain Vite app with no config. Vite
// applies package.json's "browser" swaps, so the build must succeed with no Node builtin reached, and bundle the
// engine worker with onnxruntime-web's WASM. (test/web-app.test.ts runs the same modules in Chromium.)
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const repo = resolve('.');
const project = mkdtempSync(join(tmpdir(), 'softprompt-web-consumer-'));
after(() => rmSync(project, { recursive: true, force: true }));

test('a Vite app that imports softprompt/web from the packed package builds for the browser', { timeout: 120_000 }, async () => {
  const npm = process.env.npm_execpath;
  const [cmd, args] = npm ? [process.execPath, [npm]] : ['npm', []];
  const packed = JSON.parse(execFileSync(cmd, [...args, 'pack', '--ignore-scripts', '--json', '--pack-destination', project], { cwd: repo, encoding: 'utf8' }));
  const modules = join(project, 'node_modules');
  mkdirSync(join(modules, 'softprompt'), { recursive: true });
  execFileSync('tar', ['xzf', join(project, packed[0].filename), '-C', join(modules, 'softprompt'), '--strip-components=1']);
  for (const name of readdirSync(join(repo, 'node_modules'))) {
    if (!name.startsWith('.') && name !== 'softprompt') symlinkSync(join(repo, 'node_modules', name), join(modules, name));
  }
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'web-consumer', private: true, type: 'module' }));
  writeFileSync(join(project, 'index.html'), '<!doctype html><html><body><script type="module" src="./main.js"></script></body></html>\n');
  writeFileSync(
    join(project, 'main.js'),
    `import { AutoModelForCausalLM, AutoTokenizer, get_peft_model, PromptTuningConfig, Trainer } from 'softprompt/web';
const tokenizer = await AutoTokenizer.from_pretrained('/models/default/');
const model = await AutoModelForCausalLM.from_pretrained('/models/default/');
const peft = await get_peft_model(model, new PromptTuningConfig({ task_type: 'CAUSAL_LM', num_virtual_tokens: 4 }));
console.log(Trainer.name, (await peft.forward(tokenizer('Hello'))).logits.dims, await peft.save_zip());
`,
  );
  const { build, createLogger } = await import('vite');
  const logger = createLogger('warn');
  const warnings: string[] = [];
  logger.warn = (message) => void warnings.push(message);
  logger.warnOnce = logger.warn;
  await build({ root: project, customLogger: logger, logLevel: 'warn', configFile: false, build: { outDir: join(project, 'dist'), target: 'es2022', reportCompressedSize: false } });
  // A Node builtin reached from the browser build is only a warning to Vite (and a crash in the page).
  assert.deepEqual(warnings.filter((w) => /externalized for browser compatibility/.test(w)), []);
  const assets = readdirSync(join(project, 'dist', 'assets'));
  assert.ok(assets.some((f) => /^engine-worker-.*\.js$/.test(f)), `the engine worker is bundled: ${assets}`);
  assert.ok(assets.some((f) => f.endsWith('.wasm')), `onnxruntime-web's WASM is bundled: ${assets}`);
  const main = assets.filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(project, 'dist', 'assets', f), 'utf8')).join('\n');
  assert.doesNotMatch(main, /onnxruntime-node|node:worker_threads/, 'no Node engine in the browser bundle');
});
