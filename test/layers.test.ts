// The top-level folders of src/ are layers: each imports only the layers below it (and the root files errors.ts,
// random.ts, shape.ts); src/index.ts sits on top. The order is the one docs/design.md states.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SRC = join(repoRoot, 'src');
const BASE = ['errors', 'random', 'shape'];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** The layer order, bottom first, from the design doc's line "Layers, bottom to top: `a/` → `b/` → ...". */
function documentedOrder(): string[] {
  const line = readFileSync(join(repoRoot, 'docs', 'design.md'), 'utf8').split('\n').find((l) => l.startsWith('Layers, bottom to top:'));
  assert.ok(line, 'docs/design.md has a line starting "Layers, bottom to top:"');
  return [...line.matchAll(/`([a-z-]+)\/`/g)].map((m) => m[1]);
}

/** [importing layer, imported layer, file] for every relative import that crosses a top-level folder. */
function crossings(): Array<[string, string, string]> {
  const top = (p: string) => relative(SRC, p).split(sep)[0].replace(/\.ts$/, '');
  return sources(SRC).flatMap((file) =>
    [...readFileSync(file, 'utf8').matchAll(/(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/g)]
      .map((m) => resolve(dirname(file), m[1] ?? m[2]))
      .filter((target) => top(target) !== top(file))
      .map((target): [string, string, string] => [top(file), top(target), relative(repoRoot, file)]),
  );
}

test('every top-level folder of src/ is a documented layer', () => {
  const folders = readdirSync(SRC).filter((n) => statSync(join(SRC, n)).isDirectory()).sort();
  assert.deepEqual([...documentedOrder()].sort(), folders);
});

test('each layer imports only the layers below it', () => {
  const order = documentedOrder();
  const rank = (layer: string) => (BASE.includes(layer) ? -1 : layer === 'index' ? order.length : order.indexOf(layer));
  const upward = crossings().filter(([from, to]) => rank(to) >= rank(from));
  assert.deepEqual(upward.map(([from, to, file]) => `${file}: ${from} imports ${to}`), []);
});

test('the root files below every layer import no layer', () => {
  const imports = crossings().filter(([from, to]) => BASE.includes(from) && !BASE.includes(to));
  assert.deepEqual(imports, []);
});
