/**
 * A classification or generation task as lm-evaluation-harness (0.4) describes one in YAML: each row becomes a doc
 * with its text (`doc_to_text`: a template over the row's columns), its choices (`doc_to_choice`: a fixed list or a
 * column) and its gold answer (`doc_to_target`: the label column, a choice or its index). The context of a doc is
 * lm-eval's ContextSampler.get_context: description + k labelled examples, each
 * `text + target_delimiter + target`, joined and followed by fewshot_delimiter, then the doc's text. The k examples
 * are drawn with a generator seeded once with fewshot_seed, doc after doc in order (lm-eval's `rnd.sample`, with
 * softprompt's generator rather than Python's Mersenne Twister); drawn from the same rows, k + 1 are drawn and the
 * doc itself is removed.
 *
 * With a chat template (lm-eval's --apply_chat_template), the same parts are turns rendered with
 * add_generation_prompt=True: the description as a system message, then with fewshot_as_multiturn each example as a
 * user turn (its text) and an assistant turn (its target) and the doc as the last user turn; without it, everything
 * after the system message as one user turn, the plain context's text.
 */
import { FormatError, OptionError, ShapeError } from '../errors.js';
import type { ChatRenderer } from '../data/chat.js';
import type { Row } from '../data/rows.js';
import { rowTexts } from '../data/text.js';
import { Generator } from '../random.js';
import type { ChatMessage } from '../tokenizer/chat-template.js';

export interface TaskConfig {
  task: string;
  /** doc_to_text: a template over the row's columns, e.g. "Email: {text}\nAnswer:". */
  template: string;
  /** A fixed list of choices (multiple choice), or ... */
  choices?: string[];
  /** ... a column holding each row's list of choices (a JSON list, or a JSON-encoded one). */
  choices_column?: string;
  /** The gold answer: a choice, or its index into the choices; the target string for --generate. */
  label_column: string;
  /** Default " " (lm-eval's). */
  target_delimiter: string;
  /** Default "\n\n" (lm-eval's). */
  fewshot_delimiter: string;
  num_fewshot: number;
  /** Default 1234 (lm-eval's). */
  fewshot_seed: number;
  /** Text before the few-shot examples (lm-eval's description). */
  description: string;
  /** 'multiple_choice' (log-likelihood of each choice) or 'generate_until' (greedy decoding, exact_match). */
  output_type: 'multiple_choice' | 'generate_until';
  /** lm-eval's --apply_chat_template: contexts are rendered with the model's chat template. */
  apply_chat_template?: boolean;
  /** With a chat template: few-shot examples as user/assistant turns (default, as lm-eval's), else one user turn. */
  fewshot_as_multiturn?: boolean;
}

export interface Doc {
  /** Index of the row in its dataset. */
  index: number;
  text: string;
  /** Empty for generation tasks. */
  choices: string[];
  /** Index into choices (multiple choice); -1 for generation tasks. */
  gold: number;
  /** The gold answer as text: choices[gold], or the label for generation tasks. */
  target: string;
}

export const TASK_DEFAULTS = { target_delimiter: ' ', fewshot_delimiter: '\n\n', num_fewshot: 0, fewshot_seed: 1234, description: '' };

export function taskDocs(rows: Row[], config: TaskConfig, source: string): Doc[] {
  const texts = rowTexts(rows, { template: config.template }, source);
  const mc = config.output_type === 'multiple_choice';
  if (mc && (config.choices === undefined) === (config.choices_column === undefined)) {
    throw new OptionError('a multiple-choice task needs --choices a,b,... or --choices_column (exactly one)', '--choices');
  }
  const columns = new Set(rows.flatMap((r) => Object.keys(r)));
  for (const [flag, column] of [['--label_column', config.label_column], ['--choices_column', config.choices_column]] as const) {
    if (column !== undefined && !columns.has(column)) throw new OptionError(`no column "${column}" in ${source}; available columns: ${[...columns].join(', ')}`, flag);
  }
  return rows.map((row, index) => {
    const where = `${source} row ${index + 1}`;
    const label = row[config.label_column];
    if (label === undefined || label === null) throw new FormatError(`"${config.label_column}" is missing`, where);
    if (!mc) return { index, text: texts[index], choices: [], gold: -1, target: String(label) };
    const choices = config.choices ?? rowChoices(row[config.choices_column!], where, config.choices_column!);
    const gold = goldIndex(label, choices, where, config.label_column);
    return { index, text: texts[index], choices, gold, target: choices[gold] };
  });
}

