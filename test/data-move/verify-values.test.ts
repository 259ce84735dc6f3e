import { verify } from '../../migrations/data-move/verify';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { query, runCli } from '../support/data-move-harness';

/**
 * One value changed on the target, of the kinds that compare equal, print alike or hash alike
 * although they differ: the verification names the table every time. `by_column` holds only
 * types hashed column by column (verify.ts `record`), `by_text` the same plus a json column, which
 * makes the whole row hashed by its text.
 */
const COLUMNS = `id int PRIMARY KEY, txt text, f8 float8, f4 float4, bp bpchar, c3 char(3), ts timestamptz, d date, b bytea, j jsonb, n numeric`;
const ROW = `1, '', 0, 0, 'a', 'ab', '2024-03-31 01:30:00+02', 'infinity', '\\x00ff', '{"a": 1, "b": [1, 2]}', 1.0`;
const ROW2 = `2, NULL, 'NaN', 1, 'b', 'cd', '2024-10-27 02:30:00+01', '2024-02-29', '\\x', '{}', 2`;

const CHANGES: [column: string, row: number, value: string][] = [
  ['txt', 1, 'NULL'],
  ['txt', 2, `''`],
  ['f8', 1, `'-0'`],
  ['f8', 2, `'Infinity'`],
  ['f4', 1, `'-0'`],
  ['bp', 1, `'a  '`],
  ['c3', 1, `'ba'`],
  ['ts', 1, `'2024-03-31 01:30:00+01'`],
  ['d', 1, `'-infinity'`],
  ['b', 1, `'\\x00fe'`],
  ['b', 2, 'NULL'],
  ['j', 1, `'{"a": 1, "b": [2, 1]}'`],
  ['n', 1, '1.00'],
];

describe('db:move verification of values that look alike', () => {
  let source: TestDatabase;
  let target: TestDatabase;

  beforeAll(async () => {
    [source, target] = await Promise.all([createTestDatabase('dmvals_src'), createTestDatabase('dmvals_tgt')]);
    // The two servers' sessions default to other time zones: the copy and the digests must not care.
    await query(source.url, `ALTER DATABASE ${source.name} SET TimeZone = 'Asia/Tokyo'`);
    await query(target.url, `ALTER DATABASE ${target.name} SET TimeZone = 'America/New_York'`);
    await query(
      source.url,
      `CREATE TABLE by_column (${COLUMNS}); INSERT INTO by_column VALUES (${ROW}), (${ROW2});
       CREATE TABLE by_text (${COLUMNS}, js json); INSERT INTO by_text VALUES (${ROW}, '{"a": 1, "b": 2}'), (${ROW2}, NULL);
       CREATE TABLE shadow (id int PRIMARY KEY, t text, js json); INSERT INTO shadow VALUES (1, 'same', '{"k": 1}');
       CREATE COLLATION case_blind (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
       CREATE TABLE case_blind (id int PRIMARY KEY, name text COLLATE case_blind, tags text[] COLLATE case_blind, codes varchar(8)[] COLLATE case_blind);
       INSERT INTO case_blind VALUES (1, 'Paris', '{Red,Blue}', '{AB}');`,
    );
    const copied = await runCli(['--source', source.url, '--target', target.url]);
    expect(copied.stdout).toContain('verification OK');
    expect(copied.code).toBe(0);
  });
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop()]);
  });

  const mismatches = async () => (await verify({ sourceUrl: source.url, targetUrl: target.url, jobs: 2 })).tables.filter((t) => !t.ok).map((t) => t.table);

  it.each(['by_column', 'by_text'])('%s: each changed value is a mismatch', async (table) => {
    const missed: string[] = [];
    for (const [column, row, value] of CHANGES) {
      const [before] = await query<{ v: string | null }>(target.url, `SELECT ${column}::text AS v FROM ${table} WHERE id = ${row}`);
      await query(target.url, `UPDATE ${table} SET ${column} = ${value} WHERE id = ${row}`);
      const found = (await mismatches()).join();
      if (found !== `public.${table}`) missed.push(`${column} = ${value}: ${found || 'none'}`);
      await query(target.url, `UPDATE ${table} SET ${column} = $1 WHERE id = ${row}`, [before.v]);
    }
    expect(missed).toEqual([]);
    expect(await mismatches()).toEqual([]);
  });

  it('a value with the same meaning in another form is no mismatch: jsonb key order, a timestamptz written in another zone', async () => {
    await query(target.url, `UPDATE by_column SET j = '{"b": [1, 2], "a": 1}', ts = '2024-03-30 23:30:00+00' WHERE id = 1`);
    expect(await mismatches()).toEqual([]);
    await query(target.url, `UPDATE by_text SET js = '{"b": 2, "a": 1}' WHERE id = 1`);
    expect(await mismatches()).toEqual(['public.by_text']);
    await query(target.url, `UPDATE by_text SET js = '{"a": 1, "b": 2}' WHERE id = 1`);
  });

  it('a case-insensitive (nondeterministic) collation hides no change of case, in a column or in an array', async () => {
    const missed: string[] = [];
    for (const [column, value] of [['name', `'paris'`], ['tags', `'{red,Blue}'`], ['codes', `'{ab}'`]]) {
      const [before] = await query<{ v: string }>(target.url, `SELECT ${column}::text AS v FROM case_blind WHERE id = 1`);
      await query(target.url, `UPDATE case_blind SET ${column} = ${value} WHERE id = 1`);
      if ((await mismatches()).join() !== 'public.case_blind') missed.push(`${column} = ${value}`);
      await query(target.url, `UPDATE case_blind SET ${column} = $1 WHERE id = 1`, [before.v]);
    }
    expect(missed).toEqual([]);
    expect(await mismatches()).toEqual([]);
  });

  it('a text-hashed table with a column named like the digest row alias (t) is hashed whole, not by that column', async () => {
    await query(target.url, `UPDATE shadow SET js = '{"k": 2}'`);
    expect(await mismatches()).toEqual(['public.shadow']);
    await query(target.url, `UPDATE shadow SET js = '{"k": 1}'`);
    expect(await mismatches()).toEqual([]);
  });
});
