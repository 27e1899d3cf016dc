// Conversational training data through a chat template, as TRL tokenizes it: the loss on the assistant turns of a
// `messages` row or on a conversational completion, ids equal to tokenizing the rendered text without a second BOS,
// the template read from tokenizer_config.json or chat_template.jinja, and bad rows named by row and field.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AutoTokenizer, tokenize_messages, tokenize_prompt_completion, type PreTrainedTokenizer } from '../src/index.js';
import { conversationFormat, conversations, tokenizeConversation, tokenizeConversations } from '../src/data/chat.js';
import { completionSpans, dataCollatorForLanguageModeling } from '../src/data/collator.js';
import { FormatError, OptionError, ShapeError } from '../src/errors.js';
import { ChatTemplate } from '../src/tokenizer/chat-template.js';
import { CHATML, modelWith } from './chat-helpers.js';
import { FIXTURES } from './fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'softprompt-chat-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** One id per character, and BOS (1) in front when special tokens are added: boundaries are exact. */
const chars = { encode: (text: string, opts: { add_special_tokens?: boolean } = {}) => [...(opts.add_special_tokens === false ? [] : [1]), ...[...text].map((c) => c.codePointAt(0)!)] };
const template = ChatTemplate.fromConfig({ chat_template: CHATML, bos_token: '^' }, null, 'test')!;
const code = (s: string) => [...s].map((c) => c.codePointAt(0)!);

describe('tokenizing conversations', () => {
  test('a messages row is trained on its assistant turns: each turn\'s text and end-of-turn marker, nothing else', () => {
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: 'Bye' },
      { role: 'assistant', content: 'Ciao' },
    ];
    const example = tokenizeConversation({ messages }, template, chars, undefined, 'x');
    const text = '^<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n'
      + '<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\nCiao<|im_end|>\n';
    assert.deepEqual(example.input_ids, code(text), 'the rendering, no BOS added: the template wrote "^"');
    const trained = example.input_ids.filter((_, t) => example.completion_mask[t] === 1);
    assert.equal(String.fromCodePoint(...trained), 'Hello!<|im_end|>\nCiao<|im_end|>\n');
    assert.equal(completionSpans(example.completion_mask), 2);
    const labels = dataCollatorForLanguageModeling({ pad_token_id: 0 })([example]).labels![0];
    labels.forEach((label, t) => assert.equal(label, example.completion_mask[t] === 1 ? example.input_ids[t] : -100, `position ${t}`));
  });

  test('a conversational prompt-completion row: the prompt rendered with the generation prompt, the loss on the rest', () => {
    const row = { prompt: [{ role: 'user', content: 'Is the sky blue?' }], completion: [{ role: 'assistant', content: 'Yes.' }] };
    const example = tokenizeConversation(conversations([row], 'prompt_completion', 'x')[0], template, chars, undefined, 'x');
    const prompt = '^<|im_start|>user\nIs the sky blue?<|im_end|>\n<|im_start|>assistant\n';
    assert.deepEqual(example.input_ids, code(`${prompt}Yes.<|im_end|>\n`));
    assert.deepEqual(example.completion_mask, [...new Array(prompt.length).fill(0), ...new Array('Yes.<|im_end|>\n'.length).fill(1)]);
    const cut = tokenizeConversation({ prompt: row.prompt, completion: row.completion }, template, chars, 20, 'x');
    assert.deepEqual(cut.input_ids, example.input_ids.slice(-20), 'a long chat loses its start, as a prompt-completion pair does');
  });

  test('TRL\'s conversational formats are recognised from a row; plain text is not', () => {
    assert.equal(conversationFormat({ messages: [{ role: 'user', content: 'a' }] }), 'messages');
    assert.equal(conversationFormat({ prompt: [{ role: 'user', content: 'a' }], completion: [] }), 'prompt_completion');
    assert.equal(conversationFormat({ prompt: 'a', completion: 'b' }), null);
    assert.equal(conversationFormat({ messages: 'hi' }), null);
  });

  test('rows with the wrong message shapes are FormatErrors naming the row and the field', () => {
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 5 }] }, /chats\.jsonl row 2: messages\[1\]\.content is 5; expected a string/],
      [{ messages: [{ content: 'a' }] }, /row 2: messages\[0\]\.role is missing/],
      [{ messages: ['hi'] }, /row 2: messages\[0\] is "hi"; expected a \{ "role", "content" \} object/],
      [{ messages: [] }, /row 2: "messages" is \[\]; expected a non-empty list/],
      [{ messages: [{ role: 'user', content: 'only a question' }] }, /row 2: "messages" has no assistant turn/],
    ];
    const good = { messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: 'b' }] };
    for (const [row, message] of bad) assert.throws(() => conversations([good, row], 'messages', 'chats.jsonl'), (e: unknown) => e instanceof FormatError && message.test(e.message));
    assert.throws(() => conversations([{ prompt: [{ role: 'user', content: 'a' }], completion: 'b' }], 'prompt_completion', 'c.jsonl'),
      (e: unknown) => e instanceof FormatError && /c\.jsonl row 1: "completion" is "b"; expected a non-empty list/.test(e.message));
  });

  test('a template that refuses a row, or renders a chat\'s start differently, is a ShapeError naming the row', () => {
    const strict = ChatTemplate.fromConfig({ chat_template: "{% if messages[0]['role'] == 'system' %}{{ raise_exception('no system turns') }}{% endif %}{% for m in messages %}{{ m['content'] }}{% endfor %}" }, null, 't')!;
    const chat = { messages: [{ role: 'system', content: 's' }, { role: 'assistant', content: 'a' }] };
    assert.throws(() => tokenizeConversations([chat], strict, chars, undefined, 'c.jsonl'), (e: unknown) => e instanceof ShapeError && /c\.jsonl row 1: .*no system turns/.test(e.message));
    // The last message is written differently from earlier ones: its start is not a prefix of the whole.
    const lastOnly = ChatTemplate.fromConfig({ chat_template: "{% for m in messages %}{% if loop.last %}[{{ m['content'] }}]{% else %}{{ m['content'] }}{% endif %}{% endfor %}" }, null, 't')!;
    const turns = { messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a' }, { role: 'user', content: 'r' }] };
    assert.throws(() => tokenizeConversations([turns], lastOnly, chars, undefined, 'c.jsonl'), (e: unknown) => e instanceof ShapeError && /c\.jsonl row 1: the chat template renders/.test(e.message));
  });
});

