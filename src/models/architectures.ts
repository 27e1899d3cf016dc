/**
 * The families softprompt implements. Adding one is a file in src/models/ that exports its `Architecture`, and a line
 * here; everything else asks `architectureOf(config)` for the family's facts instead of checking its name.
 */
import { UnsupportedError } from '../errors.js';
import type { Architecture } from './architecture.js';
import { bloom } from './bloom.js';
import type { ConfigFields } from './config-fields.js';
import type { ModelConfig } from './config.js';
import { falcon } from './falcon.js';
import { gemma } from './gemma.js';
import { gemma2 } from './gemma2.js';
import { gemma3 } from './gemma3.js';
import { gpt2 } from './gpt2.js';
import { gptNeox } from './gpt-neox.js';
import { granite } from './granite.js';
import { llama } from './llama.js';
import { mistral } from './mistral.js';
import { olmo2 } from './olmo2.js';
import { opt } from './opt.js';
import { phi } from './phi.js';
import { phi3 } from './phi3.js';
import { qwen2 } from './qwen2.js';
import { qwen3 } from './qwen3.js';
import { smollm3 } from './smollm3.js';
import { stablelm } from './stablelm.js';

export const ARCHITECTURES: readonly Architecture[] = [
  bloom, gpt2, llama, qwen2, qwen3, olmo2, granite, smollm3, phi3, gptNeox, opt, phi, stablelm, falcon, mistral, gemma, gemma2, gemma3,
];

const byName = new Map(ARCHITECTURES.map((a) => [a.name, a]));

export function architectureOf(cfg: ModelConfig): Architecture {
  const arch = byName.get(cfg.arch);
  if (!arch) throw new UnsupportedError(`no architecture named ${JSON.stringify(cfg.arch)}`, 'arch');
  return arch.forConfig?.(cfg) ?? arch;
}

/** Width of a soft-prompt row: PEFT's token_dim, what is concatenated with the token embeddings. */
export function promptWidth(cfg: ModelConfig): number {
  return architectureOf(cfg).promptWidth?.(cfg) ?? cfg.hiddenSize;
}

/** The family config.json describes: by `architectures[0]`, else by `model_type` (e.g. a bare GPT2Model export). */
export function findArchitecture(f: ConfigFields): Architecture {
  const listed = f.raw.architectures;
  const first = Array.isArray(listed) ? listed[0] : undefined;
  const byClass = ARCHITECTURES.find((a) => typeof first === 'string' && a.classes.includes(first));
  if (byClass) return byClass;
  const modelType = f.optionalString('model_type');
  const byType = ARCHITECTURES.find((a) => modelType !== null && a.modelTypes.includes(modelType));
  if (byType) return byType;
  const found = [first, modelType].filter((v) => v !== undefined && v !== null).map((v) => JSON.stringify(v));
  throw new UnsupportedError(
    `unsupported model ${found.length ? found.join(' / ') : '(no architectures or model_type)'}; ` +
      `supported: ${ARCHITECTURES.flatMap((a) => a.classes).join(', ')} ` +
      `(model_type ${ARCHITECTURES.flatMap((a) => a.modelTypes).join(', ')})`,
    f.source,
  );
}

/**
 * The most positions a sequence may take (virtual tokens included), with the config key that sets it; null where
 * positions are computed (RoPE, ALiBi) and transformers checks no limit either.
 */
export function hardPositionLimit(cfg: ModelConfig): { max: number; key: string } | null {
  const arch = architectureOf(cfg);
  if (arch.positions !== 'learned' || arch.positionLimit === null || cfg.maxPositions === null) return null;
  return { max: cfg.maxPositions, key: arch.positionLimit.key };
}

/**
 * The most positions a training sequence may take (virtual tokens included): a learned table's size, and for RoPE the
 * max_position_embeddings the model was trained to (positions past it are out of distribution; transformers trains
 * them silently, softprompt refuses), unless dynamic scaling is configured to stretch it. Null for ALiBi.
 */
export function trainingPositionLimit(cfg: ModelConfig): { max: number; key: string } | null {
  const arch = architectureOf(cfg);
  if (arch.positionLimit === null || cfg.maxPositions === null) return null;
  if (arch.positions === 'rope' && cfg.ropeScaling?.type === 'dynamic') return null;
  return { max: cfg.maxPositions, key: arch.positionLimit.key };
}
