import { events, query, runCli, wideTables } from '../support/data-move-harness';
import { createTestDatabase, type TestDatabase } from '../support/postgres';

const FOREIGN_KEY = 'public.article_view article_view_article_id_fkey';

describe('db:move builds a foreign key as soon as both its tables are in', () => {
  let source: TestDatabase;
  let target: TestDatabase;

  beforeAll(async () => {
    [source, target] = await Promise.all([createTestDatabase('dmfk_src'), createTestDatabase('dmfk_tgt')]);
    await query(source.url, wideTables(300));
  });
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop()]);
  });

  it('as its own marked part: killed right after it, the rerun keeps it and finishes', async () => {
    const args = ['--source', source.url, '--target', target.url, '--jobs', '2'];
    const first = await runCli(args, (line) => line.includes(`"table":"${FOREIGN_KEY}"`));
    expect(first.signal).toBe('SIGKILL');
    const built = events(first.stderr).filter((e) => e.msg === 'indexes_built').map((e) => e.table);
    // After both tables' own parts, and before the rest of the post-data section.
    expect(built.slice(-1)).toEqual([FOREIGN_KEY]);
    expect(built).toEqual(expect.arrayContaining(['wide.article', 'public.article_view']));
    const [state] = await query<{ marked: boolean; keys: number }>(
      target.url,
      `SELECT EXISTS (SELECT 1 FROM _data_move.indexed_table WHERE name = $1) AS marked,
         (SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = 'article_view'::regclass)::int AS keys`,
      [FOREIGN_KEY],
    );
    expect(state).toEqual({ marked: true, keys: 1 });

    const second = await runCli(args);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/verification OK: 2 tables, 0 sequences/);
    expect(events(second.stderr).filter((e) => e.msg === 'indexes_built')).toEqual([]);
    const [after] = await query<{ keys: number }>(target.url, `SELECT count(*)::int AS keys FROM pg_constraint WHERE contype = 'f' AND conrelid = 'article_view'::regclass`);
    expect(after.keys).toBe(1);
  });
});
