import { query, runCli, startLogicalCluster, type Cluster } from '../support/data-move-harness';

/**
 * --source-for-target is the source as the target server reaches it, which this process cannot
 * check by connecting (it may be a private address). One that reaches another server, or another
 * database, finds no publication data_move there: the subscription took no table, the run said
 * "replication running" (exit 0) while nothing replicated, and rollback failed at every rerun
 * ('could not drop replication slot "data_move" on publisher', exit 3), as the subscription drops
 * its slot through that address.
 */
describe('db:move replicate with a --source-for-target that is not the source', () => {
  let source: Cluster;
  let elsewhere: Cluster;

  beforeAll(async () => {
    [source, elsewhere] = await Promise.all([startLogicalCluster('sft-src-pw'), startLogicalCluster('sft-other-pw')]);
    await Promise.all(['app', 'app_tgt', 'other_db'].map((db) => query(source.url('postgres'), `CREATE DATABASE ${db}`)));
    await query(elsewhere.url('postgres'), 'CREATE DATABASE app');
    const table = 'CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders SELECT g, \'n\' || g FROM generate_series(1, 20) g';
    await Promise.all([query(source.url('app'), table), query(elsewhere.url('app'), table), query(source.url('other_db'), table)]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([source?.stop(), elsewhere?.stop()]);
  });

  const run = (command: string[], forTarget?: string) =>
    runCli([...command, '--source', source.url('app'), '--target', source.url('app_tgt'), ...(forTarget ? ['--source-for-target', forTarget] : [])]);
  const errorLine = (stderr: string) => JSON.parse(stderr.split('\n').find((l) => l.includes('"level":"error"'))!);

  it('is refused naming it (exit 2) before the run says it replicates; rollback undoes it; corrected, a rerun replicates', async () => {
    for (const wrong of [elsewhere.url('app'), source.url('other_db')]) {
      const refused = await run(['--mode', 'replicate'], wrong);
      expect(refused.code).toBe(2);
      const line = errorLine(refused.stderr);
      expect(line).toMatchObject({ field: '--source-for-target', exitCode: 2 });
      expect(line.msg).toContain('the subscription finds 0 of the 1 tables published on the source at');
      expect(refused.stdout).not.toContain('replication running');
    }
    const rolledBack = await run(['rollback']);
    expect(rolledBack.stderr).not.toContain('"level":"error"');
    expect(rolledBack.code).toBe(0);
    expect(await query(source.url('app'), `SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = 'data_move'`)).toEqual([{ n: 0 }]);
    expect(await query(source.url('app_tgt'), `SELECT count(*)::int AS n FROM pg_subscription WHERE subname = 'data_move'`)).toEqual([{ n: 0 }]);

    // Without rollback, the same command with the address corrected goes on from there.
    await query(source.url('postgres'), 'DROP DATABASE app_tgt');
    await query(source.url('postgres'), 'CREATE DATABASE app_tgt');
    expect((await run(['--mode', 'replicate'], elsewhere.url('app'))).code).toBe(2);
    const corrected = await run(['--mode', 'replicate'], source.url('app'));
    expect(corrected.stderr).not.toContain('"level":"error"');
    expect(corrected.code).toBe(0);
    const cut = await run(['cutover']);
    expect(cut.stdout).toMatch(/^public\.orders\s+20\s+20\s+ok$/m);
    expect(cut.code).toBe(0);
  }, 120_000);
});
