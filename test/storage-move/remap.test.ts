import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { documentKeyFor } from '../../core/domain/orders';
import { startLocalEmulator, type LocalEmulator } from '../../scripts/local/emulator';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { content, getObject, query, runCli, s3, seedOrders, type SeededOrder } from '../support/storage-move-harness';

/**
 * A --map corrected after a move: the object it now gives another order goes to that order's key,
 * and the order it was wrongly given no longer points at another client's document.
 */
describe('storage:move with a corrected --map', () => {
  let em: LocalEmulator;
  let db: TestDatabase;
  let dir: string;
  let orders: SeededOrder[];
  const keyOf = (o: SeededOrder) => documentKeyFor({ client_id: o.clientId, id: o.id }, o.format);
  const keyNow = async (o: SeededOrder) => (await query<{ document_key: string }>(db.url, 'SELECT document_key FROM orders WHERE id = $1', [o.id]))[0].document_key;
  const move = async (source: string, lines: string[], ...more: string[]) => {
    const map = join(dir, `map-${Math.random().toString(36).slice(2)}.csv`);
    await writeFile(map, `old_key,order_id\n${lines.join('\n')}\n`);
    return runCli(['--source', `file://${dir}/${source}`, '--target', 'reports', '--map', map, '--env', 'local', '--target-endpoint', em.endpoint, '--database-url', db.url, ...more]);
  };

  beforeAll(async () => {
    [em, db, dir] = await Promise.all([startLocalEmulator({ buckets: ['reports'] }), createTestDatabase('stmove_remap'), mkdtemp(join(tmpdir(), 'storage-move-remap-'))]);
    orders = await seedOrders(db.url, ['old/a1', 'old/b1', 'old/a2', 'old/b2', 'old/a3', 'old/b3', 'old/a4']);
    for (const [i, s] of ['s1', 's2', 's3', 's4'].entries()) {
      await mkdir(join(dir, s));
      await writeFile(join(dir, s, 'x.pdf'), content(10 + i, 3000));
      await writeFile(join(dir, s, 'y.pdf'), content(20 + i, 4000));
    }
  }, 60_000);
  afterAll(async () => {
    await Promise.all([em?.stop(), db?.drop(), rm(dir, { recursive: true, force: true })]);
  });

  it("an object given to the wrong order moves to the right one's key; the key it left holds the first order's own document", async () => {
    const [a, b] = orders;
    expect((await move('s1', [`x.pdf,${a.id}`])).code).toBe(2);
    expect((await getObject(s3(em.endpoint), 'reports', keyOf(a)))!.equals(content(10, 3000))).toBe(true);

    const fixed = await move('s1', [`x.pdf,${b.id}`, `y.pdf,${a.id}`]);
    expect(fixed.stdout).toContain('2 objects listed, 2 copied and verified, 0 already verified, 0 skipped, 0 failed');
    expect(fixed.stdout).toContain(`  x.pdf: ${keyOf(a)} (order ${a.id}) -> ${keyOf(b)} (order ${b.id}); ${keyOf(a)} now holds y.pdf; order ${a.id} keeps it`);
    expect(fixed.code).toBe(0);
    expect((await getObject(s3(em.endpoint), 'reports', keyOf(b)))!.equals(content(10, 3000))).toBe(true);
    expect((await getObject(s3(em.endpoint), 'reports', keyOf(a)))!.equals(content(20, 4000))).toBe(true);
    expect([await keyNow(a), await keyNow(b)]).toEqual([keyOf(a), keyOf(b)]);
  }, 60_000);

  it("a row of an earlier version without its order, at the key the map gives: no other order's, not moved", async () => {
    const [a, b] = orders;
    await query(db.url, `UPDATE _storage_move.objects SET order_id = NULL WHERE source = $1 AND source_key = 'y.pdf'`, [`file://${dir}/s1`]);
    const r = await move('s1', [`x.pdf,${b.id}`, `y.pdf,${a.id}`]);
    expect(r.stdout).toContain('0 copied and verified, 2 already verified');
    expect(r.stdout).not.toContain('moved to another key');
    expect(r.code).toBe(0);
  }, 60_000);

  it('an order left without its object gets its key from before the move back; the old key is named for deletion; a rerun and --verify-only agree', async () => {
    const [, , a, b] = orders;
    await move('s2', [`x.pdf,${a.id}`]);
    expect(await keyNow(a)).toBe(keyOf(a));

    const dry = await move('s2', [`x.pdf,${b.id}`], '--dry-run');
    expect(dry.stdout).toContain(`to move to another key (the key map gives them another order or key than recorded):\n  x.pdf: ${keyOf(a)} (order ${a.id}) -> ${keyOf(b)} (order ${b.id})\n`);
    expect(await keyNow(a)).toBe(keyOf(a));

    const fixed = await move('s2', [`x.pdf,${b.id}`]);
    expect(fixed.stdout).toContain(
      `  x.pdf: ${keyOf(a)} (order ${a.id}) -> ${keyOf(b)} (order ${b.id}); ${keyOf(a)} is left in the bucket with the earlier copy (storage:move deletes nothing): delete it; order ${a.id} is back on its key before the move, "old/a2"`,
    );
    expect(fixed.stderr).toContain('"msg":"object_remapped"');
    expect(fixed.code).toBe(2); // y.pdf maps to no order
    expect([await keyNow(a), await keyNow(b)]).toEqual(['old/a2', keyOf(b)]);
    expect((await getObject(s3(em.endpoint), 'reports', keyOf(b)))!.equals(content(11, 3000))).toBe(true);

    const again = await move('s2', [`x.pdf,${b.id}`]);
    expect(again.stdout).toContain('0 copied and verified, 1 already verified');
    expect(again.stdout).not.toContain('moved to another key');
    const verified = await move('s2', [`x.pdf,${b.id}`], '--verify-only');
    expect(verified.stdout).toContain('2 objects listed, 1 ok, 0 missing or different, 1 skipped');
  }, 60_000);

  it('an order re-pointed by an earlier version (its key before not recorded): still on the old key, named as a problem, exit 1', async () => {
    const [, , , , a, b] = orders;
    await move('s3', [`x.pdf,${a.id}`]);
    await query(db.url, 'DELETE FROM _storage_move.keys_before WHERE order_id = $1', [a.id]);
    const fixed = await move('s3', [`x.pdf,${b.id}`]);
    expect(fixed.code).toBe(1);
    expect(fixed.stdout).toContain(`  x.pdf -> ${keyOf(a)}: order ${a.id} still points at this key, which holds the earlier copy of an object now given to order ${b.id}`);
    expect([await keyNow(a), await keyNow(b)]).toEqual([keyOf(a), keyOf(b)]);
  }, 60_000);

  it('an object the corrected map leaves out, recorded at the key it gives another object: skipped, never copied back over it', async () => {
    const a = orders[6];
    await move('s4', [`x.pdf,${a.id}`]);
    const fixed = await move('s4', [`y.pdf,${a.id}`]);
    expect(fixed.stdout).toContain('2 objects listed, 1 copied and verified, 0 already verified, 1 skipped');
    expect(fixed.stdout).toContain(`  x.pdf: recorded at ${keyOf(a)}, which the key map now gives y.pdf: not copied again`);
    expect(fixed.code).toBe(2);
    const verified = await move('s4', [`y.pdf,${a.id}`], '--verify-only');
    expect(verified.stdout).toContain('2 objects listed, 1 ok, 0 missing or different, 1 skipped');
    expect((await move('s4', [`y.pdf,${a.id}`])).stdout).toContain('0 copied and verified, 1 already verified, 1 skipped');
    expect((await getObject(s3(em.endpoint), 'reports', keyOf(a)))!.equals(content(23, 4000))).toBe(true);
    expect(await keyNow(a)).toBe(keyOf(a));
  }, 60_000);
});
