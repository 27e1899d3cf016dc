// Reads a fixture model and its goldens (what transformers + PEFT computed) for the parity tests.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/models/pretrained.js';
import { loadWeights } from '../src/weights/files.js';
import { PretrainedModel } from '../src/models/model.js';
import type { Engine } from '../src/runtime/engine.js';
import { Safetensors } from '../src/weights/safetensors.js';
import { FIXTURES } from './fixtures.js';

export interface GoldenCase {
  input_ids: number[][];
  attention_mask: number[][];
  labels: number[][];
}

export interface Golden {
  inputs: { cases: Record<string, GoldenCase>; num_virtual_tokens: number; init_text: string; pad_token_id: number; token_ids_unpadded: number[][] };
  results: Record<string, unknown>;
  tensors: Safetensors;
}

export function readGolden(model: string): Golden {
  const dir = join(FIXTURES, 'golden', model);
  const path = join(dir, 'tensors.safetensors');
  return {
    inputs: JSON.parse(readFileSync(join(dir, 'inputs.json'), 'utf8')),
    results: JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')),
    tensors: Safetensors.parse(readFileSync(path), path),
  };
}

export async function loadFixtureModel(model: string, engine: Engine): Promise<PretrainedModel> {
  const dir = join(FIXTURES, 'models', model);
  return new PretrainedModel(await loadConfig(dir), await loadWeights(dir), engine, dir);
}

/** max |got - want| / max |want|, the parity measure the issues state tolerances in. */
export function relDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Infinity;
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    ref = Math.max(ref, Math.abs(want[i]));
  }
  return diff / (ref || 1);
}
