// Locates ../shared/fixtures. Where it is absent (a user's clone) fixture tests skip with a reason; under CI=true a
// missing fixture is a failure, so CI can never pass by skipping.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = process.env.SOFTPROMPT_FIXTURES ?? join(repoRoot, '..', 'shared', 'fixtures');

/** Returns the fixture path, or null after marking the test skipped (outside CI). */
export function fixture(t: TestContext, ...parts: string[]): string | null {
  const p = join(FIXTURES, ...parts);
  if (existsSync(p)) return p;
  if (process.env.CI === 'true') throw new Error(`fixture missing under CI: ${p}`);
  t.skip(`fixture not found: ${p}`);
  return null;
}

export const FIXTURE_MODELS = ['bloom-tiny-4h', 'bloom-tiny-6h', 'gpt2-tiny', 'llama-tiny', 'stories260K'];

/** The fixture models of the families added after the first four ("More architectures" in the fixtures README). */
export const MORE_FAMILIES = [
  'qwen3-tiny', 'olmo2-tiny', 'granite-tiny', 'smollm3-tiny', 'phi3-tiny', 'mistral-tiny', 'gemma-tiny', 'gemma2-tiny',
  'gemma3-tiny', 'gpt-neox-tiny', 'opt-tiny', 'phi-tiny', 'stablelm-tiny', 'falcon-tiny',
];
