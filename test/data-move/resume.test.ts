import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { events, pgbenchInit, query, RICH_SCHEMA, runCli } from '../support/data-move-harness';

/** Row counts of every copied table on the target, as plain SQL sees them. */
async function targetCounts(url: string): Promise<Record<string, number>> {
  const [row] = await query<Record<string, number>>(
    url,
    `SELECT (SELECT count(*) FROM pgbench_accounts)::int AS accounts, (SELECT count(*) FROM docs)::int AS docs,
       (SELECT count(*) FROM events)::int AS events, (SELECT count(*) FROM nokey)::int AS nokey`,
  );
  return row;
}

describe('db:move copy mode killed with SIGKILL and run again', () => {
  let source: TestDatabase;
  let target: TestDatabase;

  beforeAll(async () => {
    [source, target] = await Promise.all([createTestDatabase('dmresume_src'), createTestDatabase('dmresume_tgt')]);
    await pgbenchInit(source.url, 2);
    await query(source.url, RICH_SCHEMA);
  });
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop()]);
  });

  it('finishes with no duplicate and no missing row after kills in the middle of a table, between tables and between index builds', async () => {
    // pgbench_accounts (about 26 MB) is split into 4 key ranges copied by 2 streams.
    const args = ['--source', source.url, '--target', target.url, '--jobs', '2', '--chunk-mb', '7'];

    // Kill 1: while the largest table streams (it goes first; the log line comes after pre-data commits).
    const first = await runCli(args, (line) => line.includes('"section":"pre-data"'));
    expect(first.signal).toBe('SIGKILL');
    const [phase1] = await query<{ phase: string; copied: number }>(
      target.url,
      `SELECT phase, (SELECT count(*) FROM _data_move.copied_table)::int AS copied FROM _data_move.run`,
    );
    expect(phase1).toEqual({ phase: 'pre-data', copied: 0 });
    // The interrupted COPY never committed: no partial table is visible.
    expect(await targetCounts(target.url)).toEqual({ accounts: 0, docs: 0, events: 0, nokey: 0 });

    // Kill 2: right after the first key range committed; what is not marked copied must be absent.
    const second = await runCli(args, (line) => line.includes('"msg":"table_copied"'));
    expect(second.signal).toBe('SIGKILL');
    const copied = await query<{ name: string; rows: string }>(target.url, `SELECT name, rows::int FROM _data_move.copied_table`);
    const chunks = await query<{ n: number }>(target.url, `SELECT count(*)::int AS n FROM _data_move.chunk WHERE table_name = 'public.pgbench_accounts'`);
    expect(chunks[0].n).toBe(4);
    const chunkRows = copied.filter((c) => c.name.startsWith('public.pgbench_accounts#')).reduce((sum, c) => sum + Number(c.rows), 0);
    expect(chunkRows).toBeGreaterThan(0);
    expect(chunkRows).toBeLessThan(200000);
    const partial = await targetCounts(target.url);
    expect(partial.accounts).toBe(chunkRows);
    for (const table of ['docs', 'events', 'nokey'] as const) {
      const done = copied.some((c) => c.name === `public.${table}`);
      expect({ table, filled: partial[table] > 0 }).toEqual({ table, filled: done });
    }

    // Kill 3: right after the first table's indexes committed, while other tables still copy or index.
    const third = await runCli(args, (line) => line.includes('"msg":"indexes_built"'));
    expect(third.signal).toBe('SIGKILL');
    // Every table holding an index or a key on the source: on the target it has them exactly when marked.
    const indexed = await query<{ name: string; has_indexes: boolean }>(
      target.url,
      `SELECT n.nspname || '.' || c.relname AS name, EXISTS (SELECT 1 FROM pg_index WHERE indrelid = c.oid) AS has_indexes
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind = 'r' AND n.nspname IN ('public', 'billing') AND c.relname NOT IN ('nokey', 'pgbench_history')`,
    );
    expect(indexed).toHaveLength(6);
    const marked = new Set((await query<{ name: string }>(target.url, `SELECT name FROM _data_move.indexed_table`)).map((r) => r.name));
    expect(marked.size).toBeGreaterThan(0);
    for (const t of indexed) expect({ table: t.name, indexes: t.has_indexes }).toEqual({ table: t.name, indexes: marked.has(t.name) });

    // Whether the last range committed before that kill is a race: the run resumes in the data
    // phase if it did not, after it if it did (then nothing is copied again).
    const [phase3] = await query<{ phase: string }>(target.url, `SELECT phase FROM _data_move.run`);
    expect(['pre-data', 'data']).toContain(phase3.phase);
    const fourth = await runCli(args);
    expect(fourth.code).toBe(0);
    expect(events(fourth.stderr).find((e) => e.msg === 'resuming')).toMatchObject({ phase: phase3.phase });
    if (phase3.phase === 'data') expect(events(fourth.stderr).filter((e) => e.msg === 'table_copied')).toEqual([]);
    expect(events(fourth.stderr).filter((e) => e.msg === 'indexes_built').map((e) => e.table)).not.toContain([...marked][0]);
    expect(fourth.stdout).toMatch(/verification OK: 8 tables, 3 sequences/);
    expect(await targetCounts(target.url)).toEqual({ accounts: 200000, docs: 3000, events: 5000, nokey: 300 });
    const [dups] = await query<{ n: number }>(
      target.url,
      `SELECT (SELECT count(*) FROM (SELECT a, b, count(*) FROM nokey GROUP BY 1, 2 HAVING count(*) <> 6) d)::int AS n`,
    );
    expect(dups.n).toBe(0);
  });
});
