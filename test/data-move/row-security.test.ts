import { randomBytes } from 'node:crypto';
import { admin, createTestDatabase, type TestDatabase } from '../support/postgres';
import { query, runCli } from '../support/data-move-harness';

/**
 * A source table with row-level security, read by the role the runbook suggests (a login granted
 * pg_read_all_data, which does not bypass row security): its policies hid half the rows from the
 * copy and from the source digest alike, so half the table was lost and the verification said OK.
 * Now such a source is refused before anything is written, naming the tables and BYPASSRLS.
 */
describe('db:move from a source whose row-level security hides rows from the move user', () => {
  let source: TestDatabase;
  let target: TestDatabase;
  const role = `dm_rls_${randomBytes(3).toString('hex')}`;
  const as = (db: TestDatabase) => {
    const u = new URL(db.url);
    u.username = role;
    return u.toString();
  };

  beforeAll(async () => {
    [source, target] = await Promise.all([createTestDatabase('dmrls_src'), createTestDatabase('dmrls_tgt')]);
    await admin((c) => c.query(`CREATE ROLE ${role} LOGIN; GRANT pg_read_all_data TO ${role}`));
    await query(
      source.url,
      `CREATE TABLE tenant_docs (id int PRIMARY KEY, tenant text NOT NULL, body text);
       INSERT INTO tenant_docs SELECT g, CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END, 'doc ' || g FROM generate_series(1, 10) g;
       ALTER TABLE tenant_docs ENABLE ROW LEVEL SECURITY;
       CREATE POLICY tenant_a ON tenant_docs USING (tenant = 'a');
       CREATE TABLE plain (id int PRIMARY KEY); INSERT INTO plain VALUES (1);`,
    );
  });
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop()]);
    await admin((c) => c.query(`DROP ROLE IF EXISTS ${role}`));
  });

  it('exit 2 naming the table and BYPASSRLS, nothing written; with BYPASSRLS every row is copied and verified', async () => {
    const refused = await runCli(['--source', as(source), '--target', target.url]);
    expect(refused.stderr).toMatch(/--source: row-level security hides rows of public\.tenant_docs from dm_rls_\w+/);
    expect(refused.stderr).toContain(`ALTER ROLE ${role} BYPASSRLS`);
    expect(refused.code).toBe(2);
    expect(await query(target.url, `SELECT 1 FROM pg_namespace WHERE nspname = '_data_move'`)).toEqual([]);
    expect((await runCli(['--verify-only', '--source', as(source), '--target', target.url])).code).toBe(2);

    await admin((c) => c.query(`ALTER ROLE ${role} BYPASSRLS`));
    const copied = await runCli(['--source', as(source), '--target', target.url]);
    expect(copied.stdout).toMatch(/public\.tenant_docs\s+10\s+10\s+ok/);
    expect(copied.code).toBe(0);
    expect(await query(target.url, 'SELECT count(*)::int AS n FROM tenant_docs')).toEqual([{ n: 10 }]);
  }, 60_000);
});
