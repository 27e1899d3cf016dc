/**
 * `softprompt web [--port P] [--models DIR]`: serves the web app (web/, built by Vite into web/dist) with the
 * cross-origin isolation headers onnxruntime-web needs for WASM threads (COOP same-origin + COEP require-corp), the
 * embedded default model at /models/default/, each model folder of DIR (one holding config.json; or DIR itself, when
 * it is one) at /models/<name>/,
 * and the list of those names at /models/index.json. A checkout whose app is not built yet builds it first.
 */
import { createReadStream, existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { basename, extname, join, resolve, sep } from 'node:path';
import type { Command } from 'commander';
import { MissingError, OptionError } from '../errors.js';
import { DEFAULT_MODEL, PACKAGE_ROOT } from '../hub/default-model.js';
import { integerFlag } from './number-flags.js';

export const WEB_APP = join(PACKAGE_ROOT, 'web', 'dist');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.md': 'text/markdown; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** The model folders to serve: `default` (the embedded model) and each folder of `dir` that holds a config.json. */
export async function servedModels(dir: string | null): Promise<Map<string, string>> {
  const models = new Map([['default', DEFAULT_MODEL]]);
  if (dir === null) return models;
  // DIR may itself be a model folder: it is then served under its own name too.
  if (existsSync(join(dir, 'config.json')) && basename(resolve(dir)) !== 'default') models.set(basename(resolve(dir)), dir);
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => {
    throw new MissingError('is not a directory of model folders', dir);
  });
  for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const folder = join(dir, e.name);
    if (e.name === 'default' || !(e.isDirectory() || e.isSymbolicLink())) continue;
    if (existsSync(join(folder, 'config.json'))) models.set(e.name, folder);
  }
  return models;
}

/** Builds web/dist with Vite when this is a checkout (web/vite.config.ts and vite present) and it is missing. */
export async function ensureWebApp(say: (line: string) => void = () => {}): Promise<string> {
  if (existsSync(join(WEB_APP, 'index.html'))) return WEB_APP;
  const config = join(PACKAGE_ROOT, 'web', 'vite.config.ts');
  if (!existsSync(config)) throw new MissingError('the web app is not built and its sources are not here', WEB_APP);
  say('building the web app (vite build web/) ...');
  const vite = (await import('vite').catch(() => {
    throw new MissingError('the web app is not built and vite is not installed (npm install, then npm run build:web)', WEB_APP);
  })) as { build(opts: { configFile: string }): Promise<unknown> };
  await vite.build({ configFile: config });
  return WEB_APP;
}

async function sendFile(res: ServerResponse, path: string, head: boolean): Promise<void> {
  const info = await stat(path).catch(() => null);
  if (!info?.isFile()) {
    res.writeHead(404, { ...ISOLATION, 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
    return;
  }
  res.writeHead(200, {
    ...ISOLATION,
    'Content-Type': TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': info.size,
    'Cache-Control': 'no-cache',
  });
  if (head) res.end();
  else createReadStream(path).pipe(res);
}

/** `path` inside `root`, or null when it would step outside it. */
function inside(root: string, path: string): string | null {
  const full = resolve(root, `.${sep}${path}`);
  return full === root || full.startsWith(root + sep) ? full : null;
}

export interface WebServerOptions {
  port: number;
  host: string;
  models: Map<string, string>;
  app: string;
}

export function webServer(opts: WebServerOptions): Server {
  const names = JSON.stringify([...opts.models.keys()]);
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      res.writeHead(405, { ...ISOLATION, Allow: 'GET, HEAD' }).end();
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      res.writeHead(400, ISOLATION).end();
      return;
    }
    if (path === '/models/index.json') {
      res.writeHead(200, { ...ISOLATION, 'Content-Type': TYPES['.json'], 'Cache-Control': 'no-cache' }).end(head ? undefined : names);
      return;
    }
    const model = /^\/models\/([^/]+)\/(.*)$/.exec(path);
    let file: string | null;
    if (model) {
      const folder = opts.models.get(model[1]);
      file = folder ? inside(resolve(folder), model[2]) : null;
    } else {
      file = inside(resolve(opts.app), path.endsWith('/') ? `${path}index.html` : path);
    }
    if (file === null) {
      res.writeHead(404, { ...ISOLATION, 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    sendFile(res, file, head).catch(() => res.destroy());
  });
}

export async function runWeb(flags: { port: number; host: string; models?: string }): Promise<void> {
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const models = await servedModels(flags.models ?? null);
  const app = await ensureWebApp(say);
  const server = webServer({ port: flags.port, host: flags.host, models, app });
  await new Promise<void>((done, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) => fail(e.code === 'EADDRINUSE' ? new OptionError(`port ${flags.port} is in use`, '--port') : e));
    server.listen(flags.port, flags.host, done);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : flags.port;
  const host = flags.host.includes(':') ? `[${flags.host}]` : flags.host;
  say(`softprompt web: http://${host}:${port}/  (models: ${[...models.keys()].map((n) => `/models/${n}/`).join(', ')}; Ctrl-C stops)`);
  await new Promise<void>((done) => {
    const stop = () => server.close(() => done());
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    server.once('close', done);
  });
}

export function registerWeb(program: Command): void {
  program
    .command('web')
    .description('serve the web app: load a model, prompt-tune it and generate in the browser (onnxruntime-web)')
    .option(...integerFlag('--port <n>', 'port to listen on (0: any free port)', 0, 8080))
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--models <dir>', 'a folder of model folders (each with config.json) to serve at /models/<name>/')
    .action(async (flags: { port: number; host: string; models?: string }) => runWeb(flags));
}
