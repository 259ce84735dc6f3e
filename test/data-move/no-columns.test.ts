import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { query, runCli } from '../support/data-move-harness';

/**
 * A table without columns still holds rows (a count kept as rows, a table whose columns were all
 * dropped), and so does one whose only column is generated. Its COPY named an empty column list,
 * a syntax error: exit 3 and "rerun the same command", at every rerun.
 */
describe('db:move of tables without a column to copy', () => {
  let source: TestDatabase;
  let target: TestDatabase;

  beforeAll(async () => {
    [source, target] = await Promise.all([createTestDatabase('dmnocol_src'), createTestDatabase('dmnocol_tgt')]);
    await query(
      source.url,
      `CREATE TABLE ticks (); INSERT INTO ticks SELECT FROM generate_series(1, 3);
       CREATE TABLE emptied (gone int); INSERT INTO emptied SELECT g FROM generate_series(1, 4) g; ALTER TABLE emptied DROP COLUMN gone;
       CREATE TABLE only_generated (one int GENERATED ALWAYS AS (1) STORED); INSERT INTO only_generated SELECT FROM generate_series(1, 5);
       CREATE TABLE plain (id int PRIMARY KEY); INSERT INTO plain VALUES (1);`,
    );
  });
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop()]);
  });

  it('copies their rows and verifies them', async () => {
    const res = await runCli(['--source', source.url, '--target', target.url, '--jobs', '2']);
    expect(res.stdout).toMatch(/^public\.ticks\s+3\s+3\s+ok/m);
    expect(res.stdout).toMatch(/^public\.emptied\s+4\s+4\s+ok/m);
    expect(res.stdout).toMatch(/^public\.only_generated\s+5\s+5\s+ok/m);
    expect(res.code).toBe(0);
    expect(
      await query(target.url, `SELECT (SELECT count(*)::int FROM ticks) AS ticks, (SELECT count(*)::int FROM emptied) AS emptied, (SELECT sum(one)::int FROM only_generated) AS generated`),
    ).toEqual([{ ticks: 3, emptied: 4, generated: 5 }]);
  }, 60_000);
});
