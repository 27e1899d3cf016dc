// `node dist/scripts/web-screenshots.js [OUT_DIR]`: the web app in headless Chromium on the default model, with
// screenshots while training (web-app-training.png) and after generating (web-app.png), for the README.
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { servedModels, webServer } from '../src/cli/web.js';
import { PACKAGE_ROOT } from '../src/hub/default-model.js';
import { CHROMIUM_ARGS, findChromium } from '../bench/chromium.js';

const out = resolve(process.argv[2] ?? 'docs');
const { build } = await import('vite');
await build({ configFile: join(PACKAGE_ROOT, 'web', 'vite.config.ts'), logLevel: 'warn' });
const server = webServer({ port: 0, host: '127.0.0.1', models: await servedModels(null), app: join(PACKAGE_ROOT, 'web', 'dist') });
await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
const browser = await chromium.launch({ executablePath: findChromium() ?? undefined, args: CHROMIUM_ARGS });
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 900 }, deviceScaleFactor: 1 });
  await page.goto(`http://127.0.0.1:${(server.address() as { port: number }).port}/`);
  await page.getByRole('button', { name: 'Load model' }).click();
  await page.getByRole('spinbutton', { name: 'Epochs' }).fill('10');
  await page.getByRole('button', { name: 'Train' }).click({ timeout: 60_000 });
  await page.getByRole('status').filter({ hasText: /^step [4-9]/ }).waitFor({ timeout: 120_000 });
  await page.screenshot({ path: join(out, 'web-app-training.png'), fullPage: true });
  await page.getByRole('status').filter({ hasText: 'done' }).waitFor({ timeout: 120_000 });
  await page.getByRole('button', { name: 'Generate' }).click();
  await page.getByLabel('Baseline output').filter({ hasText: /\S/ }).waitFor();
  await page.waitForFunction(() => !(globalThis as unknown as { document: { getElementById(id: string): { disabled: boolean } } }).document.getElementById('generate').disabled);
  await page.screenshot({ path: join(out, 'web-app.png'), fullPage: true });
  console.log(`wrote ${join(out, 'web-app-training.png')} and ${join(out, 'web-app.png')}`);
} finally {
  await browser.close();
  server.close();
}
