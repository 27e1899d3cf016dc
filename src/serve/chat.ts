/**
 * /v1/chat/completions' messages through the model's chat template (tokenizer/chat-template.ts): OpenAI's content
 * parts flattened to their text, and the template's refusals as 400s naming `messages`.
 */
import { SoftpromptError } from '../errors.js';
import type { ChatTemplate } from '../tokenizer/chat-template.js';
import { ApiError, type ChatMessage } from './openai.js';

/** The conversation as text, ending with the assistant's turn opened unless add_generation_prompt is false. */
export function renderChat(template: ChatTemplate, messages: ChatMessage[], addGenerationPrompt: boolean): string {
  const plain = messages.map((m, i) => ({ role: m.role, content: contentText(m.content, i), ...(m.name ? { name: m.name } : {}) }));
  try {
    return template.render(plain, { add_generation_prompt: addGenerationPrompt });
  } catch (e) {
    if (e instanceof SoftpromptError) throw new ApiError(400, e.message, 'messages');
    throw e;
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