function rowChoices(value: unknown, where: string, column: string): string[] {
  let list = value;
  if (typeof value === 'string') {
    try {
      list = JSON.parse(value);
    } catch {
      throw new FormatError(`"${column}" is ${JSON.stringify(value)}; expected a list of choices (JSON)`, where);
    }
  }
  if (!Array.isArray(list) || list.length < 2) throw new FormatError(`"${column}" must be a list of at least two choices`, where);
  return list.map(String);
}

/** lm-eval's doc_to_target for a multiple-choice task: the choice itself, or its index (a number or digits). */
function goldIndex(label: unknown, choices: string[], where: string, column: string): number {
  const text = String(label).trim();
  const byText = choices.indexOf(String(label));
  if (byText >= 0) return byText;
  const byTrimmed = choices.findIndex((c) => c.trim() === text);
  if (byTrimmed >= 0) return byTrimmed;
  if (/^\d+$/.test(text) && Number(text) < choices.length) return Number(text);
  throw new FormatError(`"${column}" is ${JSON.stringify(label)}: neither one of the choices (${choices.join(', ')}) nor an index into them`, where);
}

/**
 * The context of each doc: description, k labelled examples from `pool` (seeded), then the doc's text; rendered with
 * `chat` when config.apply_chat_template is set.
 */
export function fewshotContexts(docs: Doc[], pool: Doc[], samePool: boolean, config: TaskConfig, chat?: ChatRenderer): string[] {
  const k = config.num_fewshot;
  const available = samePool ? pool.length - 1 : pool.length;
  if (k > 0 && available < k) throw new ShapeError(`--num_fewshot ${k} needs ${k} examples to draw from; there are ${available}`, '--num_fewshot');
  const rnd = Generator.seeded(config.fewshot_seed);
  return docs.map((doc) => {
    const drawn = k === 0 ? [] : sample(rnd, pool.length, samePool ? k + 1 : k).map((i) => pool[i]);
    const shots = (samePool ? drawn.filter((s) => s.index !== doc.index) : drawn).slice(0, k);
    const turns = qaTurns(doc, shots, config);
    if (!config.apply_chat_template) return turns.map((t) => t.content + t.delimiter).join('');
    if (!chat) throw new OptionError('apply_chat_template needs the model\'s chat template', 'apply_chat_template');
    return renderTurns(turns, config.fewshot_as_multiturn ?? true, chat, `doc ${doc.index}`);
  });
}

/** lm-eval's Message: a turn, and what follows its content when the turns are written out as plain text. */
interface Turn {
  role: 'system' | 'user' | 'assistant';
  content: string;
  delimiter: string;
}

/** lm-eval's fewshot_context turns: description (system), each example's text and target, the doc's text. */
function qaTurns(doc: Doc, shots: Doc[], config: TaskConfig): Turn[] {
  const turns: Turn[] = config.description ? [{ role: 'system', content: config.description, delimiter: '' }] : [];
  for (const s of shots) {
    turns.push({ role: 'user', content: s.text, delimiter: config.target_delimiter }, { role: 'assistant', content: s.target, delimiter: config.fewshot_delimiter });
  }
  turns.push({ role: 'user', content: doc.text, delimiter: '' });
  return turns;
}

/**
 * The turns through the chat template, opened for the assistant: as they are (multiturn), or lm-eval's
 * multiturn_to_singleturn (the system turn, then the rest as one user turn of plain text). As lm-eval, a template that
 * refuses a system turn is tried again without it.
 */
function renderTurns(turns: Turn[], multiturn: boolean, chat: ChatRenderer, where: string): string {
  const [system, rest] = turns[0].role === 'system' ? [[turns[0]], turns.slice(1)] : [[], turns];
  const body = multiturn ? rest : [{ role: 'user' as const, content: rest.map((t) => t.content + t.delimiter).join(''), delimiter: '' }];
  const messages = (list: Turn[]): ChatMessage[] => list.map((t) => ({ role: t.role, content: t.content }));
  try {
    return chat.render(messages([...system, ...body]), { add_generation_prompt: true }, where);
  } catch (e) {
    if (system.length === 0 || !(e instanceof ShapeError)) throw e;
    return chat.render(messages(body), { add_generation_prompt: true }, where);
  }
}

/** k distinct indices below n in the order drawn (a partial Fisher-Yates shuffle, as Python's random.sample). */
export function sample(rnd: Generator, n: number, k: number): number[] {
  const pool = Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  for (let i = 0; i < Math.min(k, n); i++) {
    const j = i + rnd.below(n - i);
    [pool[i], pool[j]] = [pool[j], pool[i]];
    out.push(pool[i]);
  }
  return out;
}
