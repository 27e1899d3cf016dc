// File-system failures are the user's to fix: a full disk, a read-only file system, a file where a directory should
// be (or the reverse) end with one line naming the path and exit 2; output_dir is tried before training starts; a
// failed save leaves the previous adapter intact and no temporary files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FileSystemError } from '../src/errors.js';
import { fileSystemError, writeFileAtomic } from '../src/hub/local.js';
import { DirectoryCheckpointStore } from '../src/train/checkpoint-files.js';
import { assertUserError, BIN, tempDir, TINY_MODEL, TINY_TEXTS, trainTiny, type CliResult } from './cli-helpers.js';
import { fixture } from './fixtures.js';

test('errno failures map to a FileSystemError naming the path; other errors pass through', () => {
  for (const code of ['ENOSPC', 'EROFS', 'EACCES', 'EEXIST', 'EISDIR', 'ENOTDIR']) {
    const e = Object.assign(new Error('boom'), { code, syscall: 'open', path: '/some/file' });
    const mapped = fileSystemError(e);
    assert.ok(mapped instanceof FileSystemError, code);
    assert.match(mapped.message, new RegExp(`^/some/file: .*\\(${code} in open\\)$`));
  }
  const plain = new Error('x');
  assert.equal(fileSystemError(plain), plain);
});

test('an output_dir that is a file fails before training, naming it', (t) => {
  if (!fixture(t, 'models', 'stories260K')) return;
  const file = join(tempDir(), 'taken');
  writeFileSync(file, 'not a directory');
  const r = trainTiny(file, ['--max_steps', '1']);
  assertUserError(r, new RegExp(`${file}: a file is in the way; expected a directory`));
  assert.doesNotMatch(r.stderr, /training on/);
  assertUserError(trainTiny(join(file, 'below'), ['--max_steps', '1']), /taken.*ENOTDIR|ENOTDIR.*taken|taken\/below.*not a directory|a part of the path/);
});

test('a config.json that is a directory is one line (EISDIR)', (t) => {
  if (!fixture(t, 'models', 'stories260K')) return;
  const model = tempDir();
  for (const f of readdirSync(TINY_MODEL)) if (f !== 'config.json') symlinkSync(join(TINY_MODEL, f), join(model, f));
  mkdirSync(join(model, 'config.json'));
  assertUserError(runWith(model), /config\.json: is a directory, expected a file/);
});

function runWith(model: string): CliResult {
  const r = spawnSync(process.execPath, [BIN, 'train', '--model', model, '--dataset', TINY_TEXTS, '--output_dir', tempDir(), '--max_steps', '1'], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the checkpoint store refuses an unwritable directory before training', async () => {
  const file = join(tempDir(), 'file');
  writeFileSync(file, '');
  await assert.rejects(new DirectoryCheckpointStore(join(file, 'out')).prepare(), FileSystemError);
});

/**
 * Runs `softprompt train` once per argument list with `dir` a fresh tmpfs (`options`: size=, ro) in a private mount
 * namespace; each result's stderr, and after each run a listing of `dir`. Null where mount namespaces are not allowed.
 */
function onTmpfs(dir: string, options: string, argsList: string[][]): CliResult[] | null {
  const probe = spawnSync('unshare', ['-rm', 'true']);
  if (probe.status !== 0) return null;
  const runs: string[] = argsList.map((a) => [process.execPath, BIN, 'train', ...a].map((x) => `'${x.replace(/'/g, "'\\''")}'`).join(' '));
  const body = `mount -t tmpfs -o ${options} tmpfs '${dir}' || exit 99\n${runs.map((r) => `${r}; echo "@@EXIT $?" 1>&2; echo "@@LS $(ls -A '${dir}' | tr '\\n' ' ')" 1>&2`).join('\n')}`;
  const r = spawnSync('unshare', ['-rm', 'sh', '-c', body], { encoding: 'utf8', timeout: 60_000 });
  if (r.status === 99) return null;
  const parts = r.stderr.split(/@@LS [^\n]*\n/);
  const out: CliResult[] = [];
  for (const part of parts.slice(0, argsList.length)) {
    const m = /@@EXIT (\d+)/.exec(part);
    out.push({ code: m ? Number(m[1]) : null, stdout: '', stderr: part.replace(/@@EXIT \d+\n?/, '') });
  }
  (out as CliResult[] & { listings?: string[] }).listings = [...r.stderr.matchAll(/@@LS ([^\n]*)/g)].map((m) => m[1].trim());
  return out;
}

test('a read-only output_dir fails before training (EROFS), naming it', (t) => {
  if (!fixture(t, 'models', 'stories260K')) return;
  const dir = tempDir();
  const runs = onTmpfs(dir, 'ro', [['--model', TINY_MODEL, '--dataset', TINY_TEXTS, '--output_dir', dir, '--max_steps', '1']]);
  if (!runs) return t.skip('cannot mount a tmpfs here');
  assertUserError(runs[0], new RegExp(`${dir}.*read-only`));
  assert.doesNotMatch(runs[0].stderr, /training on/);
});

test('a full disk: exit 2 naming the path; the previous adapter stays intact and no temporary file remains', (t) => {
  if (!fixture(t, 'models', 'stories260K')) return;
  const dir = tempDir();
  const common = ['--model', TINY_MODEL, '--dataset', TINY_TEXTS, '--output_dir', dir, '--max_length', '64'];
  // 3 pages: the first run's two adapter files fit; a checkpoint's four files do not.
  const runs = onTmpfs(dir, 'size=12k', [
    [...common, '--max_steps', '1', '--save_strategy', 'no', '--seed', '1'],
    [...common, '--max_steps', '2', '--save_steps', '1'],
  ]);
  if (!runs) return t.skip('cannot mount a tmpfs here');
  assert.equal(runs[0].code, 0, runs[0].stderr);
  assertUserError(runs[1], /no space left on the device \(ENOSPC/);
  const listings = (runs as CliResult[] & { listings?: string[] }).listings!;
  assert.equal(listings[1], listings[0], 'the second run left files behind or lost the adapter');
  assert.deepEqual(listings[0].split(' ').sort(), ['adapter_config.json', 'adapter_model.safetensors']);
});

test('writeFileAtomic keeps the old file and leaves no temp file when the write fails', async () => {
  const dir = tempDir();
  const path = join(dir, 'a.json');
  await writeFileAtomic(path, 'old');
  mkdirSync(join(dir, 'sub'));
  await assert.rejects(writeFileAtomic(join(dir, 'sub'), 'new'), FileSystemError); // rename onto a directory: EISDIR
  assert.equal(readFileSync(path, 'utf8'), 'old');
  assert.deepEqual(readdirSync(dir).sort(), ['a.json', 'sub']);
});
