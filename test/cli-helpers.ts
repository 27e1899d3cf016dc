// Running the `softprompt` command from a test, and the shape of a user error: exit 2, one line, no stack trace.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FIXTURES } from './fixtures.js';

export const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'softprompt.js');
export const TINY_MODEL = join(FIXTURES, 'models', 'stories260K');
export const TINY_TEXTS = join(FIXTURES, 'golden', 'stories260K', 'train_texts.json');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function softprompt(args: string[], opts: { timeout?: number; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: opts.timeout ?? 60_000, env: opts.env ?? process.env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function tempDir(prefix = 'softprompt-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * Exit 2 and exactly one error line ("softprompt: ...", the last one) matching `message`, no stack trace. Progress
 * lines a training run printed before the error may precede it.
 */
export function assertUserError(r: CliResult, message: RegExp): void {
  assert.equal(r.code, 2, `exit ${r.code}: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  const errors = lines.filter((l) => l.startsWith('softprompt:'));
  assert.equal(errors.length, 1, r.stderr);
  assert.equal(errors[0], lines[lines.length - 1], r.stderr);
  assert.match(errors[0], message);
  assert.doesNotMatch(r.stderr, /^\s+at /m);
}

/** `softprompt train` on the tiny fixture model with the given output_dir and extra flags. */
export function trainTiny(out: string, extra: string[] = [], opts: { timeout?: number } = {}): CliResult {
  return softprompt(['train', '--model', TINY_MODEL, '--dataset', TINY_TEXTS, '--output_dir', out, '--max_length', '64', ...extra], opts);
}
