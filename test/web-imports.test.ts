// softprompt/web must bundle for a browser: from its entry (and its worker), following package.json's "browser"
// swaps as bundlers do, no module may import a Node builtin or onnxruntime-node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const browser = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).browser as Record<string, string>;
const source = (dist: string) => resolve(root, dist.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts'));
const swaps = new Map(Object.entries(browser).filter(([k]) => k.startsWith('./')).map(([k, v]) => [source(k), source(v)]));

/** Every external module id reachable from `entries` by value imports, with the file that imports it. */
function externals(entries: string[]): Array<[string, string]> {
  const seen = new Set<string>();
  const found: Array<[string, string]> = [];
  const walk = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(/^(?:import|export)\s(?!type\b)[^'"]*?from\s+'([^']+)'|^import\s+'([^']+)'/gm)) {
      const id = m[1] ?? m[2];
      if (!id.startsWith('.')) found.push([browser[id] ?? id, relative(root, file)]);
      else {
        const target = resolve(dirname(file), id.replace(/\.js$/, '.ts'));
        assert.ok(existsSync(target), `${relative(root, file)} imports ${id}, which is not there`);
        walk(swaps.get(target) ?? target);
      }
    }
  };
  entries.forEach((e) => walk(join(root, e)));
  return found;
}

test('the browser entry and its worker reach no Node builtin and not onnxruntime-node', () => {
  const reached = externals(['src/web/index.ts', 'src/web/engine-worker.ts']);
  const nodeOnly = reached.filter(([id]) => id.startsWith('node:') || id === 'onnxruntime-node' || ['fs', 'path', 'os', 'crypto', 'worker_threads'].includes(id));
  assert.deepEqual(nodeOnly.map(([id, file]) => `${file} imports ${id}`), []);
  assert.ok(reached.some(([id]) => id === 'onnxruntime-web'), 'the worker runs onnxruntime-web');
});

test('every "browser" swap names files that exist, Node module and browser twin', () => {
  for (const [node, web] of swaps) {
    assert.ok(existsSync(node), `${relative(root, node)} (a key of package.json "browser") exists`);
    assert.ok(existsSync(web), `${relative(root, web)} (its browser twin) exists`);
  }
});
