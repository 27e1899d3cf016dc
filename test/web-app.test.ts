// The web app in real headless Chromium (playwright-core + Debian's chromium), driven by its accessible names, on
// models/default and a fixture model: load, train (the loss falls), generate, download the adapter; then Node loads
// that adapter and must give the same greedy continuation as the app's "Tuned output" and the same logits (1e-4).
import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM_ARGS, findChromium } from '../bench/chromium.js';
import { AutoModelForCausalLM, AutoTokenizer, PeftModel } from '../src/index.js';
import { DEFAULT_MODEL } from '../src/hub/default-model.js';
import { unzipFiles } from '../src/web/zip.js';
import { FIXTURES, fixture } from './fixtures.js';

const root = resolve('.');
const work = mkdtempSync(join(tmpdir(), 'softprompt-web-'));
const chromiumPath = findChromium();
let server: ChildProcess | null = null;
let url = '';
let browser: Browser | null = null;

function needChromium(t: TestContext): boolean {
  if (chromiumPath) return true;
  if (process.env.CI === 'true') throw new Error('Chromium is missing under CI (.ci/run installs it: apt-get install chromium)');
  t.skip('no Chromium (apt-get install chromium, or set CHROMIUM_PATH)');
  return false;
}

before(async () => {
  if (!chromiumPath) return;
  // The app from this checkout's sources, as `npm run web` builds it.
  const { build } = await import('vite');
  await build({ configFile: join(root, 'web', 'vite.config.ts'), logLevel: 'warn' });
  const args = ['bin/softprompt.js', 'web', '--port', '0'];
  try {
    args.push('--models', join(FIXTURES, 'models'));
    readFileSync(join(FIXTURES, 'models', 'stories260K', 'config.json'));
  } catch {
    args.splice(-2);
  }
  server = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  url = await new Promise<string>((done, fail) => {
    let out = '';
    server!.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /(http:\/\/\S+\/)/.exec(out);
      if (m) done(m[1]);
    });
    server!.once('exit', (code) => fail(new Error(`softprompt web exited with ${code}: ${out}`)));
  });
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: chromiumPath, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  server?.kill();
  rmSync(work, { recursive: true, force: true });
});

/** The page's globals the test reads (typed here: the project compiles without the DOM library). */
interface Win {
  statusLog: string[];
  MutationObserver: new (f: () => void) => { observe(el: unknown, o: object): void };
  document: { getElementById(id: string): { textContent: string | null; disabled?: boolean } };
  softprompt: { peft: { forward(x: unknown): Promise<{ logits: { data: Float32Array; dims: number[] } }> }; tokenizer(t: string): unknown };
}

interface Case {
  model: string;
  dir: string;
  texts: string[];
  prompt: string;
}

/** Everything the app shows for one model, plus the browser's logits for the prompt with the tuned adapter. */
async function driveApp(page: Page, c: Case, zipPath: string) {
  await page.goto(url);
  await page.getByRole('textbox', { name: 'Model' }).fill(c.model);
  await page.getByRole('button', { name: 'Load model' }).click();
  await page.getByRole('textbox', { name: 'Training texts' }).fill(c.texts.join('\n'));
  await page.getByRole('spinbutton', { name: 'Virtual tokens' }).fill('4');
  await page.getByRole('spinbutton', { name: 'Learning rate' }).fill('0.1');
  await page.getByRole('spinbutton', { name: 'Epochs' }).fill('3');
  const status = page.getByRole('status');
  // Every text the status shows while training, in order.
  await status.evaluate((el) => {
    const win = globalThis as unknown as Win;
    const log: string[] = (win.statusLog = []);
    new win.MutationObserver(() => log.push(el.textContent ?? '')).observe(el, { childList: true, characterData: true, subtree: true });
  });
  await page.getByRole('button', { name: 'Train' }).click({ timeout: 60_000 });
  await status.filter({ hasText: 'done' }).waitFor({ timeout: 120_000 });
  const log = await page.evaluate(() => (globalThis as unknown as Win).statusLog);
  const chartPoints = await page.locator('#chart circle').count();

  await page.getByRole('textbox', { name: 'Prompt' }).fill(c.prompt);
  await page.getByRole('spinbutton', { name: 'Max new tokens' }).fill('8');
  await page.getByRole('button', { name: 'Generate' }).click();
  const generated = () => {
    const { document } = globalThis as unknown as Win;
    return document.getElementById('baseline').textContent !== '' && !document.getElementById('generate').disabled;
  };
  await page.waitForFunction(generated);
  const baseline = (await page.getByLabel('Baseline output').textContent()) ?? '';
  const tuned = (await page.getByLabel('Tuned output').textContent()) ?? '';

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download adapter' }).click()]);
  await download.saveAs(zipPath);
  const logits = await page.evaluate(async (prompt) => {
    const s = (globalThis as unknown as Win).softprompt;
    const out = await s.peft.forward(s.tokenizer(prompt));
    return { dims: out.logits.dims, data: Array.from(out.logits.data) };
  }, c.prompt);

  // The adapter loads back from its .zip: the tuned continuation is the same.
  await page.getByLabel('Load an adapter from files').setInputFiles(zipPath);
  await page.locator('#adapter-info').filter({ hasText: 'loaded from' }).waitFor();
  await page.getByRole('button', { name: 'Generate' }).click();
  await page.waitForFunction(() => !(globalThis as unknown as Win).document.getElementById('generate').disabled);
  const reloaded = (await page.getByLabel('Tuned output').textContent()) ?? '';
  return { log, chartPoints, baseline, tuned, reloaded, logits };
}

