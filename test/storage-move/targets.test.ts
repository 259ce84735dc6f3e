import { documentKeyFor } from '../../core/domain/orders';
import { startLocalEmulator, type LocalEmulator } from '../../scripts/local/emulator';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { content, getObject, listKeys, putObject, query, runCli, s3, seedOrders, type SeededOrder } from '../support/storage-move-harness';

/**
 * Progress belongs to one source and one target: moves that share a source endpoint, a source
 * bucket or a database but not their target (another prefix, another endpoint with a bucket of
 * the same name) each copy their own objects, and none is skipped as done for another.
 */
const COUNT = 6;

describe('storage:move progress of moves that share a source or a database', () => {
  let one: LocalEmulator;
  let two: LocalEmulator;
  let db: TestDatabase;
  let orders: SeededOrder[];
  const assets = (source: string, prefix: string, target: LocalEmulator) =>
    runCli(['--source', source, '--source-endpoint', one.endpoint, '--target', 'assets', '--target-prefix', prefix, '--env', 'local', '--target-endpoint', target.endpoint, '--database-url', db.url]);
  const reports = (target: LocalEmulator) =>
    runCli(['--source', 's3://old/docs/', '--source-endpoint', one.endpoint, '--target', 'reports', '--env', 'local', '--target-endpoint', target.endpoint, '--database-url', db.url]);

  beforeAll(async () => {
    [one, two, db] = await Promise.all([
      startLocalEmulator({ buckets: ['old', 'other', 'assets', 'reports'] }),
      startLocalEmulator({ buckets: ['assets', 'reports'] }),
      createTestDatabase('stmove_targets'),
    ]);
    const c = s3(one.endpoint);
    orders = await seedOrders(db.url, Array.from({ length: COUNT }, (_, i) => `docs/${i}.bin`));
    for (let i = 0; i < COUNT; i++)
      await Promise.all([
        putObject(c, 'old', `a/${i}.png`, content(i, 2000)),
        putObject(c, 'old', `b/${i}.png`, content(100 + i, 2000)),
        putObject(c, 'other', `a/${i}.png`, content(200 + i, 2000)),
        putObject(c, 'old', `docs/${i}.bin`, content(300 + i, 2000)),
      ]);
    // Beside a/: a prefix that s3://old/a without its slash also matches.
    await putObject(c, 'old', 'a-old/x.png', content(400, 2000));
  }, 60_000);
  afterAll(async () => {
    await Promise.all([one?.stop(), two?.stop(), db?.drop()]);
  });

  it('another source bucket or prefix on the same endpoint is a move of its own', async () => {
    for (const [source, prefix, seed] of [['s3://old/a/', 'a/', 0], ['s3://old/b/', 'b/', 100], ['s3://other/a/', 'other/', 200]] as const) {
      const r = await assets(source, prefix, one);
      expect(r.stdout).toContain(`${COUNT} copied and verified, 0 already verified`);
      expect((await getObject(s3(one.endpoint), 'assets', `${prefix}3.png`))!.equals(content(seed + 3, 2000))).toBe(true);
    }
  }, 60_000);

  it('a source prefix without its trailing slash is the folder: its keys, not a sibling folder, no leading slash', async () => {
    const r = await assets('s3://old/a', 'noslash/', one);
    expect(r.code).toBe(0);
    expect((await listKeys(s3(one.endpoint), 'assets')).filter((k) => k.startsWith('noslash/'))).toEqual(Array.from({ length: COUNT }, (_, i) => `noslash/${i}.png`));
  }, 60_000);

  it('a target prefix without its trailing slash is the folder: legacy/logo.png, not legacylogo.png', async () => {
    const r = await assets('s3://old/a/', 'folder', one);
    expect(r.code).toBe(0);
    expect((await listKeys(s3(one.endpoint), 'assets')).filter((k) => k.startsWith('folder'))).toEqual(Array.from({ length: COUNT }, (_, i) => `folder/${i}.png`));
  }, 60_000);

  it('a key ending in / is copied when it holds bytes; only an empty one, a folder marker, is left out', async () => {
    const c = s3(one.endpoint);
    await Promise.all([putObject(c, 'old', 'c/x.png', content(500, 2000)), putObject(c, 'old', 'c/folder/', Buffer.alloc(0)), putObject(c, 'old', 'c/odd/', content(501, 300))]);
    const r = await assets('s3://old/c/', 'slash/', one);
    expect(r.stdout).toContain('2 objects listed, 2 copied and verified');
    expect(r.code).toBe(0);
    expect((await listKeys(c, 'assets')).filter((k) => k.startsWith('slash/'))).toEqual(['slash/odd/', 'slash/x.png']);
    expect((await getObject(c, 'assets', 'slash/odd/'))!.equals(content(501, 300))).toBe(true);
  }, 60_000);

  it('the same source under another --target-prefix is copied there, not skipped as done', async () => {
    const r = await assets('s3://old/a/', 'again/', one);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${COUNT} copied and verified, 0 already verified`);
    expect((await listKeys(s3(one.endpoint), 'assets')).filter((k) => k.startsWith('again/'))).toHaveLength(COUNT);
    // Each prefix keeps its own progress: the first one is still done.
    expect((await assets('s3://old/a/', 'a/', one)).stdout).toContain(`0 copied and verified, ${COUNT} already verified`);
    const verified = await runCli(['--source', 's3://old/a/', '--source-endpoint', one.endpoint, '--target', 'assets', '--target-prefix', 'again/', '--env', 'local', '--target-endpoint', one.endpoint, '--database-url', db.url, '--verify-only']);
    expect(verified.code).toBe(0);
  }, 60_000);

  it('a bucket of the same name at another target endpoint is filled, not skipped as done', async () => {
    const r = await assets('s3://old/a/', 'a/', two);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${COUNT} copied and verified, 0 already verified`);
    expect(await listKeys(s3(two.endpoint), 'assets')).toEqual(Array.from({ length: COUNT }, (_, i) => `a/${i}.png`));
  }, 60_000);

  it('reports moved to one target then another: the second gets every document under the orders’ keys', async () => {
    const first = await reports(one);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`${COUNT} copied and verified, 0 already verified`);
    // The orders now hold their new keys: the second target finds the old keys in the progress of the first.
    const second = await reports(two);
    expect(second.stderr).not.toContain('"level":"error"');
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`${COUNT} copied and verified, 0 already verified, 0 skipped`);
    const newKey = (o: SeededOrder) => documentKeyFor({ client_id: o.clientId, id: o.id }, o.format);
    expect(await listKeys(s3(two.endpoint), 'reports')).toEqual(orders.map(newKey).sort());
    for (const [i, o] of orders.entries()) expect((await getObject(s3(two.endpoint), 'reports', newKey(o)))!.equals(content(300 + i, 2000))).toBe(true);
    const keys = await query<{ id: string; document_key: string }>(db.url, 'SELECT id, document_key FROM orders');
    expect(new Map(keys.map((k) => [k.id, k.document_key]))).toEqual(new Map(orders.map((o) => [o.id, newKey(o)])));
    expect((await reports(two)).stdout).toContain(`0 copied and verified, ${COUNT} already verified`);
    expect((await reports(one)).stdout).toContain(`0 copied and verified, ${COUNT} already verified`);
  }, 60_000);

  it('a document rewritten at the source, copied again into both targets, still has its order for a third', async () => {
    await putObject(s3(one.endpoint), 'old', 'docs/0.bin', content(399, 2000));
    for (const target of [one, two]) expect((await reports(target)).stdout).toContain(`1 copied and verified, ${COUNT - 1} already verified`);
    const third = await runCli(['--source', 's3://old/docs/', '--source-endpoint', one.endpoint, '--target', 'reports', '--target-bucket', 'assets', '--env', 'local', '--target-endpoint', two.endpoint, '--database-url', db.url]);
    expect(third.stdout).toContain(`${COUNT} copied and verified, 0 already verified, 0 skipped`);
    expect(third.code).toBe(0);
    const newKey = documentKeyFor({ client_id: orders[0].clientId, id: orders[0].id }, orders[0].format);
    expect((await getObject(s3(two.endpoint), 'assets', newKey))!.equals(content(399, 2000))).toBe(true);
  }, 60_000);
});

