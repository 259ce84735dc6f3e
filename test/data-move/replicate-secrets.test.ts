import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Client } from 'pg';
import { clientConfig } from '../../migrations/data-move/db';
import { freePort, query, runCli, startLogicalCluster, type Cluster } from '../support/data-move-harness';

const SOURCE_PASSWORD = 'src-Secret-7c1f0e';

/**
 * The subscription's connection string holds the source's password, and the target server logs a
 * statement's text when it fails (log_min_error_statement), takes over a second (the data
 * stack's log_min_duration_statement = 1000), or always under log_statement = ddl or all: the RDS
 * log goes to CloudWatch. No statement the target receives may carry the password.
 */
describe('db:move replicate keeps the source password out of the target server log', () => {
  let source: Cluster;
  let target: Cluster;
  let targetLog: string;
  let sourceUrl: string;
  let targetUrl: string;

  beforeAll(async () => {
    [source, target] = await Promise.all([startLogicalCluster(SOURCE_PASSWORD), startLogicalCluster('tgt-password-1')]);
    await Promise.all([query(source.url('postgres'), 'CREATE DATABASE app'), query(target.url('postgres'), 'CREATE DATABASE app')]);
    sourceUrl = source.url('app');
    targetUrl = target.url('app');
    await query(sourceUrl, `CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'v' || g FROM generate_series(1, 1000) g`);
    // As the data stack's parameter group sets it.
    await query(target.url('postgres'), `ALTER SYSTEM SET log_min_duration_statement = 1000`);
    await query(target.url('postgres'), `SELECT pg_reload_conf()`);
    // Every statement of the target's sessions in that database logged with its text (ddl is a part of all).
    await query(target.url('postgres'), `ALTER DATABASE app SET log_statement = 'all'`);
    const [{ dir }] = await query<{ dir: string }>(target.url('postgres'), `SELECT current_setting('data_directory') AS dir`);
    targetLog = join(dirname(dir), 'log');
  }, 120_000);
  afterAll(async () => {
    await runCli(['rollback', '--source', sourceUrl, '--target', targetUrl]).catch(() => undefined);
    await Promise.all([source?.stop(), target?.stop()]);
  });

  it('a source the target cannot reach: exit 2 naming --source-for-target, the password in no log line', async () => {
    const unreachable = sourceUrl.replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${await freePort()}`);
    const r = await runCli(['--mode', 'replicate', '--source', sourceUrl, '--target', targetUrl, '--source-for-target', unreachable]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('"field":"--source-for-target"');
    expect(r.stderr + r.stdout).not.toContain(SOURCE_PASSWORD);
    expect(readFileSync(targetLog, 'utf8')).not.toContain(SOURCE_PASSWORD);
  }, 60_000);

  it('a slot that waits for a running source transaction, then a resumed run: replication runs, the password in no log line', async () => {
    // A transaction with an xid open on the source holds the slot's creation until it ends (1.5 s).
    const holder = new Client(clientConfig(sourceUrl));
    await holder.connect();
    await holder.query(`BEGIN; UPDATE t SET v = v WHERE id = 1`);
    const released = new Promise((resolve) => setTimeout(resolve, 1500)).then(() => holder.query('COMMIT')).finally(() => holder.end());
    const r = await runCli(['--mode', 'replicate', '--source', sourceUrl, '--target', targetUrl]);
    await released;
    expect(r.stderr).not.toContain('"level":"error"');
    expect(r.code).toBe(0);
    expect(await query(targetUrl, 'SELECT count(*)::int AS n FROM t')).toEqual([{ n: 1000 }]);
    const logged = readFileSync(targetLog, 'utf8');
    expect(logged).toContain(`statement: ALTER SUBSCRIPTION data_move ENABLE`);
    expect(logged).not.toContain(SOURCE_PASSWORD);
  }, 60_000);

  it('a source with no replication slot free: exit 2 naming --source, and rollback still removes the subscription it left', async () => {
    const fresh = 'app2';
    await query(target.url('postgres'), `CREATE DATABASE ${fresh}`);
    const otherTarget = target.url(fresh);
    await runCli(['rollback', '--source', sourceUrl, '--target', targetUrl]);
    const [{ n }] = await query<{ n: number }>(sourceUrl, `SELECT current_setting('max_replication_slots')::int - count(*)::int AS n FROM pg_replication_slots`);
    const fillers = Array.from({ length: n }, (_, i) => `filler_${i}`);
    for (const slot of fillers) await query(sourceUrl, `SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot]);
    try {
      const r = await runCli(['--mode', 'replicate', '--source', sourceUrl, '--target', otherTarget]);
      expect(r.code).toBe(2);
      expect(JSON.parse(r.stderr.split('\n').find((l) => l.includes('"level":"error"'))!)).toMatchObject({ field: '--source', msg: expect.stringContaining('max_replication_slots') });
    } finally {
      for (const slot of fillers) await query(sourceUrl, `SELECT pg_drop_replication_slot($1)`, [slot]);
    }
    const undo = await runCli(['rollback', '--source', sourceUrl, '--target', otherTarget]);
    expect(undo.stderr).not.toContain('"level":"error"');
    expect(undo.code).toBe(0);
    expect(await query(otherTarget, 'SELECT subname FROM pg_subscription')).toEqual([]);
  }, 60_000);

  it('Ctrl-C during the cutover gives the source its writes back and says so (it stayed read-only, the process gone)', async () => {
    await query(target.url('postgres'), 'CREATE DATABASE app3');
    const third = target.url('app3');
    expect((await runCli(['--mode', 'replicate', '--source', sourceUrl, '--target', third])).code).toBe(0);
    // A target that does not catch up: the cutover waits for it, writes blocked.
    await query(third, 'ALTER SUBSCRIPTION data_move DISABLE');
    const cli = join(__dirname, '../../migrations/data-move/cli.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', cli, 'cutover', '--source', sourceUrl, '--target', third, '--lag-timeout', '60'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      if (!sent && stderr.includes('"msg":"source_writes_blocked"')) sent = child.kill('SIGINT');
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    expect({ code, signal }).toEqual({ code: 3, signal: null });
    expect(stderr).toContain('cutover interrupted (SIGINT): source writes re-enabled');
    const [{ ro }] = await query<{ ro: string }>(sourceUrl, `SELECT current_setting('default_transaction_read_only') AS ro`);
    expect(ro).toBe('off');
    await runCli(['rollback', '--source', sourceUrl, '--target', third]);
  }, 90_000);

  it('ECS stopping the task during the cutover (SIGTERM to npm, its first process) gives the source its writes back; so does Ctrl-C to the whole npm process group', async () => {
    for (const [database, group, sent] of [['app5', false, 'SIGTERM'], ['app6', true, 'SIGINT']] as const) {
      await query(target.url('postgres'), `CREATE DATABASE ${database}`);
      const other = target.url(database);
      expect((await runCli(['--mode', 'replicate', '--source', sourceUrl, '--target', other])).code).toBe(0);
      await query(other, 'ALTER SUBSCRIPTION data_move DISABLE');
      const child = spawn('npm', ['run', '--silent', 'db:move', '--', 'cutover', '--source', sourceUrl, '--target', other, '--lag-timeout', '60'], {
        cwd: join(__dirname, '../..'),
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      let signalled = false;
      child.stderr.on('data', (b: Buffer) => {
        stderr += b.toString();
        if (!signalled && stderr.includes('"msg":"source_writes_blocked"')) {
          signalled = true;
          process.kill(group ? -child.pid! : child.pid!, sent);
        }
      });
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
      expect({ sent, code, signal }).toEqual({ sent, code: 3, signal: null });
      expect(stderr).toContain(`cutover interrupted (${sent}): source writes re-enabled`);
      const [{ ro }] = await query<{ ro: string }>(sourceUrl, `SELECT current_setting('default_transaction_read_only') AS ro`);
      expect(ro).toBe('off');
      await runCli(['rollback', '--source', sourceUrl, '--target', other]);
    }
  }, 120_000);

  it("the password as libpq's ?password= query parameter: in no statement either", async () => {
    await query(target.url('postgres'), 'CREATE DATABASE app4');
    await query(target.url('postgres'), `ALTER DATABASE app4 SET log_statement = 'all'`);
    const fourth = target.url('app4');
    const inQuery = new URL(sourceUrl.replace(/127\.0\.0\.1:\d+/, `127.0.0.1:${await freePort()}`));
    inQuery.password = '';
    inQuery.searchParams.set('password', SOURCE_PASSWORD);
    const r = await runCli(['--mode', 'replicate', '--source', sourceUrl, '--target', fourth, '--source-for-target', inQuery.toString()]);
    await runCli(['rollback', '--source', sourceUrl, '--target', fourth]);
    expect(readFileSync(targetLog, 'utf8').split('\n').filter((l) => l.includes(SOURCE_PASSWORD))).toEqual([]);
    expect(r.stderr + r.stdout).not.toContain(SOURCE_PASSWORD);
    expect(r.stderr).toContain('"field":"--source-for-target"');
    expect(r.code).toBe(2);
  }, 60_000);
});
