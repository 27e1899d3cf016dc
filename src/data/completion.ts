/**
 * Prompt-completion data, as TRL's SFTTrainer takes it: each row gives a prompt (the task's input) and a completion
 * (the answer), and the loss falls on the completion tokens only (completion_only_loss). The parts come from two
 * templates ("Email: {text}\nAnswer:" and " {label}") or two columns. Tokenized as TRL does: the prompt alone and
 * prompt + completion are encoded, and the first len(prompt ids) positions of the whole are masked out. A sequence
 * longer than max_length loses tokens from the left (the start of the prompt), so the answer is always kept, as
 * lm-evaluation-harness truncates a context.
 */
import { OptionError, ShapeError } from '../errors.js';
import type { CompletionExample } from './collator.js';
import type { Row } from './rows.js';
import { rowTexts } from './text.js';

export interface CompletionSpec {
  /** Builds the prompt from columns, e.g. "Email: {text}\nAnswer:". */
  template?: string;
  /** Builds the completion from columns, e.g. " {label}". */
  completion_template?: string;
  prompt_column?: string;
  completion_column?: string;
}

/** One task example: the text the model is given, and the completion the loss is on. */
export interface PromptCompletion {
  prompt: string;
  completion: string;
}

/** True when the spec asks for prompt-completion data (a completion template or column). */
export function isCompletionSpec(spec: CompletionSpec): boolean {
  return spec.completion_template !== undefined || spec.completion_column !== undefined;
}

export function promptCompletions(rows: Row[], spec: CompletionSpec, source: string): PromptCompletion[] {
  if (spec.completion_template !== undefined && spec.completion_column !== undefined) {
    throw new OptionError('give a completion template or a completion column, not both', 'completion_template');
  }
  if (spec.template !== undefined && spec.prompt_column !== undefined) {
    throw new OptionError('give a template or a prompt column, not both', 'prompt_column');
  }
  if (!isCompletionSpec(spec)) throw new OptionError('prompt-completion data needs a completion template or column', 'completion_template');
  if (spec.template === undefined && spec.prompt_column === undefined) {
    throw new OptionError('prompt-completion data needs a template or a prompt column for the prompt part', 'template');
  }
  const prompts = rowTexts(rows, spec.template !== undefined ? { template: spec.template } : { column: spec.prompt_column }, source);
  const completions = rowTexts(
    rows,
    spec.completion_template !== undefined ? { template: spec.completion_template } : { column: spec.completion_column },
    source,
  );
  return prompts.map((prompt, i) => ({ prompt, completion: completions[i] }));
}

export const SOFT_PROMPT_SLOT = '{soft_prompt}';

/**
 * A `{soft_prompt}` slot in a prompt template says where the virtual tokens go: at its start (in front, as PEFT places
 * them) or at its end (right before the completion). Returns the template without it, and that position (null without
 * a slot). Not `{prompt}`: that names a column in TRL's prompt-completion datasets.
 */
export function softPromptSlot(template: string): { template: string; position: 'start' | 'before_completion' | null } {
  const count = template.split(SOFT_PROMPT_SLOT).length - 1;
  if (count === 0) return { template, position: null };
  if (count === 1 && template.startsWith(SOFT_PROMPT_SLOT)) return { template: template.slice(SOFT_PROMPT_SLOT.length), position: 'start' };
  if (count === 1 && template.endsWith(SOFT_PROMPT_SLOT)) return { template: template.slice(0, -SOFT_PROMPT_SLOT.length), position: 'before_completion' };
  throw new OptionError(`${SOFT_PROMPT_SLOT} may stand once, at the start of the template (in front of the input) or at its end (before the completion)`, 'template');
}

export interface CompletionEncoder {
  encode(text: string): number[];
}

/**
 * TRL's tokenization of a prompt-completion pair: ids of prompt + completion (default special tokens) with
 * completion_mask 0 on the first len(encode(prompt)) positions and 1 after; cut from the left to max_length.
 */
export function tokenizePromptCompletion(pair: PromptCompletion, tokenizer: CompletionEncoder, max_length?: number): CompletionExample {
  const promptLength = tokenizer.encode(pair.prompt).length;
  const ids = tokenizer.encode(pair.prompt + pair.completion);
  const mask = ids.map((_, t) => (t < promptLength ? 0 : 1));
  const cut = max_length === undefined ? 0 : Math.max(0, ids.length - max_length);
  return { input_ids: ids.slice(cut), completion_mask: mask.slice(cut) };
}

/** Every pair tokenized; a pair whose completion gives no tokens cannot be trained on and is an error naming its row. */
export function tokenizePromptCompletions(pairs: PromptCompletion[], tokenizer: CompletionEncoder, max_length: number | undefined, source: string): CompletionExample[] {
  return pairs.map((pair, i) => {
    const example = tokenizePromptCompletion(pair, tokenizer, max_length);
    if (!example.completion_mask.includes(1)) {
      throw new ShapeError(`the completion ${JSON.stringify(pair.completion)} gives no tokens after the prompt`, `${source} row ${i + 1}`);
    }
    return example;
  });
}
