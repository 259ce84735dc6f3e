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

  it('finishes with no duplicate and no missing row after kills in the middle of a table and between tables', async () => {
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

    const third = await runCli(args);
    expect(third.code).toBe(0);
    expect(events(third.stderr).find((e) => e.msg === 'resuming')).toMatchObject({ phase: 'pre-data' });
    expect(third.stdout).toMatch(/verification OK: 8 tables, 3 sequences/);
    expect(await targetCounts(target.url)).toEqual({ accounts: 200000, docs: 3000, events: 5000, nokey: 300 });
    const [dups] = await query<{ n: number }>(
      target.url,
      `SELECT (SELECT count(*) FROM (SELECT a, b, count(*) FROM nokey GROUP BY 1, 2 HAVING count(*) <> 6) d)::int AS n`,
    );
    expect(dups.n).toBe(0);
  });
});
