import { query, runCli, startLogicalCluster, type Cluster } from '../support/data-move-harness';

/**
 * Objects of the source's schema that replication treats otherwise than a table: an unlogged table
 * cannot be published, and a materialized view is no table the subscription fills.
 */
describe('db:move replicate of unlogged tables and materialized views', () => {
  let cluster: Cluster;
  const url = (db: string) => cluster.url(db);
  const args = (db: string) => ['--source', url(`${db}_src`), '--target', url(`${db}_tgt`)];
  const errorLine = (stderr: string) => JSON.parse(stderr.split('\n').find((l) => l.includes('"level":"error"'))!);

  beforeAll(async () => {
    cluster = await startLogicalCluster('kinds-secret');
    for (const db of ['unlogged_src', 'unlogged_tgt', 'matview_src', 'matview_tgt']) await query(url('postgres'), `CREATE DATABASE ${db}`);
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  // CREATE PUBLICATION refused it ('cannot add relation "cache" to publication') after the schema
  // was made on the target: exit 3, "unexpected", at every rerun.
  it('refuses an unlogged table before writing (exit 2, --source, naming it); replicates once it is logged', async () => {
    await query(url('unlogged_src'), `CREATE TABLE kept (id int PRIMARY KEY); CREATE UNLOGGED TABLE "Cache" (k text PRIMARY KEY); INSERT INTO "Cache" VALUES ('a')`);
    const refused = await runCli(['--mode', 'replicate', ...args('unlogged')]);
    expect(refused.code).toBe(2);
    const line = errorLine(refused.stderr);
    expect(line).toMatchObject({ field: '--source', exitCode: 2 });
    expect(line.msg).toContain('unlogged tables cannot be replicated: public."Cache"');
    expect(await query(url('unlogged_tgt'), `SELECT count(*)::int AS n FROM pg_class WHERE relname = 'kept' OR relnamespace = to_regnamespace('_data_move')`)).toEqual([{ n: 0 }]);

    await query(url('unlogged_src'), `ALTER TABLE "Cache" SET LOGGED`);
    const started = await runCli(['--mode', 'replicate', ...args('unlogged')]);
    expect(started.code).toBe(0);
    expect(await query(url('unlogged_tgt'), `SELECT k FROM "Cache"`)).toEqual([{ k: 'a' }]);
    await runCli(['rollback', ...args('unlogged')]);
  }, 90_000);

  // The schema, REFRESH included, went before the initial sync: the view was computed over empty
  // tables, and the verification, which compares tables, said OK.
  it("fills a materialized view from the replicated rows, as the source's holds them, and again at the cutover", async () => {
    await query(
      url('matview_src'),
      `CREATE TABLE orders (id int PRIMARY KEY, amount int); INSERT INTO orders SELECT g, g FROM generate_series(1, 100) g;
       CREATE MATERIALIZED VIEW totals AS SELECT count(*)::int AS n, sum(amount)::int AS total FROM orders;
       CREATE MATERIALIZED VIEW totals_twice AS SELECT n * 2 AS n2 FROM totals;
       CREATE MATERIALIZED VIEW later AS SELECT id FROM orders WITH NO DATA;`,
    );
    const started = await runCli(['--mode', 'replicate', ...args('matview')]);
    expect(started.code).toBe(0);
    expect(await query(url('matview_tgt'), `SELECT n, total FROM totals`)).toEqual([{ n: 100, total: 5050 }]);
    expect(await query(url('matview_tgt'), `SELECT n2 FROM totals_twice`)).toEqual([{ n2: 200 }]);
    expect(await query(url('matview_tgt'), `SELECT relispopulated FROM pg_class WHERE relname = 'later'`)).toEqual([{ relispopulated: false }]);

    // Replication carries rows, not a view's: refreshed after the initial sync only, the target's
    // views kept those rows' totals through the cutover, whose verification compared tables only.
    await query(url('matview_src'), `INSERT INTO orders SELECT g, g FROM generate_series(101, 110) g; REFRESH MATERIALIZED VIEW totals`);
    const cut = await runCli(['cutover', ...args('matview')]);
    expect(cut.stdout).toMatch(/public\.totals_twice +1 +1 +ok \(materialized view/);
    expect(cut.code).toBe(0);
    expect(await query(url('matview_tgt'), `SELECT n, total FROM totals`)).toEqual([{ n: 110, total: 6105 }]);
    expect(await query(url('matview_tgt'), `SELECT n2 FROM totals_twice`)).toEqual([{ n2: 220 }]);
  }, 90_000);
});