describe('storage:move over the progress table of an earlier version (keyed by bucket alone)', () => {
  let em: LocalEmulator;
  let db: TestDatabase;
  const run = () =>
    runCli(['--source', 's3://old/a/', '--source-endpoint', em.endpoint, '--target', 'assets', '--target-prefix', 'a/', '--env', 'local', '--target-endpoint', em.endpoint, '--database-url', db.url]);

  beforeAll(async () => {
    [em, db] = await Promise.all([startLocalEmulator({ buckets: ['old', 'assets'] }), createTestDatabase('stmove_legacy')]);
    for (let i = 0; i < COUNT; i++) await putObject(s3(em.endpoint), 'old', `a/${i}.png`, content(i, 2000));
    // The table as the earlier version made it, with a row for every object, one of them never copied.
    await query(db.url, `CREATE SCHEMA _storage_move;
      CREATE TABLE _storage_move.objects (
        target_bucket text NOT NULL, source text NOT NULL, source_key text NOT NULL,
        target_key text NOT NULL, size bigint NOT NULL, source_version text, sha256 text, md5 text, order_id uuid,
        status text NOT NULL DEFAULT 'verified' CHECK (status IN ('verified')),
        verified_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (target_bucket, source, source_key))`);
    for (let i = 0; i < COUNT; i++)
      await query(db.url, `INSERT INTO _storage_move.objects (target_bucket, source, source_key, target_key, size, source_version, md5) VALUES ('assets', $1, $2, $3, 2000, 'x', 'x')`, [
        `s3://old/a/ at ${em.endpoint}`,
        `${i}.png`,
        `elsewhere/${i}.png`,
      ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([em?.stop(), db?.drop()]);
  });

  it('copies and verifies every object again once, then keeps its progress by target', async () => {
    const first = await run();
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`${COUNT} copied and verified, 0 already verified`);
    expect(await listKeys(s3(em.endpoint), 'assets')).toEqual(Array.from({ length: COUNT }, (_, i) => `a/${i}.png`));
    expect((await run()).stdout).toContain(`0 copied and verified, ${COUNT} already verified`);
    const rows = await query<{ target: string; n: string }>(db.url, 'SELECT target, count(*) AS n FROM _storage_move.objects GROUP BY target ORDER BY target');
    expect(rows).toEqual([
      { target: 's3://assets/ (endpoint and prefix not recorded)', n: String(COUNT) },
      { target: `s3://assets/a/ at ${em.endpoint}`, n: String(COUNT) },
    ]);
  }, 60_000);
});
