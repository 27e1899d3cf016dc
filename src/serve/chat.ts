/**
 * The model's chat template: tokenizer_config.json's `chat_template` (a string, or a list of named templates whose
 * "default" is used, as transformers does), or a chat_template.jinja file beside it; rendered with @huggingface/jinja
 * as transformers' apply_chat_template(add_generation_prompt=True) renders it, and tokenized without adding special
 * tokens again (the template writes them).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import { readOptionalObject } from '../hub/local.js';
import { ApiError, type ChatMessage } from './openai.js';

export class ChatTemplate {
  private constructor(
    private readonly template: Template,
    private readonly specials: Record<string, string>,
  ) {}

  /** The template in the model directory `dir`, or null when the model has none. */
  static async read(dir: string): Promise<ChatTemplate | null> {
    const config = (await readOptionalObject(join(dir, 'tokenizer_config.json'))) ?? {};
    let source: unknown = config.chat_template;
    if (Array.isArray(source)) source = source.find((t) => t?.name === 'default')?.template ?? source[0]?.template;
    if (typeof source !== 'string') source = await readFile(join(dir, 'chat_template.jinja'), 'utf8').catch(() => null);
    if (typeof source !== 'string' || source.length === 0) return null;
    const specials: Record<string, string> = {};
    for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) {
      const v = config[key];
      const content = typeof v === 'object' && v !== null ? (v as { content?: unknown }).content : v;
      if (typeof content === 'string') specials[key] = content;
    }
    return new ChatTemplate(new Template(source), specials);
  }

  /** The conversation as text, ending with the assistant's turn opened (unless add_generation_prompt is false). */
  render(messages: ChatMessage[], addGenerationPrompt = true): string {
    const plain = messages.map((m, i) => ({ role: m.role, content: contentText(m.content, i), ...(m.name ? { name: m.name } : {}) }));
    try {
      return this.template.render({ messages: plain, add_generation_prompt: addGenerationPrompt, ...this.specials });
    } catch (e) {
      throw new ApiError(400, `the chat template refused the messages: ${(e as Error).message}`, 'messages');
    }
  }
}

function contentText(content: ChatMessage['content'], i: number): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  return content
    .map((part, j) => {
      if (part.type !== 'text' || typeof part.text !== 'string') {
        throw new ApiError(400, `content part of type ${JSON.stringify(part.type)} is not supported (text only)`, `messages[${i}].content[${j}]`);
      }
      return part.text;
    })
    .join('');
}
