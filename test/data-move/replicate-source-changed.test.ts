import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { events, query, runCli, startLogicalCluster, type Cluster } from '../support/data-move-harness';

/**
 * Replicate mode keeps the schema its first run created on the target, as copy mode does: a rerun
 * or a cutover after the source's tables changed is refused before it writes, naming them.
 */
describe('db:move replicate after the source schema changed', () => {
  let cluster: Cluster;
  let sourceUrl: string;
  let target: TestDatabase;
  let args: string[];

  beforeAll(async () => {
    cluster = await startLogicalCluster('rep-changed-secret');
    await query(cluster.url('postgres'), 'CREATE DATABASE app');
    sourceUrl = cluster.url('app');
    target = await createTestDatabase('dmrepchg_tgt');
    await query(sourceUrl, `CREATE TABLE a (id int PRIMARY KEY, v text); INSERT INTO a SELECT g, 'a' || g FROM generate_series(1, 1000) g`);
    args = ['--mode', 'replicate', '--source', sourceUrl, '--target', target.url];
  }, 60_000);
  afterAll(async () => {
    await runCli(['rollback', '--source', sourceUrl, '--target', target.url]).catch(() => undefined);
    await target?.drop();
    await cluster?.stop();
  });

  it('a resumed run is refused naming what changed (exit 2, --source), nothing subscribed; with the schema back it replicates', async () => {
    const killed = await runCli(args, (line) => line.includes('"section":"pre-data"'));
    expect(killed.signal).toBe('SIGKILL');
    await query(sourceUrl, `ALTER TABLE a ADD COLUMN extra int; CREATE TABLE added (id int PRIMARY KEY)`);

    const refused = await runCli(args);
    expect(refused.code).toBe(2);
    const line = refused.stderr.split('\n').find((l) => l.includes('"level":"error"'))!;
    expect(JSON.parse(line)).toMatchObject({ field: '--source', exitCode: 2 });
    expect(line).toContain('public.a (columns changed)');
    expect(line).toContain('public.added (new)');
    expect(await query(target.url, 'SELECT subname FROM pg_subscription')).toEqual([]);
    expect(await query(sourceUrl, 'SELECT pubname FROM pg_publication')).toEqual([]);

    await query(sourceUrl, `ALTER TABLE a DROP COLUMN extra; DROP TABLE added`);
    const resumed = await runCli(args);
    expect(resumed.stderr).not.toContain('"level":"error"');
    expect(resumed.code).toBe(0);
  }, 90_000);

  it('a cutover is refused before it blocks the source writes, naming the table', async () => {
    await query(sourceUrl, `CREATE TABLE late (id int PRIMARY KEY)`);
    const refused = await runCli(['cutover', '--source', sourceUrl, '--target', target.url]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('public.late (new)');
    expect(events(refused.stderr).map((e) => e.msg)).not.toContain('source_writes_blocked');
    const [{ ro }] = await query<{ ro: string }>(sourceUrl, `SELECT current_setting('default_transaction_read_only') AS ro`);
    expect(ro).toBe('off');

    await query(sourceUrl, `DROP TABLE late`);
    const cut = await runCli(['cutover', '--source', sourceUrl, '--target', target.url]);
    expect(cut.stdout).toContain('verification OK: 1 tables');
    expect(cut.code).toBe(0);
  }, 90_000);
});
