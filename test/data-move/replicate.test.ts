import { Client } from 'pg';
import { clientConfig } from '../../migrations/data-move/db';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { events, pgbenchInit, query, RICH_SCHEMA, runCli, startLogicalCluster, type Cluster } from '../support/data-move-harness';

const PASSWORD = 'rep-test-secret';

/** Application-like writes on the source until it is stopped or its session is ended by cutover. */
function startWriter(url: string): { stop: () => Promise<number> } {
  let running = true;
  let writes = 0;
  const done = (async () => {
    const c = new Client(clientConfig(url));
    c.on('error', () => undefined);
    await c.connect();
    try {
      while (running) {
        await c.query(`BEGIN;
          INSERT INTO docs (body, long_text, feeling, tags) VALUES ('{"live": true}', 'written during replication', 'happy', ARRAY['w']);
          UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 1 + (random() * 99999)::int;
          DELETE FROM events WHERE id = (SELECT min(id) FROM events);
          COMMIT`);
        writes++;
      }
    } catch {
      // Ended by the cutover's pg_terminate_backend: the application loses its session the same way.
    } finally {
      await c.end().catch(() => undefined);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return writes;
    },
  };
}

describe('db:move replicate mode: logical replication, then cutover', () => {
  let cluster: Cluster;
  let sourceUrl: string;
  let target: TestDatabase;
  let writer: { stop: () => Promise<number> } | undefined;

  beforeAll(async () => {
    cluster = await startLogicalCluster(PASSWORD);
    await query(cluster.url('postgres'), 'CREATE DATABASE app');
    sourceUrl = cluster.url('app');
    target = await createTestDatabase('dmrepl_tgt');
    await pgbenchInit(sourceUrl, 1);
    await query(sourceUrl, RICH_SCHEMA);
  }, 60_000);
  afterAll(async () => {
    await writer?.stop();
    await runCli(['rollback', '--source', sourceUrl, '--target', target.url]);
    await target?.drop();
    await cluster?.stop();
  });

  it('rejects wrong credentials with a clear message', async () => {
    const res = await runCli(['--mode', 'replicate', '--source', cluster.url('app', 'not-the-password-7f3a'), '--target', target.url]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/cannot connect to the source database 127\.0\.0\.1:\d+\/app: authentication failed \(28P01\)/);
    // sslmode=verify-full means what it means to libpq: the self-signed certificate is refused.
    const strict = await runCli(['--source', sourceUrl.replace('sslmode=require', 'sslmode=verify-full'), '--target', target.url]);
    expect(strict.code).toBe(2);
    expect(strict.stderr).toMatch(/cannot connect to the source database .*self[- ]signed certificate/);
    expect(res.stderr).not.toContain('not-the-password-7f3a');
  });

  it('refuses a source without wal_level=logical', async () => {
    const plain = await createTestDatabase('dmrepl_plain');
    try {
      const res = await runCli(['--mode', 'replicate', '--source', plain.url, '--target', target.url]);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/replicate mode needs wal_level=logical on the source, which has wal_level=replica/);
    } finally {
      await plain.drop();
    }
  });

  it('refuses tables that cannot replicate updates, before creating anything', async () => {
    const res = await runCli(['--mode', 'replicate', '--source', sourceUrl, '--target', target.url]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/without primary key or replica identity cannot replicate UPDATE\/DELETE: public\.nokey, public\.pgbench_history/);
    const [state] = await query<{ pubs: number }>(sourceUrl, 'SELECT count(*)::int AS pubs FROM pg_publication');
    expect(state.pubs).toBe(0);
    const [t] = await query<{ n: number }>(target.url, `SELECT count(*)::int AS n FROM pg_class WHERE relnamespace <> ALL (ARRAY['pg_catalog'::regnamespace, 'information_schema'::regnamespace, 'pg_toast'::regnamespace])`);
    expect(t.n).toBe(0);
  });

  it('reports a failing initial sync instead of waiting for it forever', async () => {
    // A NOT VALID check that old rows violate: the target's sync COPY enforces it and fails.
    await query(cluster.url('postgres'), 'CREATE DATABASE broken');
    const brokenUrl = cluster.url('broken');
    await query(brokenUrl, `CREATE TABLE t (id int PRIMARY KEY, v int); INSERT INTO t VALUES (1, -1);
      ALTER TABLE t ADD CONSTRAINT positive CHECK (v > 0) NOT VALID`);
    const brokenTarget = await createTestDatabase('dmrepl_broken');
    try {
      const res = await runCli(['--mode', 'replicate', '--source', brokenUrl, '--target', brokenTarget.url]);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/replication: reports [1-9]\d* sync and \d+ apply error\(s\): see the target's server log/);
    } finally {
      const undo = await runCli(['rollback', '--source', brokenUrl, '--target', brokenTarget.url]);
      expect(undo.code).toBe(0);
      await brokenTarget.drop();
    }
  });

  it('replicates while the application writes, then cuts over with verification', async () => {
    // The documented remedy for tables without a primary key.
    await query(sourceUrl, 'ALTER TABLE nokey REPLICA IDENTITY FULL; ALTER TABLE pgbench_history REPLICA IDENTITY FULL');
    writer = startWriter(sourceUrl);
    const started = await runCli(['--mode', 'replicate', '--source', sourceUrl, '--target', target.url]);
    expect(started.stderr).not.toMatch(/^\s+at /m);
    expect(started.code).toBe(0);
    expect(events(started.stderr).map((e) => e.msg)).toEqual(
      expect.arrayContaining(['schema_created', 'publication_created', 'subscription_created', 'initial_sync_done', 'replicating']),
    );

    const status = await runCli(['status', '--source', sourceUrl, '--target', target.url]);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ slotActive: true, tablesNotReady: 0 });

    const cut = await runCli(['cutover', '--source', sourceUrl, '--target', target.url]);
    const writes = await writer.stop();
    writer = undefined;
    expect(writes).toBeGreaterThan(10);
    expect(cut.stderr).not.toMatch(/^\s+at /m);
    expect(cut.code).toBe(0);
    expect(cut.stdout).toMatch(/verification OK: 8 tables, 3 sequences/);
    const finished = events(cut.stderr).find((e) => e.msg === 'cutover_finished') as unknown as { downtimeSeconds: number };
    expect(finished.downtimeSeconds).toBeLessThan(30);
    expect(events(cut.stderr).find((e) => e.msg === 'source_writes_blocked')).toMatchObject({ sessionsEnded: 1 });

    // The writer's last commit made it across, sequences included.
    const probe = `SELECT (SELECT count(*) FROM docs WHERE body ? 'live')::int AS live, (SELECT last_value FROM docs_id_seq)::int AS seq`;
    const [src] = await query(sourceUrl, probe);
    expect(await query(target.url, probe)).toEqual([src]);
    // Replication objects are gone on both sides; the source stays read-only until rollback.
    const [leftovers] = await query(
      sourceUrl,
      `SELECT (SELECT count(*) FROM pg_publication)::int AS pubs, (SELECT count(*) FROM pg_replication_slots)::int AS slots,
         current_setting('default_transaction_read_only') AS read_only`,
    );
    expect(leftovers).toEqual({ pubs: 0, slots: 0, read_only: 'on' });
    const [subs] = await query<{ n: number }>(target.url, `SELECT count(*)::int AS n FROM pg_subscription WHERE subname = 'data_move'`);
    expect(subs.n).toBe(0);

    const back = await runCli(['rollback', '--source', sourceUrl, '--target', target.url]);
    expect(back.code).toBe(0);
    const [after] = await query(sourceUrl, `SELECT current_setting('default_transaction_read_only') AS read_only`);
    expect(after).toEqual({ read_only: 'off' });
  });
});
