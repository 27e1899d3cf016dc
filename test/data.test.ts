// Datasets: CSV/TSV/JSON/JSONL rows, bad rows, columns and templates, select ranges, validation splits, the collator.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dataCollatorForLanguageModeling } from '../src/data/collator.js';
import { loadTextDataset, tokenizeTexts } from '../src/data/dataset.js';
import { parseRows } from '../src/data/formats.js';
import type { BadRow, Row } from '../src/data/rows.js';
import { selectRange, trainValidationSplit } from '../src/data/select.js';
import { rowTexts } from '../src/data/text.js';
import { FormatError, OptionError, ShapeError } from '../src/errors.js';
import { fixture } from './fixtures.js';

describe('CSV', () => {
  test('quoted fields hold commas, doubled quotes and newlines; CRLF and a BOM are fine', () => {
    const rows = parseRows('\uFEFFact,prompt\r\n"A, B","say ""hi""\nthen go"\r\nC,D\r\n', 'x.csv');
    assert.deepEqual(rows, [{ act: 'A, B', prompt: 'say "hi"\nthen go' }, { act: 'C', prompt: 'D' }]);
  });

  test('a row with the wrong number of fields is an error naming its line, or skipped and reported', () => {
    const text = 'a,b\n1,2\n3,4,5\n6,7\n';
    assert.throws(() => parseRows(text, 'x.csv'), (e) => e instanceof FormatError && e.message.startsWith('x.csv:3: expected 2 fields (a, b), got 3'));
    const skipped: BadRow[] = [];
    const rows = parseRows(text, 'x.csv', { on_bad_row: 'skip', on_skip: (b) => skipped.push(b) });
    assert.deepEqual(rows, [{ a: '1', b: '2' }, { a: '6', b: '7' }]);
    assert.deepEqual(skipped, [{ line: 3, message: 'expected 2 fields (a, b), got 3' }]);
  });

  test('an unclosed quote is always fatal, naming where the record starts', () => {
    const skip = { on_bad_row: 'skip' } as const;
    assert.throws(() => parseRows('a,b\n1,2\n3,"4\n5,6\n', 'x.csv', skip), (e) => e instanceof FormatError && /^x\.csv:3: a quoted field/.test(e.message));
  });

  test('a space before an opening quote and quotes inside unquoted fields read as Python and pandas read them', () => {
    assert.deepEqual(parseRows('a,b\nx, "y, z"\nsay "hi",w\n', 'x.csv'), [{ a: 'x', b: 'y, z' }, { a: 'say "hi"', b: 'w' }]);
  });

  test('all 211 rows of the awesome-chatgpt-prompts CSV load, the stray-space row intact', (t) => {
    const path = fixture(t, 'datasets', 'awesome-chatgpt-prompts', 'prompts.2025-02-03.act_prompt.csv');
    if (!path) return;
    const rows = parseRows(readFileSync(path, 'utf8'), path);
    assert.equal(rows.length, 211);
    const planner = rows.find((r) => r.act === 'Virtual Event Planner')!;
    assert.match(planner.prompt as string, /^I want you to act as a virtual event planner, responsible for .* global audience\.$/);
  });

  test('TSV without a header: column_names name the fields and quotes are literal (SMS spam, 5574 rows)', (t) => {
    const path = fixture(t, 'datasets', 'sms-spam', 'SMSSpamCollection');
    if (!path) return;
    const rows = parseRows(readFileSync(path, 'utf8'), path, { format: 'tsv', column_names: ['label', 'text'] });
    assert.equal(rows.length, 5574);
    assert.equal(rows.filter((r) => r.label === 'spam').length, 747);
  });
});

describe('JSON', () => {
  test('a JSON array of objects, or of strings read as the "text" column', () => {
    assert.deepEqual(parseRows('[{"q": "a"}, {"q": "b"}]', 'x.json'), [{ q: 'a' }, { q: 'b' }]);
    assert.deepEqual(parseRows('["one", "two"]', 'x.json'), [{ text: 'one' }, { text: 'two' }]);
  });

  test('JSON Lines skip blank lines; a bad line is an error naming it, or skipped', () => {
    const text = '{"q": "a"}\n\n{"q": \n{"q": "c"}\n';
    assert.throws(() => parseRows(text, 'x.jsonl'), (e) => e instanceof FormatError && e.message.startsWith('x.jsonl:3: not valid JSON'));
    const skipped: BadRow[] = [];
    assert.deepEqual(parseRows(text, 'x.jsonl', { on_bad_row: 'skip', on_skip: (b) => skipped.push(b) }), [{ q: 'a' }, { q: 'c' }]);
    assert.deepEqual(skipped.map((b) => b.line), [3]);
  });

  test('a .json file that is not an array is read as JSON Lines, as HF does', () => {
    assert.deepEqual(parseRows('{"q": 1}\n{"q": 2}\n', 'x.json'), [{ q: 1 }, { q: 2 }]);
  });

  test('an unknown extension asks for a format', () => {
    assert.throws(() => parseRows('x', 'data.bin'), (e) => e instanceof OptionError && /format/.test(e.message));
  });
});

