import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { events, query, runCli } from '../support/data-move-harness';

/**
 * Schema `a` table `b.c` and schema `a.b` table `c` were both `a.b.c` once joined with a dot: one
 * mark in the run's state, one digest, one index part for two tables. The second table's copy
 * failed on the first one's mark (exit 3, and again at every rerun). Every table and sequence is
 * now named by its schema and name each quoted when it needs it (`a."b.c"`, `"a.b".c`).
 */
describe('db:move of tables whose names collide once joined with a dot', () => {
  let source: TestDatabase;
  let target: TestDatabase;

  beforeAll(async () => {
    [source, target] = await Promise.all([createTestDatabase('dmdot_src'), createTestDatabase('dmdot_tgt')]);
    await query(
      source.url,
      `CREATE SCHEMA a; CREATE SCHEMA "a.b";
       CREATE TABLE a."b.c" (id bigserial PRIMARY KEY, v text UNIQUE);
       CREATE TABLE "a.b".c (id bigserial PRIMARY KEY, b_c bigint REFERENCES a."b.c" (id), w int, pad text);
       CREATE INDEX c_w ON "a.b".c (w);
       INSERT INTO a."b.c" (v) SELECT 'x' || g FROM generate_series(1, 10) g;
       INSERT INTO "a.b".c (b_c, w, pad) SELECT 1 + g % 10, g * 2, repeat('y', 200) FROM generate_series(1, 12000) g;`,
    );
  });
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop()]);
  });

  it('moves, indexes and verifies both, one split into key ranges, and a verification tells them apart', async () => {
    const res = await runCli(['--source', source.url, '--target', target.url, '--jobs', '2', '--chunk-mb', '1']);
    expect(res.stdout).toMatch(/^"a\.b"\.c\s+12000\s+12000\s+ok$/m);
    expect(res.stdout).toMatch(/^a\."b\.c"\s+10\s+10\s+ok$/m);
    expect(res.stdout).toMatch(/sequence "a\.b"\.c_id_seq: source 12000, target 12000 {2}ok/);
    expect(res.stdout).toMatch(/sequence a\."b\.c_id_seq": source 10, target 10 {2}ok/);
    expect(res.code).toBe(0);
    const log = events(res.stderr);
    expect(log.filter((e) => e.msg === 'table_copied' && String(e.table).startsWith('"a.b".c#')).length).toBeGreaterThan(1);
    expect(log.filter((e) => e.msg === 'indexes_built').map((e) => e.table)).toEqual(
      expect.arrayContaining(['a."b.c"', '"a.b".c', '"a.b".c c_b_c_fkey']),
    );
    expect(
      await query(
        target.url,
        `SELECT (SELECT count(*)::int FROM a."b.c") AS bc, (SELECT count(*)::int FROM "a.b".c) AS c,
           (SELECT count(*)::int FROM pg_index WHERE indrelid = '"a.b".c'::regclass) AS c_indexes,
           (SELECT count(*)::int FROM pg_constraint WHERE conrelid = '"a.b".c'::regclass AND contype = 'f') AS c_keys`,
      ),
    ).toEqual([{ bc: 10, c: 12000, c_indexes: 2, c_keys: 1 }]);

    await query(target.url, `UPDATE "a.b".c SET w = w + 1 WHERE id = 7`);
    const verified = await runCli(['--verify-only', '--source', source.url, '--target', target.url]);
    expect(verified.stdout).toMatch(/^"a\.b"\.c\s+12000\s+12000\s+MISMATCH: content checksum differs$/m);
    expect(verified.stdout).toMatch(/^a\."b\.c"\s+10\s+10\s+ok$/m);
    expect(verified.code).toBe(1);
  }, 90_000);
});
