// Builds the app in web/ into web/dist (served by `softprompt web`). It imports the library from source as
// 'softprompt/web'; the package.json "browser" field's swaps (Node-only modules -> their twins in src/web) are applied
// to src/ here the way bundlers apply them to dist/ for users of the package.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const sourceOf = (dist: string) => resolve(root, dist.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'));
const browserField = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')).browser as Record<string, string>;
const files = Object.entries(browserField).filter(([from]) => from.startsWith('./'));
const swaps = new Map(files.map(([node, web]) => [sourceOf(node), sourceOf(web)]));
/** Bare module ids the browser field maps to other modules (csv-parse's Node build to its browser build). */
const modules = new Map(Object.entries(browserField).filter(([from]) => !from.startsWith('./')));

function softpromptBrowser(): Plugin {
  return {
    name: 'softprompt-browser',
    enforce: 'pre',
    async resolveId(source, importer, options) {
      if (source === 'softprompt/web') return resolve(root, 'src/web/index.ts');
      if (modules.has(source)) return this.resolve(modules.get(source)!, importer, { ...options, skipSelf: true });
      if (!importer || !source.startsWith('.')) return null;
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
      return resolved && swaps.has(resolved.id) ? swaps.get(resolved.id)! : resolved;
    },
  };
}

export default defineConfig({
  root: resolve(root, 'web'),
  base: './',
  plugins: [softpromptBrowser()],
  worker: { format: 'es', plugins: () => [softpromptBrowser()] },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  build: {
    outDir: resolve(root, 'web/dist'),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
    reportCompressedSize: false,
    // The app, and the page `npm run bench:web` drives.
    rollupOptions: { input: { app: resolve(root, 'web/index.html'), bench: resolve(root, 'web/bench.html') } },
  },
  logLevel: 'warn',
});
