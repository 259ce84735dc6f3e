import { admin, createTestDatabase, type TestDatabase } from '../support/postgres';
import { query, runCli } from '../support/data-move-harness';

/**
 * A run begun by a db:move that joined schema and table bare (billing.Invoice) before names were
 * quoted (billing."Invoice") left state this version reads as another set of tables: the rerun
 * said the source had changed ("billing."Invoice" (new), billing.Invoice (dropped)") and to put it
 * back as it was, which it already was.
 */
describe('db:move resuming a run an earlier version began', () => {
  let source: TestDatabase;
  let target: TestDatabase;
  let args: string[];

  beforeAll(async () => {
    [source, target] = await Promise.all([createTestDatabase('dmold_src'), createTestDatabase('dmold_tgt')]);
    await query(
      source.url,
      `CREATE TABLE a (id int PRIMARY KEY, v text); INSERT INTO a SELECT g, repeat('a', 100) || g FROM generate_series(1, 400000) g;
       CREATE SCHEMA billing; CREATE TABLE billing."Invoice" ("Number" text PRIMARY KEY); INSERT INTO billing."Invoice" VALUES ('INV-1');`,
    );
    args = ['--source', source.url, '--target', target.url, '--jobs', '1'];
  });
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop()]);
  });

  it('says the state is from an earlier version and how to start over (exit 2, --target)', async () => {
    const killed = await runCli(args, (line) => line.includes('"section":"pre-data"'));
    expect(killed.signal).toBe('SIGKILL');
    // The state as the earlier version wrote it: names joined bare.
    await query(target.url, `UPDATE _data_move.source_table SET name = replace(name, '"', ''); UPDATE _data_move.copied_table SET name = replace(name, '"', '')`);

    const refused = await runCli(args);
    expect(refused.code).toBe(2);
    const line = refused.stderr.split('\n').find((l) => l.includes('"level":"error"'))!;
    expect(JSON.parse(line)).toMatchObject({ field: '--target', exitCode: 2 });
    expect(line).toContain('an earlier version of db:move');
    expect(line).toContain('billing.Invoice');
    expect(line).toContain('drop and recreate the target database');
    expect(line).not.toContain('(dropped)');

    await admin((c) => c.query(`DROP DATABASE "${target.name}" WITH (FORCE)`).then(() => c.query(`CREATE DATABASE "${target.name}"`)));
    const fresh = await runCli(args);
    expect(fresh.stdout).toContain('verification OK');
    expect(fresh.code).toBe(0);
  }, 120_000);
});
