import { query, runCli, startLogicalCluster, type Cluster } from '../support/data-move-harness';

/**
 * A subscription carries money as text in the publisher's lc_monetary and reads it in the
 * subscriber's. A source database defaulting to de_DE ('1.234,56 €') into a target in C made the
 * initial sync fail ('sync error(s): see the target's server log', exit 2 with the schema, the
 * publication and the subscription made); a pair of locales whose formats both parse could take
 * amounts as other ones. Refused before anything is written, naming the columns and both settings.
 * Needs the de_DE.utf8 locale, which npm test's pretest (scripts/install-system-deps.sh --for-tests) makes.
 */
describe('db:move replicate of money columns between servers of different lc_monetary', () => {
  let source: Cluster;
  let target: Cluster;

  beforeAll(async () => {
    [source, target] = await Promise.all([startLogicalCluster('money-src-pw'), startLogicalCluster('money-tgt-pw')]);
    await Promise.all([query(source.url('postgres'), 'CREATE DATABASE app'), query(target.url('postgres'), 'CREATE DATABASE app')]);
    await query(source.url('app'), `ALTER DATABASE app SET lc_monetary = 'de_DE.utf8'`);
    await query(source.url('app'), `CREATE TABLE ledger (id int PRIMARY KEY, amount money); INSERT INTO ledger SELECT g, g * 1234.56 FROM generate_series(1, 10) g`);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
  });

  it('is refused naming the columns and both settings (exit 2, --source), and replicates once they match', async () => {
    const args = ['--source', source.url('app'), '--target', target.url('app')];
    const refused = await runCli(['--mode', 'replicate', ...args]);
    expect(refused.code).toBe(2);
    const line = refused.stderr.split('\n').find((l) => l.includes('"level":"error"'))!;
    expect(JSON.parse(line)).toMatchObject({ field: '--source', exitCode: 2 });
    expect(line).toContain('public.ledger.amount');
    expect(line).toContain('source de_DE.utf8: -1.234.567,89 €, target C.UTF-8: -$1,234,567.89');
    expect(await query(target.url('app'), `SELECT count(*)::int AS n FROM pg_class WHERE relname = 'ledger' OR relnamespace = to_regnamespace('_data_move')`)).toEqual([{ n: 0 }]);

    await query(source.url('app'), `ALTER DATABASE app SET lc_monetary = 'C'`);
    const started = await runCli(['--mode', 'replicate', ...args]);
    expect(started.code).toBe(0);
    const cut = await runCli(['cutover', ...args]);
    expect(cut.stdout).toContain('verification OK');
    expect(await query(target.url('app'), `SELECT sum(amount)::numeric::text AS total FROM ledger`)).toEqual([{ total: '67900.80' }]);
  }, 90_000);

  // The subscription's session on the source is --source-for-target's user in its database, whose
  // own lc_monetary (ALTER ROLE … [IN DATABASE …] SET) the --source user's session does not show.
  it("checks the format of the user the subscription connects as (--source-for-target), not the --source user's", async () => {
    await Promise.all([query(source.url('postgres'), 'CREATE DATABASE app2'), query(target.url('postgres'), 'CREATE DATABASE app2')]);
    await query(
      source.url('app2'),
      `CREATE TABLE ledger (id int PRIMARY KEY, amount money); INSERT INTO ledger SELECT g, g * 1234.56 FROM generate_series(1, 10) g;
       CREATE ROLE subscriber LOGIN REPLICATION PASSWORD 'sub-pw'; GRANT SELECT ON ledger TO subscriber;
       ALTER ROLE subscriber IN DATABASE app2 SET lc_monetary = 'de_DE.utf8'`,
    );
    const forTarget = new URL(source.url('app2'));
    [forTarget.username, forTarget.password] = ['subscriber', 'sub-pw'];
    const urls = ['--source', source.url('app2'), '--target', target.url('app2')];
    const args = [...urls, '--source-for-target', forTarget.toString()];
    const refused = await runCli(['--mode', 'replicate', ...args]);
    expect(refused.code).toBe(2);
    const line = refused.stderr.split('\n').find((l) => l.includes('"level":"error"'))!;
    expect(JSON.parse(line)).toMatchObject({ field: '--source', exitCode: 2 });
    expect(line).toContain('user subscriber in database app2');
    expect(line).toContain('source de_DE.utf8: -1.234.567,89 €, target C.UTF-8: -$1,234,567.89');
    expect(await query(target.url('app2'), `SELECT count(*)::int AS n FROM pg_class WHERE relname = 'ledger' OR relnamespace = to_regnamespace('_data_move')`)).toEqual([{ n: 0 }]);

    // Without a setting of the subscriber's, its session has the server's default, which the
    // --source user's own setting hides from it: not guessed.
    await query(source.url('app2'), `ALTER ROLE subscriber IN DATABASE app2 RESET lc_monetary; ALTER ROLE postgres IN DATABASE app2 SET lc_monetary = 'C'`);
    const hidden = await runCli(['--mode', 'replicate', ...args]);
    expect(hidden.code).toBe(2);
    const hiddenLine = hidden.stderr.split('\n').find((l) => l.includes('"level":"error"'))!;
    expect(JSON.parse(hiddenLine)).toMatchObject({ field: '--source-for-target', exitCode: 2 });
    expect(hiddenLine).toContain("its user subscriber in database app2 takes the source server's default lc_monetary");
    await query(source.url('app2'), 'ALTER ROLE postgres IN DATABASE app2 RESET lc_monetary');

    // The other way round: the database defaults to de_DE, which the --source user's session
    // shows, and the subscriber's own setting is C, as the target's: it replicates.
    await query(source.url('app2'), `ALTER ROLE subscriber IN DATABASE app2 SET lc_monetary = 'C'; ALTER DATABASE app2 SET lc_monetary = 'de_DE.utf8'`);
    const started = await runCli(['--mode', 'replicate', ...args]);
    expect(started.stderr).not.toContain('"level":"error"');
    expect(started.code).toBe(0);
    // The subscription already holds the address it connects to: cutover takes no --source-for-target.
    const cut = await runCli(['cutover', ...urls]);
    expect(cut.stdout).toContain('verification OK');
    expect(await query(target.url('app2'), `SELECT sum(amount)::numeric::text AS total FROM ledger`)).toEqual([{ total: '67900.80' }]);
  }, 90_000);
});