async function checkCase(t: TestContext, c: Case): Promise<void> {
  const page = await browser!.newPage({ acceptDownloads: true });
  try {
    const zipPath = join(work, `${c.model.replace(/\W+/g, '_')}.zip`);
    const app = await driveApp(page, c, zipPath);

    const losses = app.log.map((s) => /^step \d+\/\d+ .*loss (\d+\.\d+)/.exec(s)?.[1]).filter((x): x is string => x !== undefined).map(Number);
    assert.ok(losses.length >= 3, `the status showed each step's loss: ${JSON.stringify(app.log)}`);
    assert.ok(losses.at(-1)! < losses[0], `the loss falls: ${losses.join(' -> ')}`);
    assert.equal(app.chartPoints, losses.length, 'the chart has a point per step');
    assert.ok(app.baseline.length > 0 && app.tuned.length > 0, 'both generations are shown');
    assert.equal(app.reloaded, app.tuned, 'the adapter loaded back from its .zip generates the same');

    // Node loads the downloaded adapter.
    const adapterDir = join(work, `${c.model.replace(/\W+/g, '_')}-adapter`);
    mkdirSync(adapterDir, { recursive: true });
    const files = await unzipFiles(new Uint8Array(readFileSync(zipPath)), zipPath);
    assert.deepEqual(Object.keys(files).sort(), ['adapter_config.json', 'adapter_model.safetensors']);
    for (const [name, bytes] of Object.entries(files)) writeFileSync(join(adapterDir, name), bytes);
    const config = JSON.parse(readFileSync(join(adapterDir, 'adapter_config.json'), 'utf8'));
    assert.equal(config.peft_type, 'PROMPT_TUNING');
    assert.equal(config.num_virtual_tokens, 4);

    const tokenizer = await AutoTokenizer.from_pretrained(c.dir);
    const model = await AutoModelForCausalLM.from_pretrained(c.dir, { threads: 1 });
    try {
      const peft = await PeftModel.from_pretrained(model, adapterDir);
      const inputs = tokenizer(c.prompt);
      const opts = { ...inputs, max_new_tokens: 8, do_sample: false, eos_token_id: tokenizer.eos_token_id ?? undefined };
      const continuation = (ids: number[]) => tokenizer.decode(ids.slice(inputs.input_ids[0].length), { skip_special_tokens: true });
      assert.equal(continuation((await peft.generate(opts))[0]), app.tuned, 'Node continues as the app did with the adapter');
      assert.equal(continuation((await model.generate(opts))[0]), app.baseline, 'and without it');

      const out = await peft.forward(inputs);
      assert.deepEqual(out.logits.dims, app.logits.dims);
      let worst = 0;
      for (let i = 0; i < out.logits.data.length; i++) worst = Math.max(worst, Math.abs(out.logits.data[i] - app.logits.data[i]));
      t.diagnostic(`${c.model}: losses ${losses.join(' -> ')}; max |logit difference| ${worst.toExponential(2)}; tuned ${JSON.stringify(app.tuned)}`);
      assert.ok(worst < 1e-4, `logits agree within 1e-4 (max difference ${worst})`);
    } finally {
      await model.dispose();
    }
  } finally {
    await page.close();
  }
}

test('the web app trains, generates and downloads an adapter that Node reproduces: models/default', { timeout: 240_000 }, async (t) => {
  if (!needChromium(t)) return;
  await checkCase(t, {
    model: '/models/default/',
    dir: DEFAULT_MODEL,
    texts: [
      'Call me Ishmael. Some years ago, never mind how long precisely, I thought I would sail about a little.',
      'It is a way I have of driving off the spleen and regulating the circulation.',
      'Whenever I find myself growing grim about the mouth, I account it high time to get to sea.',
      'Yes, as every one knows, meditation and water are wedded for ever.',
    ],
    prompt: 'It was',
  });
});

test('the web app trains, generates and downloads an adapter that Node reproduces: a fixture model (stories260K)', { timeout: 240_000 }, async (t) => {
  if (!needChromium(t)) return;
  const dir = fixture(t, 'models', 'stories260K');
  if (!dir) return;
  const texts = JSON.parse(readFileSync(fixture(t, 'golden', 'stories260K', 'train_texts.json')!, 'utf8')) as string[];
  await checkCase(t, { model: 'stories260K', dir, texts: texts.slice(0, 6), prompt: 'Once upon a time' });
});
