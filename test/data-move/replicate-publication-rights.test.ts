import { query, runCli, startLogicalCluster, type Cluster } from '../support/data-move-harness';

/**
 * CREATE PUBLICATION … FOR TABLE needs the tables' owner (or a member of its role) and the CREATE
 * privilege on the database. A migrator role with REPLICATION and pg_read_all_data but neither got
 * "must be owner of table orders", exit 3 ("unexpected", rerun) at every rerun, after the schema was
 * made on the target. Its rollback reset the database's read-only setting, which only the owner
 * may, though no cutover had set it: exit 3 at every rerun, the slot left on the source.
 */
describe('db:move replicate as a user that may not publish the tables', () => {
  let cluster: Cluster;
  let migrator: string;
  const errorLine = (stderr: string) => JSON.parse(stderr.split('\n').find((l) => l.includes('"level":"error"'))!);

  beforeAll(async () => {
    cluster = await startLogicalCluster('rights-secret');
    await Promise.all(['app', 'app_tgt'].map((db) => query(cluster.url('postgres'), `CREATE DATABASE ${db}`)));
    await query(
      cluster.url('app'),
      `CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1); CREATE SCHEMA "Billing"; CREATE TABLE "Billing"."Invoice" (id int PRIMARY KEY);
       CREATE ROLE migrator LOGIN REPLICATION PASSWORD 'mig-pw'; GRANT pg_read_all_data TO migrator; REVOKE CREATE ON DATABASE app FROM PUBLIC`,
    );
    const url = new URL(cluster.url('app'));
    [url.username, url.password] = ['migrator', 'mig-pw'];
    migrator = url.toString();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('is refused naming what is missing (exit 2, --source) before anything is written, then replicates once granted', async () => {
    const args = ['--mode', 'replicate', '--source', migrator, '--target', cluster.url('app_tgt')];
    const nothingWritten = async () =>
      expect(await query(cluster.url('app_tgt'), `SELECT count(*)::int AS n FROM pg_class WHERE relname = 'orders' OR relnamespace = to_regnamespace('_data_move')`)).toEqual([{ n: 0 }]);

    const noCreate = await runCli(args);
    expect(noCreate.code).toBe(2);
    expect(errorLine(noCreate.stderr)).toMatchObject({ field: '--source', exitCode: 2, msg: expect.stringContaining('GRANT CREATE ON DATABASE "app" TO "migrator"') });
    await nothingWritten();

    await query(cluster.url('app'), 'GRANT CREATE ON DATABASE app TO migrator');
    const notOwner = await runCli(args);
    expect(notOwner.code).toBe(2);
    expect(errorLine(notOwner.stderr)).toMatchObject({
      field: '--source',
      msg: expect.stringContaining('the publication needs migrator to own the tables it publishes, and it does not own "Billing"."Invoice", public.orders'),
    });
    await nothingWritten();

    await query(cluster.url('app'), 'ALTER TABLE orders OWNER TO migrator; ALTER TABLE "Billing"."Invoice" OWNER TO migrator');
    const started = await runCli(args);
    expect(started.stderr).not.toContain('"level":"error"');
    expect(started.code).toBe(0);
    // Its rollback, before any cutover, makes no change that needs the database's owner.
    const rolledBack = await runCli(['rollback', '--source', migrator, '--target', cluster.url('app_tgt')]);
    expect(rolledBack.stderr).not.toContain('"level":"error"');
    expect(rolledBack.code).toBe(0);
    expect(await query(cluster.url('app'), `SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = 'data_move'`)).toEqual([{ n: 0 }]);
  }, 90_000);
});
