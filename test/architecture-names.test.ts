// Architectures declare their own facts: outside a family's file in src/models/, no code names the family or branches
// on ModelConfig.arch / modelType; it asks architectureOf(config) instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ARCHITECTURES } from '../src/models/architectures.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SRC = join(repoRoot, 'src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

const familyFile = (name: string) => join(SRC, 'models', `${name}.ts`);

test('every registered architecture lives in src/models/<name>.ts', () => {
  for (const arch of ARCHITECTURES) assert.ok(existsSync(familyFile(arch.name)), arch.name);
});

test('no code branches on the architecture name', () => {
  const name = String.raw`[\w.]*\b(?:arch|modelType)\b`;
  const branch = new RegExp(String.raw`${name}\s*[!=]==?\s*['"\x60]|['"\x60]\s*[!=]==?\s*${name}|switch\s*\(\s*${name}\s*\)`);
  const found = sources(SRC)
    .filter((file) => !ARCHITECTURES.some((a) => familyFile(a.name) === file))
    .flatMap((file) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .map((line, i) => `${relative(repoRoot, file)}:${i + 1}: ${line.trim()}`)
        .filter((line) => branch.test(line)),
    );
  assert.deepEqual(found, []);
});

test("a family's names (its name, classes, model types) are quoted only in its own file", () => {
  const found = ARCHITECTURES.flatMap((arch) => {
    const names = [arch.name, ...arch.classes, ...arch.modelTypes];
    const quoted = new RegExp(`(['"\`])(?:${names.join('|')})\\1`);
    return sources(SRC)
      .filter((file) => file !== familyFile(arch.name))
      .flatMap((file) =>
        readFileSync(file, 'utf8')
          .split('\n')
          .map((line, i) => `${relative(repoRoot, file)}:${i + 1}: ${line.trim()}`)
          .filter((line) => quoted.test(line)),
      );
  });
  assert.deepEqual(found, []);
});
