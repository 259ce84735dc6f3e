import { createHash } from 'node:crypto';
import { documentKeyFor } from '../../core/domain/orders';
import { ensureState } from '../../migrations/storage-move/state';
import { open } from '../../migrations/data-move/db';
import { startLocalEmulator, type LocalEmulator } from '../../scripts/local/emulator';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { content, listKeys, putObject, query, runCli, s3, seedOrders, type SeededOrder } from '../support/storage-move-harness';
import { standIn, type StandInRules } from './stand-in';

/**
 * One object the source will not give or the target will not take, a listing that breaks and a
 * commit that fails, each behind a stand-in of S3 in front of the emulator (which answers every
 * request it gets).
 */
const COUNT = 30;
const keyOf = (i: number) => `docs/${i % 3}/doc ${i}.bin`;

describe('storage:move when one object, the listing or a commit fails', () => {
  let em: LocalEmulator;
  let db: TestDatabase;
  let orders: SeededOrder[];
  const newKey = (o: SeededOrder) => documentKeyFor({ client_id: o.clientId, id: o.id }, o.format);
  // One stand-in for every run: the state is kept per source, whose name has the endpoint in it.
  let rules: StandInRules = {};
  let stand: Awaited<ReturnType<typeof standIn>>;
  const through = (given: StandInRules, args: string[]) => {
    rules = given;
    return runCli([...args, '--source-endpoint', stand.endpoint, '--target-endpoint', stand.endpoint, '--env', 'local', '--database-url', db.url, '--jobs', '4']);
  };

  beforeAll(async () => {
    [em, db] = await Promise.all([startLocalEmulator({ buckets: ['old', 'reports', 'assets'] }), createTestDatabase('stmove_fail')]);
    stand = await standIn(em.endpoint, {
      refuse: (r) => rules.refuse?.(r),
      forwardPath: (r, path) => rules.forwardPath?.(r, path) ?? path,
      answerHeaders: (r, headers) => rules.answerHeaders?.(r, headers),
      checkContentMd5: true,
    });
    orders = await seedOrders(db.url, Array.from({ length: COUNT }, (_, i) => keyOf(i)));
    const c = s3(em.endpoint);
    for (let i = 0; i < COUNT; i++) {
      await putObject(c, 'old', keyOf(i), content(i, 2000 + i));
      await putObject(c, 'old', `assets/list/${i}.png`, content(i, 500));
      await putObject(c, 'old', `assets/commit/${i}.png`, content(i, 500));
      await putObject(c, 'old', `assets/sse/${i}.png`, content(i, 700));
    }
  }, 60_000);
  afterAll(async () => {
    await stand?.close();
    await Promise.all([em?.stop(), db?.drop()]);
  });

  it('a GET refused (403), a GET of a vanished object (404) and a PUT refused (400): each named with its cause and skipped, the rest moved, exit 2; a rerun finishes', async () => {
    const forbidden = keyOf(3);
    const vanished = keyOf(17);
    const refusedPut = newKey(orders[5]);
    const refusing: StandInRules = {
      refuse: (r) =>
        r.method === 'GET' && r.bucket === 'old' && r.key === forbidden
          ? { status: 403, code: 'AccessDenied', message: 'Access Denied' }
          : r.method === 'GET' && r.bucket === 'old' && r.key === vanished
            ? { status: 404, code: 'NoSuchKey', message: 'The specified key does not exist.' }
            : r.method === 'PUT' && r.bucket === 'reports' && r.key === refusedPut
              ? { status: 400, code: 'InvalidArgument', message: 'Invalid argument.' }
              : undefined,
    };
    const args = ['--source', 's3://old/docs/', '--target', 'reports'];
    const r = await through(refusing, args);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain(`${COUNT} objects listed, ${COUNT - 3} copied and verified, 0 already verified, 3 skipped, 0 failed`);
    expect(r.stdout).toContain(`  ${forbidden.slice(5)}: not copied, its key unchanged: GET old/${forbidden}: Access Denied (AccessDenied, HTTP 403)`);
    expect(r.stdout).toContain(`  ${vanished.slice(5)}: not copied, its key unchanged: GET old/${vanished}: The specified key does not exist. (NoSuchKey, HTTP 404)`);
    expect(r.stdout).toContain(`  ${keyOf(5).slice(5)}: not copied, its key unchanged: PUT reports/${refusedPut}: Invalid argument. (InvalidArgument, HTTP 400)`);

    const rows = new Map((await query<{ id: string; document_key: string }>(db.url, 'SELECT id, document_key FROM orders')).map((x) => [x.id, x.document_key]));
    orders.forEach((o, i) => expect(rows.get(o.id)).toBe([3, 5, 17].includes(i) ? o.oldKey : newKey(o)));

    const again = await through({}, args);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`${COUNT} objects listed, 3 copied and verified, ${COUNT - 3} already verified, 0 skipped`);
    expect(await listKeys(s3(em.endpoint), 'reports')).toEqual(orders.map(newKey).sort());
  }, 60_000);

  it('SSE-KMS and SSE-C sources: their 32-hex ETags are not sent as Content-MD5 (S3 would refuse them: BadDigest); we hash the bytes', async () => {
    const encrypted: StandInRules = {
      answerHeaders: (r, headers) => {
        if (r.method !== 'GET' || !r.key.startsWith('assets/sse/')) return;
        // What S3 answers for such an object: an ETag of 32 hex digits that is no MD5 of it.
        headers.etag = `"${createHash('md5').update(r.key).digest('hex')}"`;
        if (Number(r.key.match(/(\d+)\.png$/)![1]) % 2) headers['x-amz-server-side-encryption-customer-algorithm'] = 'AES256';
        else headers['x-amz-server-side-encryption'] = r.key.endsWith('4.png') ? 'aws:kms:dsse' : 'aws:kms';
      },
    };
    const r = await through(encrypted, ['--source', 's3://old/assets/sse/', '--target', 'assets']);
    expect(r.stdout).toContain(`${COUNT} objects listed, ${COUNT} copied and verified, 0 already verified, 0 skipped, 0 failed`);
    expect(r.stdout).toContain(`verified by: 0 SHA-256 checksum of the target, ${COUNT} MD5 computed by the target`);
    expect(r.code).toBe(0);
    const state = await query<{ sha256: string | null; md5: string | null }>(db.url, `SELECT sha256, md5 FROM _storage_move.objects WHERE source LIKE 's3://old/assets/sse/%'`);
    expect(state.filter((x) => x.sha256 !== null && x.md5 === null)).toHaveLength(COUNT);
  }, 60_000);

  it('two orders with one old key: the object goes to neither, skipped naming both (exit 2)', async () => {
    const [o] = await query<{ client_id: string; theme_id: string }>(db.url, `SELECT client_id, theme_id FROM orders WHERE id = '${orders[0].id}'`);
    const twins = await query<{ id: string }>(
      db.url,
      `INSERT INTO orders (client_id, theme_id, status, document_key) VALUES ($1, $2, 'ready', 'docs/twice.pdf'), ($1, $2, 'ready', 'docs/twice.pdf') RETURNING id`,
      [o.client_id, o.theme_id],
    );
    await putObject(s3(em.endpoint), 'old', 'docs/twice.pdf', content(1, 100));
    const r = await through({}, ['--source', 's3://old/docs/', '--target', 'reports']);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain(`  twice.pdf: 2 orders have this old key (${twins.map((t) => t.id).sort().join(', ')}): not copied, no key changed`);
    const keys = await query<{ document_key: string }>(db.url, `SELECT document_key FROM orders WHERE id = ANY($1::uuid[])`, [twins.map((t) => t.id)]);
    expect(keys.map((k) => k.document_key)).toEqual(['docs/twice.pdf', 'docs/twice.pdf']);
  }, 60_000);

  it('a listing that breaks on its second page ends the run (exit 3) with the first page copied and committed', async () => {
    const r = await through(
      {
        forwardPath: (x, path) => (x.query.get('list-type') === '2' ? `${path}&max-keys=10` : path),
        refuse: (x) => (x.query.has('continuation-token') ? { status: 403, code: 'AccessDenied', message: 'Access Denied' } : undefined),
      },
      ['--source', 's3://old/assets/list/', '--target', 'assets'],
    );
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('GET old/: Access Denied (AccessDenied, HTTP 403)');
    const state = await query<{ source_key: string }>(db.url, `SELECT source_key FROM _storage_move.objects WHERE source LIKE 's3://old/assets/list/%'`);
    expect(state).toHaveLength(10);
  }, 60_000);

  it('a commit the database refuses ends the run, exit 3, and moves no key', async () => {
    const c = await open(db.url, 'target', { applicationName: 'test', option: '--database-url' });
    try {
      await ensureState(c);
      await c.query(`CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        IF NEW.source_key = '7.png' THEN RAISE EXCEPTION 'refused row %', NEW.source_key; END IF; RETURN NEW; END $$;
        CREATE TRIGGER refuse_one BEFORE INSERT ON _storage_move.objects FOR EACH ROW EXECUTE FUNCTION refuse_one()`);
      const r = await through({}, ['--source', 's3://old/assets/commit/', '--target', 'assets']);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain('refused row 7.png');
      const state = await query<{ source_key: string }>(db.url, `SELECT source_key FROM _storage_move.objects WHERE source LIKE 's3://old/assets/commit/%'`);
      expect(state.map((s) => s.source_key)).not.toContain('7.png');
    } finally {
      await c.query('DROP TRIGGER IF EXISTS refuse_one ON _storage_move.objects; DROP FUNCTION IF EXISTS refuse_one()');
      await c.end();
    }
  }, 60_000);
});
