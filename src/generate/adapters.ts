/**
 * What a PeftModel's adapters give generation, as PEFT's generate does: the active adapter for every row (a shared
 * prompt or prefix, or with a multitask adapter each row's task prompt, batched as PEFT batches them), or one adapter
 * per row (`adapter_names`, null for none): a mixed batch, in which each row comes out as it would alone and rows may
 * use different methods.
 */
import { ShapeError } from '../errors.js';
import type { PeftModel, RowInput } from '../peft/peft-model.js';
import type { InputOptions, SoftPrompt } from './inputs.js';

export interface AdapterSelection {
  /** Multitask prompt tuning: each row's task. */
  task_ids?: number[] | null;
  /** One adapter name per row (null: the base model alone); absent: the active adapter for every row. */
  adapter_names?: Array<string | null>;
}

export async function adapterInputs(peft: PeftModel, rows: number, s: AdapterSelection = {}): Promise<Pick<InputOptions, 'prompt' | 'prompts' | 'row_prompts'>> {
  const asSoft = (x: RowInput): SoftPrompt | null => (x === null ? null : 'prompt' in x ? x.prompt : x);
  if (s.adapter_names === undefined) {
    const inputs = await peft.rowInputs(peft.activeAdapter, rows, s.task_ids);
    if (peft.adapterConfig().peft_type === 'MULTITASK_PROMPT_TUNING') return { row_prompts: inputs.map((x) => (x as { prompt: Float32Array }).prompt) };
    return { prompt: asSoft(inputs[0]) };
  }
  const names = s.adapter_names;
  if (names.length !== rows) throw new ShapeError(`has ${names.length} names for ${rows} rows; expected one per row`, 'adapter_names');
  if (s.task_ids && s.task_ids.length !== rows) throw new ShapeError(`has ${s.task_ids.length} entries for ${rows} rows; expected one per row`, 'task_ids');
  const prompts = await Promise.all(
    names.map(async (name, b) => (name === null ? null : asSoft((await peft.rowInputs(name, 1, s.task_ids ? [s.task_ids[b]] : null))[0]))),
  );
  return { prompts };
}
