import { createHash } from 'node:crypto';
import { documentKeyFor } from '../../core/domain/orders';
import { startLocalEmulator, type LocalEmulator } from '../../scripts/local/emulator';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { content, getObject, headObject, listKeys, oldKeyFor, putObject, query, runCli, s3, seedOrders, type SeededOrder } from '../support/storage-move-harness';

/**
 * 2,000 old documents in a second emulator bucket standing in for Scaleway, moved into the
 * `reports` bucket by the real CLI: killed with SIGKILL mid-run, run again, run a third time
 * (nothing to copy), then verified after the target was tampered with.
 */
const COUNT = 2000;
const BIG = 7; // the one object over the 8 MiB multipart threshold
const sizeOf = (i: number) => (i === BIG ? 12 * 1024 * 1024 : 1024 + ((i * 7919) % (7 * 1024)));

describe('storage:move from an S3-compatible bucket into reports', () => {
  let em: LocalEmulator;
  let db: TestDatabase;
  let orders: SeededOrder[];
  let args: string[];
  const c = () => s3(em.endpoint);
  const newKey = (o: SeededOrder) => documentKeyFor({ client_id: o.clientId, id: o.id }, o.format);

  beforeAll(async () => {
    [em, db] = await Promise.all([startLocalEmulator({ buckets: ['scaleway-old', 'reports'] }), createTestDatabase('stmove')]);
    orders = await seedOrders(db.url, Array.from({ length: COUNT }, (_, i) => oldKeyFor(i)));
    const client = c();
    for (let i = 0; i < COUNT; i += 50)
      await Promise.all(Array.from({ length: Math.min(50, COUNT - i) }, (_, j) => putObject(client, 'scaleway-old', oldKeyFor(i + j), content(i + j, sizeOf(i + j)))));
    args = ['--source', 's3://scaleway-old/docs/', '--source-endpoint', em.endpoint, '--target', 'reports', '--env', 'local', '--target-endpoint', em.endpoint, '--database-url', db.url, '--jobs', '8'];
  }, 60_000);
  afterAll(async () => {
    await Promise.all([em?.stop(), db?.drop()]);
  });

  it('survives kill -9: keys move only for verified objects, the rerun copies the rest', async () => {
    const killed = await runCli(args, (line) => line.includes('"msg":"batch_committed"'));
    expect(killed.signal).toBe('SIGKILL');

    const state = await query<{ source_key: string; target_key: string; order_id: string }>(db.url, 'SELECT source_key, target_key, order_id FROM _storage_move.objects');
    expect(state.length).toBeGreaterThan(0);
    expect(state.length).toBeLessThan(COUNT);
    const moved = await query<{ id: string; document_key: string }>(db.url, `SELECT id, document_key FROM orders WHERE document_key NOT LIKE 'docs/%'`);
    // Exactly the recorded (verified) objects' orders point at new keys, and those objects are there, intact.
    expect(new Set(moved.map((m) => m.id))).toEqual(new Set(state.map((s) => s.order_id)));
    const byId = new Map(orders.map((o, i) => [o.id, { o, i }]));
    for (const m of moved) {
      const { o, i } = byId.get(m.id)!;
      expect(m.document_key).toBe(newKey(o));
      expect((await getObject(c(), 'reports', m.document_key))!.equals(content(i, sizeOf(i)))).toBe(true);
    }

    const rerun = await runCli(args);
    expect(rerun.stderr).not.toContain('"level":"error"');
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toContain(`${COUNT} objects listed, ${COUNT - state.length} copied and verified, ${state.length} already verified, 0 skipped, 0 failed`);

    const rows = await query<{ id: string; document_key: string }>(db.url, 'SELECT id, document_key FROM orders');
    const keys = new Map(rows.map((r) => [r.id, r.document_key]));
    for (const o of orders) expect(keys.get(o.id)).toBe(newKey(o));
    expect(await listKeys(c(), 'reports')).toEqual(orders.map(newKey).sort());

    const big = orders[BIG];
    expect((await getObject(c(), 'reports', newKey(big)))!.equals(content(BIG, sizeOf(BIG)))).toBe(true);
    // Single PUTs from the S3 source were proved by its MD5 ETag and the target's, and record that
    // MD5; the multipart one (over the threshold) by its parts, with the SHA-256 we computed.
    const sums = await query<{ source_key: string; sha256: string | null; md5: string | null }>(db.url, 'SELECT source_key, sha256, md5 FROM _storage_move.objects');
    const bigRow = sums.find((r) => r.source_key === oldKeyFor(BIG).slice(5))!;
    expect(bigRow.sha256).toBe(createHash('sha256').update(content(BIG, sizeOf(BIG))).digest('base64'));
    const one = sums.find((r) => r.source_key === oldKeyFor(42).slice(5))!;
    expect(one).toMatchObject({ sha256: null, md5: createHash('md5').update(content(42, sizeOf(42))).digest('hex') });
    expect(sums.filter((r) => r.md5 !== null)).toHaveLength(COUNT - 1);
    const pdf = orders.find((o) => o.format === 'pdf')!;
    expect((await headObject(c(), 'reports', newKey(pdf))).ContentType).toBe('application/pdf');
    // The source was only read.
    expect((await listKeys(c(), 'scaleway-old')).length).toBe(COUNT);
  }, 60_000);

  it('copies nothing on a second full run', async () => {
    const again = await runCli(args);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`${COUNT} objects listed, 0 copied and verified, ${COUNT} already verified`);
  }, 30_000);

  it('--verify-only passes, then names the object changed and the object removed in the target (exit 1)', async () => {
    const ok = await runCli([...args, '--verify-only']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`${COUNT} ok, 0 missing or different`);

    const changed = orders[42];
    const removed = orders[43];
    const same = content(42, sizeOf(42));
    same[10] ^= 0xff; // same size, one byte different
    await putObject(c(), 'reports', newKey(changed), same);
    await c().send(new (require('@aws-sdk/client-s3').DeleteObjectCommand)({ Bucket: 'reports', Key: newKey(removed) }));

    const bad = await runCli([...args, '--verify-only']);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('2 missing or different');
    expect(bad.stdout).toMatch(new RegExp(`${oldKeyFor(42).slice(5)} -> ${newKey(changed)}: content differs`));
    expect(bad.stdout).toContain(`${oldKeyFor(43).slice(5)} -> ${newKey(removed)}: missing in the target`);
  }, 60_000);
});
