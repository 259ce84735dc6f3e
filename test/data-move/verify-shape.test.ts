import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { query, runCli } from '../support/data-move-harness';

/**
 * Verification hashes the source's columns by name: a target table with a column more, its
 * columns in another order, or a column of another type whose text is the same, hashed alike and
 * verified OK, though the application would meet another table after the switch. So did an index
 * or a constraint redefined, their numbers the same.
 */
describe('db:move --verify-only on a target whose table shapes differ', () => {
  let source: TestDatabase;
  let target: TestDatabase;

  beforeAll(async () => {
    [source, target] = await Promise.all([createTestDatabase('dmshape_src'), createTestDatabase('dmshape_tgt')]);
    await query(
      source.url,
      `CREATE TABLE extra_col (id int PRIMARY KEY, v int);
       CREATE TABLE retyped (id int PRIMARY KEY, v int, j json);
       CREATE TABLE reordered (id int PRIMARY KEY, a int, b int);
       CREATE TABLE missing (id int PRIMARY KEY, v int, gone int);
       CREATE TABLE untouched (id int PRIMARY KEY, v int, n numeric);
       CREATE TABLE reindexed (id int PRIMARY KEY, a int, b int, qty int CONSTRAINT qty_positive CHECK (qty > 0));
       CREATE UNIQUE INDEX reindexed_a ON reindexed (a);
       INSERT INTO reindexed SELECT g, g, g, g FROM generate_series(1, 20) g;
       INSERT INTO extra_col SELECT g, g FROM generate_series(1, 20) g;
       INSERT INTO retyped SELECT g, g, json_build_object('g', g) FROM generate_series(1, 20) g;
       INSERT INTO reordered SELECT g, g, g FROM generate_series(1, 20) g;
       INSERT INTO missing SELECT g, g, NULL FROM generate_series(1, 20) g;
       INSERT INTO untouched SELECT g, g, g / 2.0 FROM generate_series(1, 20) g;`,
    );
    const copy = await runCli(['--source', source.url, '--target', target.url]);
    expect(copy.code).toBe(0);
    await query(
      target.url,
      `ALTER TABLE extra_col ADD COLUMN note text;
       ALTER TABLE retyped ALTER COLUMN v TYPE text;
       ALTER TABLE reordered RENAME TO reordered_old;
       CREATE TABLE reordered (id int PRIMARY KEY, b int, a int);
       INSERT INTO reordered SELECT id, b, a FROM reordered_old;
       DROP TABLE reordered_old;
       ALTER TABLE missing DROP COLUMN gone;
       DROP INDEX reindexed_a; CREATE INDEX reindexed_a ON reindexed (b);
       ALTER TABLE reindexed DROP CONSTRAINT qty_positive, ADD CONSTRAINT qty_positive CHECK (qty >= 0);`,
    );
  }, 60_000);
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop()]);
  });

  it('is a mismatch naming the table and the column', async () => {
    const res = await runCli(['--source', source.url, '--target', target.url, '--verify-only']);
    expect(res.stdout).toMatch(/^public\.extra_col\s+20\s+-?\s*\S*\s+MISMATCH: columns differ: note \(text\) on the target only/m);
    expect(res.stdout).toMatch(/^public\.retyped\s.*MISMATCH: columns differ: v is integer on the source, text on the target/m);
    expect(res.stdout).toMatch(/^public\.reordered\s.*MISMATCH: columns differ: in another order \(source id, a, b; target id, b, a\)/m);
    expect(res.stdout).toMatch(/^public\.missing\s.*MISMATCH: columns differ: gone \(integer\) missing on the target/m);
    // The same numbers of indexes and constraints: a unique index made plain on another column, a CHECK with another condition.
    expect(res.stdout).toMatch(/^public\.reindexed\s+20\s+20\s+MISMATCH: index or constraint definitions differ/m);
    expect(res.stdout).toMatch(/^public\.untouched\s+20\s+20\s+ok/m);
    expect(res.stdout).toMatch(/verification FAILED: mismatch in public\.extra_col, public\.missing, public\.reindexed, public\.reordered, public\.retyped$/m);
    expect(res.code).toBe(1);
  }, 60_000);
});
