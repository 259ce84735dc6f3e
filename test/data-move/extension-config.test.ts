import { admin, createTestDatabase, type TestDatabase } from '../support/postgres';
import { events, query, runCli, startLogicalCluster, type Cluster } from '../support/data-move-harness';

/**
 * An extension's configuration tables (pg_extension_config_dump: PostGIS's spatial_ref_sys,
 * pg_partman's part_config, pg_cron's cron.job) hold the user's rows beside the ones its script
 * inserts: pg_dump dumps the rows its condition selects, and the restore's CREATE EXTENSION makes
 * the rest. The move copied no member of an extension, so those rows never arrived, and the
 * verification, which compared the same tables, said OK. No extension of PostgreSQL's contrib has
 * such a table, so the test has one of its own (test/fixtures/postgres-extension/).
 */
const EXTENSION = 'dm_config_test';

/** The extension's files are in the server's extension folder: npm test's pretest puts them there. */
async function assertExtensionAvailable(): Promise<void> {
  const rows = await admin(async (c) => (await c.query(`SELECT 1 FROM pg_available_extensions WHERE name = $1`, [EXTENSION])).rows);
  if (rows.length === 0) {
    throw new Error(
      `the server has no ${EXTENSION} extension: scripts/install-system-deps.sh --for-tests (npm test's pretest) copies test/fixtures/postgres-extension/ into the extension folder of a PostgreSQL on this machine; for a server elsewhere, copy them into its $(pg_config --sharedir)/extension`,
    );
  }
}

describe('db:move of an extension whose configuration tables hold user rows', () => {
  let source: TestDatabase;
  let target: TestDatabase;

  beforeAll(async () => {
    await assertExtensionAvailable();
    [source, target] = await Promise.all([createTestDatabase('dmext_src'), createTestDatabase('dmext_tgt')]);
    await query(
      source.url,
      `CREATE SCHEMA dmx; CREATE EXTENSION ${EXTENSION} SCHEMA dmx;
       INSERT INTO dmx.setting (name, value) SELECT 'user' || g, 'v' || g FROM generate_series(1, 5) g;
       INSERT INTO dmx.job (command) SELECT 'vacuum t' || g FROM generate_series(1, 3) g;
       INSERT INTO dmx.cache VALUES ('the source''s own cache entry');
       CREATE TABLE public.plain (id int PRIMARY KEY); INSERT INTO public.plain VALUES (1);`,
    );
  });
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop()]);
  });

  it("copies the rows pg_dump would dump and verifies them; a row lost on the target is a mismatch", async () => {
    const res = await runCli(['--source', source.url, '--target', target.url]);
    expect(res.stdout).toMatch(/^dmx\.setting\s+5\s+5\s+ok$/m);
    expect(res.stdout).toMatch(/^dmx\.job\s+3\s+3\s+ok$/m);
    expect(res.stdout).not.toContain('dmx.cache');
    expect(res.stdout).toMatch(/sequence dmx\.job_id_seq: source 3, target 3 {2}ok/);
    expect(res.code).toBe(0);
    expect(events(res.stderr).filter((e) => e.msg === 'table_copied').map((e) => e.table)).toEqual(expect.arrayContaining(['dmx.setting', 'dmx.job']));
    expect(await query(target.url, `SELECT name, builtin FROM dmx.setting ORDER BY builtin DESC, name`)).toEqual([
      { name: 'mode', builtin: true },
      { name: 'version', builtin: true },
      ...[1, 2, 3, 4, 5].map((g) => ({ name: `user${g}`, builtin: false })),
    ]);
    expect(await query(target.url, `SELECT count(*)::int AS n FROM dmx.job`)).toEqual([{ n: 3 }]);
    // The next job takes the next id, not the first job's.
    expect(await query(target.url, `INSERT INTO dmx.job (command) VALUES ('analyze') RETURNING id::int`)).toEqual([{ id: 4 }]);
    await query(target.url, `DELETE FROM dmx.job WHERE id = 4`);
    // A plain member is the extension's own: made by CREATE EXTENSION on the target, as pg_dump leaves it.
    expect(await query(target.url, `SELECT k FROM dmx.cache`)).toEqual([{ k: 'made by the extension' }]);

    await query(target.url, `DELETE FROM dmx.setting WHERE name = 'user3'`);
    const verified = await runCli(['--verify-only', '--source', source.url, '--target', target.url]);
    expect(verified.stdout).toMatch(/^dmx\.setting\s+5\s+4\s+MISMATCH: row count differs/m);
    expect(verified.code).toBe(1);
  }, 60_000);
});

/**
 * Replication cannot carry them (a subscription's initial copy takes the whole table, the
 * extension's own rows included): refused naming the tables while they hold rows of the user's,
 * where the run replicated everything else and exited 0 without them.
 */
describe('db:move replicate of an extension whose configuration tables hold user rows', () => {
  let cluster: Cluster;
  let sourceUrl: string;
  let target: TestDatabase;

  beforeAll(async () => {
    await assertExtensionAvailable();
    cluster = await startLogicalCluster('rep-ext-secret');
    await query(cluster.url('postgres'), 'CREATE DATABASE app');
    sourceUrl = cluster.url('app');
    target = await createTestDatabase('dmrepext_tgt');
    await query(
      sourceUrl,
      `CREATE SCHEMA dmx; CREATE EXTENSION ${EXTENSION} SCHEMA dmx;
       INSERT INTO dmx.setting (name, value) VALUES ('user1', 'v1'), ('user2', 'v2');
       CREATE TABLE public.plain (id int PRIMARY KEY); INSERT INTO public.plain VALUES (1);`,
    );
  }, 60_000);
  afterAll(async () => {
    await runCli(['rollback', '--source', sourceUrl, '--target', target.url]).catch(() => undefined);
    await target?.drop();
    await cluster?.stop();
  });

  it('exit 2 naming the tables before anything is written; without such rows it replicates the rest', async () => {
    const args = ['--mode', 'replicate', '--source', sourceUrl, '--target', target.url];
    const refused = await runCli(args);
    const line = refused.stderr.split('\n').find((l) => l.includes('"level":"error"'))!;
    expect(JSON.parse(line)).toMatchObject({ field: '--source', exitCode: 2 });
    expect(line).toContain('extension configuration tables hold rows of yours, which replication does not carry: dmx.setting (2 rows)');
    expect(line).toContain('--mode copy');
    expect(refused.code).toBe(2);
    expect(await query(target.url, `SELECT 1 FROM pg_namespace WHERE nspname = '_data_move'`)).toEqual([]);

    await query(sourceUrl, 'DELETE FROM dmx.setting WHERE NOT builtin');
    const replicated = await runCli(args);
    expect(replicated.code).toBe(0);
    expect(await query(sourceUrl, `SELECT schemaname || '.' || tablename AS t FROM pg_publication_tables ORDER BY 1`)).toEqual([{ t: 'public.plain' }]);
  }, 90_000);
});
