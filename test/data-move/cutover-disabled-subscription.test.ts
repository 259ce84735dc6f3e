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
    expect(await query(target.url, `SELECT count(*)::int AS n FROM pg_subscription`)).toEqual([{ n: 0 }]);
  }, 60_000);
});
