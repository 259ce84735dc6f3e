import { verify } from '../../migrations/data-move/verify';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { query, runCli } from '../support/data-move-harness';

/**
 * A materialized view is moved as its query, refreshed on the target; the verification compared
 * tables only, so a view whose content came out otherwise (a function it calls differing on the
 * target, a view left unpopulated) verified OK.
 */
describe('db:move verification of materialized views', () => {
  let source: TestDatabase;
  let target: TestDatabase;
  const checks = async () => (await verify({ sourceUrl: source.url, targetUrl: target.url, jobs: 2 })).tables;
  const failed = async () => (await checks()).filter((t) => !t.ok).map((t) => `${t.table}: ${t.problem}`);

  beforeAll(async () => {
    [source, target] = await Promise.all([createTestDatabase('dmmatview_src'), createTestDatabase('dmmatview_tgt')]);
    await query(
      source.url,
      `CREATE FUNCTION label(n int) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'n' || n $$;
       CREATE TABLE orders (id int PRIMARY KEY, amount numeric, at timestamptz);
       INSERT INTO orders SELECT g, g * 1.5, timestamptz '2024-03-31 00:00:00+00' + g * interval '5 hours' FROM generate_series(1, 200) g;
       CREATE MATERIALIZED VIEW labels AS SELECT id, public.label(id) AS label, amount FROM orders;
       CREATE UNIQUE INDEX labels_id ON labels (id);
       CREATE MATERIALIZED VIEW daily (day, total) AS SELECT date_trunc('day', at), sum(amount) FROM orders GROUP BY 1;
       CREATE MATERIALIZED VIEW daily_count AS SELECT count(*)::int AS days FROM daily;
       CREATE MATERIALIZED VIEW later AS SELECT id FROM orders WITH NO DATA;
       -- Refreshed before these rows: the source's view holds 200 orders, its query 201.
       INSERT INTO orders VALUES (201, 1, '2024-06-01 00:00:00+00');`,
    );
    const copied = await runCli(['--source', source.url, '--target', target.url]);
    expect(copied.stdout).toContain('verification OK');
    expect(copied.code).toBe(0);
  });
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop()]);
  });

  it("compares each view's content with its query on the source, a view over another one and a stale source view included", async () => {
    const views = (await checks()).filter((t) => t.materializedView);
    expect(views.map((v) => [v.table, v.ok, v.source?.rows, v.target?.rows])).toEqual([
      ['public.daily', true, expect.any(String), expect.any(String)],
      ['public.daily_count', true, '1', '1'],
      ['public.labels', true, '201', '201'],
      ['public.later', true, undefined, undefined],
    ]);
    expect(await query(target.url, `SELECT count(*)::int AS n FROM labels`)).toEqual([{ n: 201 }]);
  });

  it('a view whose content differs on the target is a mismatch naming it, the tables matching', async () => {
    await query(target.url, `CREATE OR REPLACE FUNCTION label(n int) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'm' || n $$; REFRESH MATERIALIZED VIEW labels`);
    expect(await failed()).toEqual([expect.stringMatching(/^public\.labels: content checksum differs from its query run on the source's rows/)]);
    await query(target.url, `CREATE OR REPLACE FUNCTION label(n int) RETURNS text LANGUAGE sql IMMUTABLE AS $$ SELECT 'n' || n $$; REFRESH MATERIALIZED VIEW labels`);
    expect(await failed()).toEqual([]);
  });

  it('a view left unpopulated on the target, or populated where the source holds none, is a mismatch', async () => {
    await query(target.url, `REFRESH MATERIALIZED VIEW daily_count WITH NO DATA; REFRESH MATERIALIZED VIEW later`);
    expect(await failed()).toEqual([
      'public.daily_count: populated on the source, not on the target (never refreshed there)',
      'public.later: unpopulated on the source (WITH NO DATA), populated on the target',
    ]);
    await query(target.url, `REFRESH MATERIALIZED VIEW daily_count; REFRESH MATERIALIZED VIEW later WITH NO DATA`);
    expect(await failed()).toEqual([]);
  });

  it('a view only on the target, or missing there, is a mismatch', async () => {
    await query(target.url, `CREATE MATERIALIZED VIEW extra AS SELECT 1 AS one; DROP MATERIALIZED VIEW daily_count`);
    expect(await failed()).toEqual(['public.daily_count: missing on target', 'public.extra: not on source']);
  });
});