describe('texts from rows', () => {
  const rows: Row[] = [{ act: 'Linux Terminal', prompt: 'type ls' }, { act: 'Poet', prompt: 'write' }];

  test('a column, or a template filling {fields} ({{ and }} are literal braces)', () => {
    assert.deepEqual(rowTexts(rows, { column: 'prompt' }, 'x'), ['type ls', 'write']);
    assert.deepEqual(rowTexts(rows, { template: 'Act as a {act}. Prompt: {prompt} {{ok}}' }, 'x'), [
      'Act as a Linux Terminal. Prompt: type ls {ok}',
      'Act as a Poet. Prompt: write {ok}',
    ]);
  });

  test('a missing column or template field is an error listing the available columns', () => {
    assert.throws(() => rowTexts(rows, { column: 'text2' }, 'x.csv'), (e) => e instanceof OptionError && /no column "text2" in x.csv; available columns: act, prompt/.test(e.message));
    assert.throws(() => rowTexts(rows, { template: 'As {role}: {prompt}' }, 'x.csv'), (e) => e instanceof OptionError && /^template: no column "role".*act, prompt/.test(e.message));
  });

  test('without a column: "text" if present, the only column, or an error asking for one', () => {
    assert.deepEqual(rowTexts([{ text: 'a', n: 1 }], {}, 'x'), ['a']);
    assert.deepEqual(rowTexts([{ q: 'a' }], {}, 'x'), ['a']);
    assert.throws(() => rowTexts(rows, {}, 'x'), (e) => e instanceof OptionError && /available columns: act, prompt/.test(e.message));
  });

  test('a malformed template is refused', () => {
    for (const template of ['{act', 'act}', '{}']) assert.throws(() => rowTexts(rows, { template }, 'x'), OptionError, template);
  });
});

describe('rows picked', () => {
  const ten = Array.from({ length: 10 }, (_, i) => i);

  test('select "a:b" is select(range(a, b)); "n" is the first n; "a:" runs to the end', () => {
    assert.deepEqual(selectRange(ten, '2:5', 'x'), [2, 3, 4]);
    assert.deepEqual(selectRange(ten, '3', 'x'), [0, 1, 2]);
    assert.deepEqual(selectRange(ten, '8:', 'x'), [8, 9]);
    assert.throws(() => selectRange(ten, '0:50', 'x.csv'), (e) => e instanceof OptionError && /needs 50 rows but x.csv has 10/.test(e.message));
    assert.throws(() => selectRange(ten, 'first', 'x'), OptionError);
  });

  test('a validation split holds out ceil(fraction * n) (or a count of) rows by a seeded permutation', () => {
    const a = trainValidationSplit(ten, 0.25, 1);
    assert.equal(a.validation.length, 3);
    assert.deepEqual([...a.train, ...a.validation].sort((x, y) => x - y), ten);
    assert.deepEqual(trainValidationSplit(ten, 0.25, 1), a);
    assert.equal(trainValidationSplit(ten, 4, 1).validation.length, 4);
    assert.throws(() => trainValidationSplit(ten, 10, 1), OptionError);
    assert.throws(() => trainValidationSplit(ten, 1.5, 1), OptionError);
  });
});

describe('loading', () => {
  const read = async (source: string) => (source === 'empty.csv' ? [] : Array.from({ length: 20 }, (_, i) => ({ text: `t${i}` })));

  test('select, then texts, then the split', async () => {
    const data = await loadTextDataset('x.csv', { select: '0:10', validation_split: 0.2 }, read);
    assert.equal(data.train.length, 8);
    assert.equal(data.validation!.length, 2);
    assert.ok([...data.train, ...data.validation!].every((t) => Number(t.slice(1)) < 10));
  });

  test('an empty dataset is an error naming it', async () => {
    await assert.rejects(loadTextDataset('empty.csv', {}, read), (e) => e instanceof ShapeError && /empty\.csv: the dataset has no rows/.test(e.message));
  });

  test('tokenizing truncates to max_length and drops texts with no tokens', () => {
    const tokenizer = { encode: (t: string) => [...t].map((c) => c.charCodeAt(0)) };
    assert.deepEqual(tokenizeTexts(['abcdef', '', 'xy'], tokenizer, 3), { input_ids: [[97, 98, 99], [120, 121]], dropped: 1 });
  });
});

describe('collator', () => {
  test('pads to the longest row; labels are the ids with -100 wherever the id is the pad id', () => {
    const collate = dataCollatorForLanguageModeling({ pad_token_id: 9 });
    assert.deepEqual(collate([[1, 2, 3], [4, 9]]), {
      input_ids: [[1, 2, 3], [4, 9, 9]],
      attention_mask: [[1, 1, 1], [1, 1, 0]],
      labels: [[1, 2, 3], [4, -100, -100]],
    });
  });

  test('left padding puts the pads first', () => {
    const collate = dataCollatorForLanguageModeling({ pad_token_id: 0, padding_side: 'left' });
    assert.deepEqual(collate([[5], [6, 7]]), { input_ids: [[0, 5], [6, 7]], attention_mask: [[0, 1], [1, 1]], labels: [[-100, 5], [6, 7]] });
  });

  test('the recorded Trainer batches are what the collator makes of the tokenized examples', (t) => {
    const path = fixture(t, 'golden', 'stories260K', 'trainer', 'trainer_run.json');
    if (!path) return;
    const run = JSON.parse(readFileSync(path, 'utf8'));
    const collate = dataCollatorForLanguageModeling({ pad_token_id: run.pad_token_id });
    for (const batch of run.batches_in_order) {
      const unpadded = batch.input_ids.map((ids: number[], r: number) => ids.filter((_, i) => batch.attention_mask[r][i] === 1));
      assert.deepEqual(collate(unpadded), batch);
    }
  });
});
