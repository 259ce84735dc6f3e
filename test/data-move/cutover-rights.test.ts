import { Client } from 'pg';
import { query, runCli, startLogicalCluster, type Cluster } from '../support/data-move-harness';

/**
 * cutover makes the source database read-only and ends its client sessions. pg_stat_activity shows
 * another role's session without its backend type to a user lacking pg_read_all_stats, so a
 * migrator without it ended none of the application's sessions ("sessionsEnded": 0), cut over,
 * and the application went on writing to the old database; a migrator not owning the database
 * failed on ALTER DATABASE, exit 3. Refused before the writes stop, naming what is missing.
 */
describe('db:move cutover as a user that may not stop the application', () => {
  let cluster: Cluster;
  let migrator: string;
  let app: Client;
  const args = () => ['--source', migrator, '--target', cluster.url('app_tgt')];

  beforeAll(async () => {
    cluster = await startLogicalCluster('cutover-rights-secret');
    await Promise.all(['app', 'app_tgt'].map((db) => query(cluster.url('postgres'), `CREATE DATABASE ${db}`)));
    await query(
      cluster.url('app'),
      `CREATE ROLE migrator LOGIN REPLICATION PASSWORD 'mig-pw'; GRANT pg_read_all_data TO migrator; GRANT CREATE ON DATABASE app TO migrator;
       CREATE TABLE orders (id int PRIMARY KEY); ALTER TABLE orders OWNER TO migrator; INSERT INTO orders VALUES (1);
       CREATE ROLE shop LOGIN PASSWORD 'shop-pw'; GRANT SELECT, INSERT ON orders TO shop`,
    );
    const url = new URL(cluster.url('app'));
    [url.username, url.password] = ['migrator', 'mig-pw'];
    migrator = url.toString();
    expect((await runCli(['--mode', 'replicate', ...args()])).code).toBe(0);
    const shop = new URL(cluster.url('app'));
    [shop.username, shop.password, shop.search] = ['shop', 'shop-pw', ''];
    app = new Client({ connectionString: shop.toString(), ssl: { rejectUnauthorized: false } });
    app.on('error', () => undefined);
    await app.connect();
  }, 60_000);
  afterAll(async () => {
    await app?.end().catch(() => undefined);
    await cluster?.stop();
  });

  it('is refused naming what is missing (exit 2, --source), the source untouched; granted, it ends the application sessions', async () => {
    const refused = await runCli(['cutover', ...args()]);
    expect(refused.code).toBe(2);
    const line = JSON.parse(refused.stderr.split('\n').find((l) => l.includes('"level":"error"'))!);
    expect(line).toMatchObject({ field: '--source', exitCode: 2 });
    expect(line.msg).toContain('cutover needs, for user migrator: the ownership of database app (ALTER DATABASE "app" OWNER TO "migrator")');
    expect(line.msg).toContain('GRANT pg_read_all_stats TO "migrator"');
    expect(line.msg).toContain('GRANT pg_signal_backend TO "migrator"');
    expect(await query(cluster.url('postgres'), `SELECT count(*)::int AS n FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = 'app'`)).toEqual([{ n: 0 }]);
    await app.query('INSERT INTO orders VALUES (2)');

    await query(cluster.url('app'), 'ALTER DATABASE app OWNER TO migrator; GRANT pg_read_all_stats, pg_signal_backend TO migrator');
    const cut = await runCli(['cutover', ...args()]);
    expect(cut.stdout).toMatch(/^public\.orders\s+2\s+2\s+ok$/m);
    expect(cut.code).toBe(0);
    // The application's session was ended: its next write reaches nothing, not the old database.
    await expect(app.query('INSERT INTO orders VALUES (3)')).rejects.toThrow();
    expect(await query(cluster.url('app'), 'SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 2 }]);
  }, 90_000);
});
