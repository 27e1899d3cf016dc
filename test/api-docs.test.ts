// The API reference (docs/api, linked from the README) is TypeDoc's output for src/index.ts with every public export
// documented (warnings are errors in typedoc.json); this rebuilds it and fails when the committed copy is stale.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const out = mkdtempSync(join(tmpdir(), 'softprompt-docs-'));
after(() => rmSync(out, { recursive: true, force: true }));

const files = (dir: string) => (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.md')).sort();

test('npm run docs documents every public export, and docs/api is up to date (run `npm run docs` after changing TSDoc)', () => {
  const typedoc = resolve('node_modules', 'typedoc', 'bin', 'typedoc');
  const r = spawnSync(process.execPath, [typedoc, '--out', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const committed = resolve('docs', 'api');
  assert.deepEqual(files(out), files(committed));
  for (const f of files(out)) assert.equal(readFileSync(join(out, f), 'utf8'), readFileSync(join(committed, f), 'utf8'), f);
});