describe('a tokenizer\'s chat template (stories260K, which adds BOS)', () => {
  let tokenizer: PreTrainedTokenizer;
  before(async () => {
    tokenizer = await AutoTokenizer.from_pretrained(modelWith(join(tmp, 'config'), join(FIXTURES, 'models', 'stories260K'), { chat_template: CHATML }));
  });

  test('apply_chat_template renders with the special tokens and tokenizes without a second BOS', () => {
    const messages = [{ role: 'user', content: 'Once upon a time' }];
    const text = tokenizer.apply_chat_template(messages, { add_generation_prompt: true, tokenize: false });
    assert.equal(text, '<s><|im_start|>user\nOnce upon a time<|im_end|>\n<|im_start|>assistant\n');
    const ids = tokenizer.apply_chat_template(messages, { add_generation_prompt: true });
    assert.deepEqual(ids, tokenizer.encode(text, { add_special_tokens: false }));
    assert.equal(ids.filter((id) => id === tokenizer.bos_token_id).length, 1);
    assert.equal(ids[0], tokenizer.bos_token_id);
    assert.equal(tokenizer.chat_template, CHATML);
  });

  test('tokenize_messages and tokenize_prompt_completion: ids of the rendered text, the mask on the assistant\'s tokens', () => {
    const messages = [{ role: 'user', content: 'Who was there?' }, { role: 'assistant', content: 'A little girl.' }];
    const whole = tokenizer.apply_chat_template(messages, { tokenize: false });
    const chat = tokenize_messages(tokenizer, { messages });
    assert.deepEqual(chat.input_ids, tokenizer.encode(whole, { add_special_tokens: false }));
    const prompt = tokenizer.apply_chat_template(messages.slice(0, 1), { add_generation_prompt: true });
    assert.deepEqual(chat.completion_mask, chat.input_ids.map((_, t) => (t < prompt.length ? 0 : 1)));
    assert.equal(tokenizer.decode(chat.input_ids.slice(prompt.length)), 'A little girl.<|im_end|>\n');
    const pair = tokenize_prompt_completion(tokenizer, { prompt: messages.slice(0, 1), completion: messages.slice(1) });
    assert.deepEqual(pair, chat, 'the same chat as a prompt and a completion');
    assert.throws(() => tokenize_messages(tokenizer, { messages: [{ role: 'user', content: 'x' }, { role: 'assistant' }] as never }), /example: messages\[1\]\.content is missing/);
  });

  test('chat_template.jinja wins over tokenizer_config.json, as in transformers', async () => {
    const dir = modelWith(join(tmp, 'jinja'), join(FIXTURES, 'models', 'stories260K'), { chat_template: CHATML });
    writeFileSync(join(dir, 'chat_template.jinja'), "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}");
    const fromFile = await AutoTokenizer.from_pretrained(dir);
    assert.equal(fromFile.apply_chat_template([{ role: 'user', content: 'hi' }], { tokenize: false }), 'user: hi\n');
  });

  test('a tokenizer without a chat template is an OptionError naming its tokenizer_config.json', async () => {
    const plain = await AutoTokenizer.from_pretrained(join(FIXTURES, 'models', 'gpt2-tiny'));
    assert.equal(plain.chat_template, null);
    const named = (e: unknown) => e instanceof OptionError && /gpt2-tiny\/tokenizer_config\.json: .*needs a chat template/.test(e.message);
    assert.throws(() => tokenize_messages(plain, { messages: [{ role: 'assistant', content: 'a' }] }), named);
    assert.throws(() => plain.apply_chat_template([{ role: 'user', content: 'a' }]), named);
  });
});
