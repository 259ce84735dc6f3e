import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { events, query, runCli, startLogicalCluster, type Cluster } from '../support/data-move-harness';

/**
 * A cutover stopped after it disabled the subscription, before it dropped it (a killed task), or
 * a subscription disabled by hand: the next cutover waited for a slot that no worker reads, timed
 * out (--lag-timeout, exit 2) and gave the writes back with "replication left running", at every
 * rerun, while the source's writes since went nowhere.
 */
describe('db:move cutover of a disabled subscription', () => {
  let cluster: Cluster;
  let sourceUrl: string;
  let target: TestDatabase;

  beforeAll(async () => {
    cluster = await startLogicalCluster('cutover-disabled-secret');
    await query(cluster.url('postgres'), 'CREATE DATABASE app');
    sourceUrl = cluster.url('app');
    target = await createTestDatabase('dmcutdis_tgt');
    await query(sourceUrl, `CREATE TABLE a (id int PRIMARY KEY, v text); INSERT INTO a SELECT g, 'a' || g FROM generate_series(1, 100) g`);
    const started = await runCli(['--mode', 'replicate', '--source', sourceUrl, '--target', target.url]);
    expect(started.code).toBe(0);
  }, 60_000);
  afterAll(async () => {
    await runCli(['rollback', '--source', sourceUrl, '--target', target.url]).catch(() => undefined);
    await target?.drop();
    await cluster?.stop();
  });

  it('enables it again and cuts over with the rows written meanwhile', async () => {
    await query(target.url, 'ALTER SUBSCRIPTION data_move DISABLE');
    await query(sourceUrl, `INSERT INTO a VALUES (101, 'while disabled')`);
    const cut = await runCli(['cutover', '--source', sourceUrl, '--target', target.url, '--lag-timeout', '10']);
    expect(cut.stderr).not.toContain('"level":"error"');
    expect(cut.code).toBe(0);
    expect(events(cut.stderr).find((e) => e.msg === 'subscription_enabled')).toMatchObject({ level: 'warn' });
    expect(await query(target.url, `SELECT v FROM a WHERE id = 101`)).toEqual([{ v: 'while disabled' }]);
    expect(await query(target.url, `SELECT count(*)::int AS n FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`)).toEqual([{ n: 0 }]);
  }, 60_000);

  // Stopped after its DROP SUBSCRIPTION (which drops the slot), before it dropped the publication
  // and _data_move: the rerun said 'no running replication to cut over' (exit 2), _data_move kept
  // db:migrate off the target, and the rollback left to clean up gave the source its writes back.
  it('a cutover stopped after it dropped the subscription is finished by the next one, verified again', async () => {
    const db = new URL(sourceUrl).pathname.slice(1);
    const other = await createTestDatabase('dmcutdrop_tgt');
    try {
      // The cutover above left the source read-only.
      expect((await runCli(['rollback', '--source', sourceUrl, '--target', target.url])).code).toBe(0);
      await query(sourceUrl, `CREATE TABLE b (id int PRIMARY KEY); INSERT INTO b SELECT generate_series(1, 10)`);
      const started = await runCli(['--mode', 'replicate', '--source', sourceUrl, '--target', other.url]);
      expect(started.code).toBe(0);
      await query(sourceUrl, `ALTER DATABASE ${db} SET default_transaction_read_only = on`);
      await query(other.url, 'ALTER SUBSCRIPTION data_move DISABLE');
      await query(other.url, 'DROP SUBSCRIPTION data_move');

      const cut = await runCli(['cutover', '--source', sourceUrl, '--target', other.url]);
      expect(cut.stderr).not.toContain('"level":"error"');
      expect(cut.stdout).toContain('verification OK');
      expect(cut.code).toBe(0);
      expect(await query(other.url, `SELECT to_regnamespace('_data_move') IS NULL AS gone`)).toEqual([{ gone: true }]);
      expect(await query(sourceUrl, `SELECT count(*)::int AS n FROM pg_publication`)).toEqual([{ n: 0 }]);
      expect(await query(sourceUrl, `SELECT current_setting('default_transaction_read_only') AS ro`)).toEqual([{ ro: 'on' }]);
    } finally {
      await runCli(['rollback', '--source', sourceUrl, '--target', other.url]);
      await other.drop();
    }
  }, 60_000);
});
