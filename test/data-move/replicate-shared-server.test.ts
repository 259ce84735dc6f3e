import { query, runCli, startLogicalCluster, type Cluster } from '../support/data-move-harness';

/**
 * A subscription belongs to one database, but pg_subscription lists those of every database of the
 * server. A target server whose other database holds a subscription named data_move (another
 * move's, a rehearsal's left running) made a move into this database skip its CREATE SUBSCRIPTION
 * and fail on its ALTER ("subscription does not exist", exit 3, at every rerun); rollback too.
 */
describe('db:move replicate into a server whose other database holds a data_move subscription', () => {
  let source: Cluster;
  let target: Cluster;

  beforeAll(async () => {
    [source, target] = await Promise.all([startLogicalCluster('shared-src-pw'), startLogicalCluster('shared-tgt-pw')]);
    await Promise.all([query(source.url('postgres'), 'CREATE DATABASE app'), query(target.url('postgres'), 'CREATE DATABASE app'), query(target.url('postgres'), 'CREATE DATABASE rehearsal')]);
    await query(source.url('app'), `CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 100) g`);
    // Another move's subscription, in the other database (from another source: it reaches nothing here).
    await query(target.url('rehearsal'), `CREATE SUBSCRIPTION data_move CONNECTION 'host=192.0.2.1 dbname=old' PUBLICATION data_move WITH (connect = false)`);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
  });

  it('replicates into this database, cuts over, and leaves the other database its subscription', async () => {
    const args = ['--source', source.url('app'), '--target', target.url('app')];
    const started = await runCli(['--mode', 'replicate', ...args]);
    expect(started.stderr).not.toContain('"level":"error"');
    expect(started.code).toBe(0);
    expect(await query(target.url('app'), 'SELECT count(*)::int AS n FROM t')).toEqual([{ n: 100 }]);
    const status = await runCli(['status', ...args]);
    expect(JSON.parse(status.stdout)).toMatchObject({ tablesNotReady: 0 });

    const cut = await runCli(['cutover', ...args]);
    expect(cut.stdout).toContain('verification OK');
    expect(cut.code).toBe(0);
    expect(await query(target.url('app'), `SELECT subname FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = 'app')`)).toEqual([]);
    expect(await query(target.url('rehearsal'), `SELECT subname FROM pg_subscription WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = 'rehearsal')`)).toEqual([{ subname: 'data_move' }]);

    const undo = await runCli(['rollback', ...args]);
    expect(undo.stderr).not.toContain('"level":"error"');
    expect(undo.code).toBe(0);
  }, 90_000);
});
