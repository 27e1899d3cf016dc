/**
 * What a PeftModel's adapters give generation, as PEFT's generate does: the active adapter for every row (a shared
 * prompt or prefix, or with a multitask adapter each row's task prompt, batched as PEFT batches them), or one adapter
 * per row (`adapter_names`, null for none): a mixed batch, in which each row comes out as it would alone and rows may
 * use different methods.
 */
import { OptionError, ShapeError } from '../errors.js';
import { virtualTokensPosition, type VirtualTokensPosition } from '../peft/config.js';
import type { PeftModel, RowInput } from '../peft/peft-model.js';
import type { InputOptions, SoftPrompt } from './inputs.js';

export interface AdapterSelection {
  /** Multitask prompt tuning: each row's task. */
  task_ids?: number[] | null;
  /** One adapter name per row (null: the base model alone); absent: the active adapter for every row. */
  adapter_names?: Array<string | null>;
}

export async function adapterInputs(peft: PeftModel, rows: number, s: AdapterSelection = {}): Promise<Pick<InputOptions, 'prompt' | 'prompts' | 'row_prompts' | 'prompt_position'>> {
  const asSoft = (x: RowInput): SoftPrompt | null => (x === null ? null : 'prompt' in x ? x.prompt : x);
  // Where the prompts go (virtual_tokens_position); a prefix is always in front, as the cache.
  const placement = (name: string): VirtualTokensPosition | null => {
    const config = peft.adapterConfig(name);
    return config.peft_type === 'PREFIX_TUNING' ? null : virtualTokensPosition(config);
  };
  const placed = (position: VirtualTokensPosition | null | undefined) => (position === 'before_completion' ? { prompt_position: position } : {});
  if (s.adapter_names === undefined) {
    const inputs = await peft.rowInputs(peft.activeAdapter, rows, s.task_ids);
    const position = placed(placement(peft.activeAdapter));
    if (peft.adapterConfig().peft_type === 'MULTITASK_PROMPT_TUNING') return { row_prompts: inputs.map((x) => (x as { prompt: Float32Array }).prompt), ...position };
    return { prompt: asSoft(inputs[0]), ...position };
  }
  const names = s.adapter_names;
  if (names.length !== rows) throw new ShapeError(`has ${names.length} names for ${rows} rows; expected one per row`, 'adapter_names');
  if (s.task_ids && s.task_ids.length !== rows) throw new ShapeError(`has ${s.task_ids.length} entries for ${rows} rows; expected one per row`, 'task_ids');
  const positions = new Set(names.map((name) => (name === null ? null : placement(name))).filter((p) => p !== null));
  if (positions.size > 1) {
    throw new OptionError('adapters that put their virtual tokens in front and ones that put them before the completion cannot share a batch', 'adapter_names');
  }
  const prompts = await Promise.all(
    names.map(async (name, b) => (name === null ? null : asSoft((await peft.rowInputs(name, 1, s.task_ids ? [s.task_ids[b]] : null))[0]))),
  );
  return { prompts, ...placed([...positions][0]) };
}
