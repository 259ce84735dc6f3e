import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { documentKeyFor } from '../../core/domain/orders';
import { startLocalEmulator, type LocalEmulator } from '../../scripts/local/emulator';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { AWS_ENV, content, listKeys, putObject, query, runCli, s3, seedOrders, type SeededOrder } from '../support/storage-move-harness';
import { standIn } from './stand-in';

/**
 * A real run stopped by SIGTERM (ECS stopping the task) or SIGINT (Ctrl-C) mid-run: every object
 * it copied is recorded (and, for documents, its order re-pointed) before it exits, so the next run
 * copies exactly the rest. The target is behind a forwarder that counts the PUTs of each key.
 */
const COUNT = 600;
const keyOf = (i: number) => `docs/${i % 10}/doc ${i}.bin`;

describe('storage:move interrupted by a signal', () => {
  let em: LocalEmulator;
  let db: TestDatabase;
  let orders: SeededOrder[];
  let stand: Awaited<ReturnType<typeof standIn>>;
  const c = () => s3(em.endpoint);
  const newKey = (o: SeededOrder) => documentKeyFor({ client_id: o.clientId, id: o.id }, o.format);
  const putsOf = (bucket: string) => {
    const n = new Map<string, number>();
    for (const r of stand.seen) if (r.method === 'PUT' && r.bucket === bucket) n.set(r.key, (n.get(r.key) ?? 0) + 1);
    return n;
  };
  const common = () => ['--source-endpoint', em.endpoint, '--env', 'local', '--target-endpoint', stand.endpoint, '--database-url', db.url, '--jobs', '8'];

  beforeAll(async () => {
    [em, db] = await Promise.all([startLocalEmulator({ buckets: ['old', 'reports', 'assets'] }), createTestDatabase('stmove_signal')]);
    stand = await standIn(em.endpoint, {});
    orders = await seedOrders(db.url, Array.from({ length: COUNT }, (_, i) => keyOf(i)));
    const client = c();
    for (let i = 0; i < COUNT; i += 50)
      await Promise.all(Array.from({ length: 50 }, (_, j) => putObject(client, 'old', keyOf(i + j), content(i + j, 1500 + ((i + j) % 700)))));
  }, 60_000);
  afterAll(async () => {
    await stand?.close();
    await Promise.all([em?.stop(), db?.drop()]);
  });

  it('SIGTERM: exit 3 with the report; exactly the copied documents are recorded and their orders re-pointed; the rerun copies each of the others once', async () => {
    const args = ['--source', 's3://old/docs/', '--target', 'reports', ...common()];
    const stopped = await runCli(args, (line) => line.includes('"msg":"batch_committed"'), 'SIGTERM');
    expect(stopped.signal).toBeNull();
    expect(stopped.code).toBe(3);
    expect(stopped.stdout).toMatch(/interrupted by SIGTERM/);

    const rows = await query<{ target_key: string; order_id: string }>(db.url, 'SELECT target_key, order_id FROM _storage_move.objects');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThan(COUNT);
    expect(stopped.stdout).toContain(`${rows.length} copied and verified`);
    // Nothing is in the target that is not recorded, and only the recorded objects' orders moved.
    expect(await listKeys(c(), 'reports')).toEqual(rows.map((r) => r.target_key).sort());
    const moved = await query<{ id: string }>(db.url, `SELECT id FROM orders WHERE document_key NOT LIKE 'docs/%'`);
    expect(new Set(moved.map((m) => m.id))).toEqual(new Set(rows.map((r) => r.order_id)));

    const rerun = await runCli(args);
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toContain(`${COUNT} objects listed, ${COUNT - rows.length} copied and verified, ${rows.length} already verified, 0 skipped, 0 failed`);
    const puts = putsOf('reports');
    expect(puts.size).toBe(COUNT);
    expect([...puts].filter(([, n]) => n !== 1)).toEqual([]);
    expect(await listKeys(c(), 'reports')).toEqual(orders.map(newKey).sort());
  }, 90_000);

  it('SIGINT: the same for assets', async () => {
    const args = ['--source', 's3://old/docs/', '--target', 'assets', '--target-prefix', 'kept/', ...common()];
    const stopped = await runCli(args, (line) => line.includes('"msg":"batch_committed"'), 'SIGINT');
    expect(stopped.code).toBe(3);
    expect(stopped.stdout).toMatch(/interrupted by SIGINT/);
    const rows = await query<{ target_key: string }>(db.url, `SELECT target_key FROM _storage_move.objects WHERE target LIKE 's3://assets/%'`);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThan(COUNT);
    expect(await listKeys(c(), 'assets')).toEqual(rows.map((r) => r.target_key).sort());

    const rerun = await runCli(args);
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toContain(`${COUNT - rows.length} copied and verified, ${rows.length} already verified`);
    expect([...putsOf('assets')].filter(([, n]) => n !== 1)).toEqual([]);
  }, 90_000);

  /** `npm run storage:move` in its own process group, sent `signal` (to npm alone, or to the whole group) at its first commit. */
  const underNpm = async (prefix: string, signal: NodeJS.Signals, group: boolean) => {
    const args = ['--source', 's3://old/docs/', '--target', 'assets', '--target-prefix', prefix, ...common()];
    const child = spawn('npm', ['run', '--silent', 'storage:move', '--', ...args], { cwd: join(__dirname, '../..'), env: { ...process.env, ...AWS_ENV }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => {
      const first = !stderr.includes('"msg":"batch_committed"');
      stderr += b.toString();
      if (first && stderr.includes('"msg":"batch_committed"')) process.kill(group ? -child.pid! : child.pid!, signal);
    });
    const [code, exitSignal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    const rows = await query<{ target_key: string }>(db.url, `SELECT target_key FROM _storage_move.objects WHERE target LIKE 's3://assets/${prefix}%'`);
    const keys = (await listKeys(c(), 'assets')).filter((k) => k.startsWith(prefix));
    return { code, signal: exitSignal, stdout, stderr, rows, keys };
  };

  it('ECS stopping the task: SIGTERM to npm, its first process, reaches the run, which stops as above (exit 3)', async () => {
    const r = await underNpm('ecs/', 'SIGTERM', false);
    expect({ code: r.code, signal: r.signal }).toEqual({ code: 3, signal: null });
    expect(r.stdout).toMatch(/interrupted by SIGTERM/);
    expect(r.rows.length).toBeGreaterThan(0);
    expect(r.rows.length).toBeLessThan(COUNT);
    expect(r.keys).toEqual(r.rows.map((x) => x.target_key).sort());
  }, 120_000);

  it('Ctrl-C under npm run (its whole process group signalled, as a terminal does): the run stops as above, and npm exits 3', async () => {
    const r = await underNpm('tty/', 'SIGINT', true);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('"msg":"move_finished","ok":false,"interrupted":"SIGINT"');
    expect(r.stdout).toMatch(/interrupted by SIGINT/);
    expect(r.rows.length).toBeGreaterThan(0);
    expect(r.keys).toEqual(r.rows.map((x) => x.target_key).sort());
  }, 120_000);
});
