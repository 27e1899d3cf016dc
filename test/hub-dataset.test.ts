import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { loadHubDataset, readHubDataset } from '../src/data/hub-source.js';
import { HubError } from '../src/errors.js';
import { fixture } from './fixtures.js';
import { commitOf, hubOptions, withHub } from './hub/repos.js';
import type { FakeRepo } from './hub/server.js';

const ID = 'fka/awesome-chatgpt-prompts';
const CSV = 'prompts.2025-02-03.act_prompt.csv';
const [MAIN, PARQUET] = [commitOf('main'), commitOf('parquet')];
const encode = (text: string): Uint8Array => new TextEncoder().encode(text);
const hubError = (pattern: RegExp) => (e: unknown) => e instanceof HubError && pattern.test(e.message);

/** The CSV's rows as the hub's conversion would store them: a parquet table with the same columns. */
function toParquet(rows: Array<Record<string, string>>): Uint8Array {
  const columnData = ['act', 'prompt'].map((name) => ({ name, data: rows.map((r) => r[name]), type: 'STRING' as const }));
  return new Uint8Array(parquetWriteBuffer({ columnData }));
}

async function promptsRepos(csvPath: string): Promise<{ rows: Array<Record<string, string>>; withParquet: FakeRepo; csvOnly: FakeRepo }> {
  const csv = new Uint8Array(await readFile(csvPath));
  const rows = parse(new TextDecoder().decode(csv), { columns: true, ltrim: true, relax_quotes: true }) as Array<Record<string, string>>;
  const main = { 'README.md': encode('# prompts'), 'prompts.csv': csv };
  const parquet = { '.gitattributes': encode(''), 'default/train/0000.parquet': toParquet(rows) };
  return {
    rows,
    withParquet: {
      type: 'dataset',
      id: ID,
      refs: { main: MAIN, 'refs/convert/parquet': PARQUET },
      commits: { [MAIN]: main, [PARQUET]: parquet },
    },
    csvOnly: { type: 'dataset', id: 'fka/csv-only', refs: { main: MAIN }, commits: { [MAIN]: main } },
  };
}

test('fka/awesome-chatgpt-prompts by name: the hub parquet conversion, cached in Python layout', { timeout: 30_000 }, async (t) => {
  const csv = fixture(t, 'datasets', 'awesome-chatgpt-prompts', CSV);
  if (!csv) return;
  const { rows, withParquet } = await promptsRepos(csv);
  await withHub([withParquet], async (hub, cache) => {
    const table = await readHubDataset(ID, hubOptions(hub, cache));
    assert.equal(table.rows.length, 211);
    assert.deepEqual(table.rows, rows);
    assert.deepEqual(table.columns, ['act', 'prompt']);
    assert.deepEqual(table.files, ['default/train/0000.parquet']);
    assert.equal(hub.requests('prompts.csv').length, 0);
    const folder = join(cache, 'datasets--fka--awesome-chatgpt-prompts');
    assert.equal(await readFile(join(folder, 'refs', 'refs', 'convert', 'parquet'), 'utf8'), PARQUET);
    hub.log.length = 0;
    assert.deepEqual(await loadHubDataset(ID, hubOptions(hub, cache, { offline: true })), rows);
    assert.equal(hub.log.length, 0);
  });
});

test('without a parquet conversion, or at a pinned revision, the repo CSV is read, stray-quote row included', { timeout: 30_000 }, async (t) => {
  const csv = fixture(t, 'datasets', 'awesome-chatgpt-prompts', CSV);
  if (!csv) return;
  const { rows, withParquet, csvOnly } = await promptsRepos(csv);
  await withHub([withParquet, csvOnly], async (hub, cache) => {
    const fromCsv = await readHubDataset('fka/csv-only', hubOptions(hub, cache));
    assert.deepEqual(fromCsv.rows, rows);
    assert.deepEqual(fromCsv.files, ['prompts.csv']);
    assert.equal(fromCsv.rows[209].act, 'Virtual Event Planner');
    assert.match(String(fromCsv.rows[209].prompt), /^I want you to act as a virtual event planner/);
    assert.deepEqual(await loadHubDataset(ID, hubOptions(hub, cache, { revision: MAIN })), rows);
    assert.equal(hub.requests(`${ID}/revision/refs`).length, 0, 'a pinned revision skips the conversion');
  });
});

test('splits by file name (JSONL, JSON), and errors that list what there is', { timeout: 30_000 }, async () => {
  const jsonl = (rows: object[]) => encode(rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const files = {
    'data/train.jsonl': jsonl([{ text: 'a', label: 0 }, { text: 'b', label: 1 }]),
    'data/test.json': encode(JSON.stringify({ text: ['c'], label: [1] })),
  };
  const repo: FakeRepo = { type: 'dataset', id: 'org/splits', refs: { main: MAIN }, commits: { [MAIN]: files } };
  await withHub([repo], async (hub, cache) => {
    const opts = hubOptions(hub, cache);
    assert.deepEqual(await loadHubDataset('org/splits', opts), [{ text: 'a', label: 0 }, { text: 'b', label: 1 }]);
    assert.deepEqual(await loadHubDataset('org/splits', { ...opts, split: 'test' }), [{ text: 'c', label: 1 }]);
    await assert.rejects(
      loadHubDataset('org/splits', { ...opts, split: 'validation' }),
      hubError(/no data files .* for split "validation": the repo's data files are data\/train.jsonl, data\/test.json/),
    );
    await assert.rejects(
      loadHubDataset('org/splits', { ...opts, split: 'validation', offline: true }),
      hubError(/not in the cache \(offline mode\): the parquet conversion \(refs\/convert\/parquet\) or data files/),
    );
  });
});

test('a split missing from the parquet conversion names the tables it has', { timeout: 30_000 }, async (t) => {
  const csv = fixture(t, 'datasets', 'awesome-chatgpt-prompts', CSV);
  if (!csv) return;
  const { withParquet } = await promptsRepos(csv);
  await withHub([withParquet], async (hub, cache) => {
    await assert.rejects(
      loadHubDataset(ID, { ...hubOptions(hub, cache), split: 'test' }),
      hubError(/the parquet conversion has default\/train; the repo's data files are prompts.csv/),
    );
  });
});
