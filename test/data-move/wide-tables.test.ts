import { Client } from 'pg';
import { digestMethod, verify } from '../../migrations/data-move/verify';
import { events, query, runCli, wideTables } from '../support/data-move-harness';
import { createTestDatabase, type TestDatabase } from '../support/postgres';

/** One changed value in one row, and how to put it back from the row saved in `saved`. */
interface Change {
  column: string;
  table: string;
  change: string;
  undo: string;
}

/** Article 50 has every column set and a TOASTed body; view rows are told apart by `viewed`. */
const ARTICLE = 50;
const article = (column: string, value: string): Change => ({
  column,
  table: 'wide.article',
  change: `UPDATE wide.article SET ${column} = ${value} WHERE id = ${ARTICLE}`,
  undo: `UPDATE wide.article a SET ${column} = s.${column} FROM saved_article s WHERE a.id = s.id`,
});
const VIEW = `timestamptz '2025-01-01 00:00:00+00' + 8 * interval '7 seconds'`;
const view = (column: string, value: string): Change => ({
  column,
  table: 'public.article_view',
  change: `UPDATE article_view SET ${column} = ${value} WHERE viewed = ${VIEW}`,
  undo: `DELETE FROM article_view WHERE viewed = ${VIEW}; INSERT INTO article_view SELECT * FROM saved_view`,
});

const CHANGES: Change[] = [
  article('title', `title || '!'`),
  article('body', `overlay(body placing CASE WHEN substr(body, 5000, 1) = 'a' THEN 'b' ELSE 'a' END from 5000 for 1)`),
  article('meta', `jsonb_set(meta, '{words}', to_jsonb((meta->>'words')::int + 1))`),
  article('thumbnail', `set_byte(thumbnail, 3, (get_byte(thumbnail, 3) + 1) % 256)`),
  article('tags', `array_replace(tags, 'quote"s', 'quote"t')`),
  article('ratings', `array_replace(ratings, NULL, 0)`),
  article('status', `CASE status WHEN 'draft' THEN 'review' ELSE 'draft' END::wide.status`),
  article('price', `price + 0.01`),
  article('published', `published + interval '1 microsecond'`),
  view('article_id', `article_id + 1`),
  view('agent', `coalesce(agent, '') || 'x'`),
];

describe('db:move on the wide-table fixture', () => {
  let source: TestDatabase;
  let target: TestDatabase;

  beforeAll(async () => {
    [source, target] = await Promise.all([createTestDatabase('dmwide_src'), createTestDatabase('dmwide_tgt')]);
    await query(source.url, wideTables(300));
  });
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop()]);
  });

  it('copies every kind of value (the enum table in binary COPY) and verifies it', async () => {
    const res = await runCli(['--source', source.url, '--target', target.url, '--jobs', '2']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/verification OK: 2 tables, 0 sequences/);
    const copied = events(res.stderr).filter((e) => e.msg === 'table_copied');
    expect(copied.map((e) => [e.table, e.format]).sort()).toEqual([
      ['public.article_view', 'binary'],
      ['wide.article', 'binary'],
    ]);
    // Independent of the tool's checksum: the rows' text, in key order, on both sides.
    const rows = (url: string) =>
      query(
        url,
        `SELECT (SELECT md5(string_agg(a::text, '|' ORDER BY id)) FROM wide.article a) AS articles,
           (SELECT md5(string_agg(v::text, '|' ORDER BY viewed)) FROM article_view v) AS views,
           (SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = 'article_view'::regclass)::int AS foreign_keys`,
      );
    expect(await rows(target.url)).toEqual(await rows(source.url));
    expect((await rows(target.url))[0].foreign_keys).toBe(1);
  });

  it('fails verification, naming the table, when one value of any column changes in one row', async () => {
    const client = new Client({ connectionString: target.url });
    await client.connect();
    try {
      // Both tables take the per-column row hash (the enum by its label), the path these changes exercise.
      expect([await digestMethod(client, { sql: 'wide.article' }, 15), await digestMethod(client, { sql: 'public.article_view' }, 15)]).toEqual(['record', 'record']);
      await client.query(`CREATE TEMP TABLE saved_article AS SELECT * FROM wide.article WHERE id = ${ARTICLE}`);
      await client.query(`CREATE TEMP TABLE saved_view AS SELECT * FROM article_view WHERE viewed = ${VIEW}`);
      const caught: Record<string, string[]> = {};
      for (const c of CHANGES) {
        const { rowCount } = await client.query(c.change);
        expect({ column: c.column, rowCount }).toEqual({ column: c.column, rowCount: 1 });
        const report = await verify({ sourceUrl: source.url, targetUrl: target.url, jobs: 2 });
        caught[`${c.table}.${c.column}`] = report.tables.filter((t) => !t.ok).map((t) => `${t.table}: ${t.problem}`);
        await client.query(c.undo);
      }
      expect(caught).toEqual(Object.fromEntries(CHANGES.map((c) => [`${c.table}.${c.column}`, [`${c.table}: content checksum differs`]])));
      expect((await verify({ sourceUrl: source.url, targetUrl: target.url, jobs: 2 })).ok).toBe(true);
    } finally {
      await client.end();
    }
  });
});
