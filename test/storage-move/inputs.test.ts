import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PROJECT } from '../../core/contract';
import { documentKeyFor } from '../../core/domain/orders';
import { cacheControlFor, targetDigest } from '../../migrations/storage-move/storage';
import { startLocalEmulator, type LocalEmulator } from '../../scripts/local/emulator';
import { namePrefix } from '../../stacks/config';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { AWS_ENV, content, getObject, headObject, listKeys, query, runCli, s3, seedOrders, type SeededOrder } from '../support/storage-move-harness';
import { runCliProcess } from '../support/cli-process';

const CLI = join(__dirname, '../../migrations/storage-move/cli.ts');

const ASSETS = ['logo.svg', 'fonts/Inter Regular.woff2', 'img/café crème.png', 'img/日本/図 1.jpg', 'style.css'];
const DOCS = ['old/rapport été.pdf', 'old/second doc.docx', 'old/third.html'];

describe('storage:move from a local folder, and bad input', () => {
  let em: LocalEmulator;
  let db: TestDatabase;
  let dir: string;
  let orders: SeededOrder[];
  const c = () => s3(em.endpoint);
  const base = () => ['--env', 'local', '--target-endpoint', em.endpoint, '--database-url', db.url];
  const newKey = (o: SeededOrder) => documentKeyFor({ client_id: o.clientId, id: o.id }, o.format);

  beforeAll(async () => {
    [em, db, dir] = await Promise.all([
      startLocalEmulator({ buckets: ['reports', 'assets', 'old'] }),
      createTestDatabase('stmove_in'),
      mkdtemp(join(tmpdir(), 'storage-move-')),
    ]);
    orders = await seedOrders(db.url, DOCS);
    for (const [i, key] of [...ASSETS.map((k) => `assets/${k}`), ...DOCS.map((k) => `docs/${k}`), 'docs/old/orphan.pdf'].entries()) {
      await mkdir(dirname(join(dir, key)), { recursive: true });
      await writeFile(join(dir, key), content(i, 1000 + i));
    }
  }, 60_000);
  afterAll(async () => {
    await Promise.all([em?.stop(), db?.drop(), rm(dir, { recursive: true, force: true })]);
  });

  it('assets keep their keys (spaces, UTF-8) under the prefix, with types and cache headers from the extension', async () => {
    const args = ['--source', `file://${dir}/assets`, '--target', 'assets', '--target-prefix', 'legacy/', ...base()];
    const dry = await runCli([...args, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`${ASSETS.length} to copy`);
    expect(await listKeys(c(), 'assets')).toEqual([]);

    const first = await runCli(args);
    expect(first.code).toBe(0);
    expect(await listKeys(c(), 'assets')).toEqual(ASSETS.map((k) => `legacy/${k}`).sort());
    const png = await headObject(c(), 'assets', 'legacy/img/café crème.png');
    expect(png.ContentType).toBe('image/png');
    // The emulator keeps no Cache-Control (fauxqs 1.9 drops the header): the value sent is checked here.
    expect(cacheControlFor('assets')).toBe('public, max-age=86400');
    expect(cacheControlFor('assets', 'no-cache')).toBe('no-cache');
    expect(cacheControlFor('reports')).toBeUndefined();
    expect((await getObject(c(), 'assets', 'legacy/img/日本/図 1.jpg'))!.equals(content(3, 1003))).toBe(true);

    const second = await runCli(args);
    expect(second.stdout).toContain(`0 copied and verified, ${ASSETS.length} already verified`);
  }, 30_000);

  it('--env local without --target-endpoint: exit 2 naming it, not a move into the AWS buckets named reports and assets', async () => {
    const r = await runCli(['--source', `file://${dir}/assets`, '--target', 'assets', '--env', 'local', '--database-url', db.url]);
    expect(r.stderr).toContain("--target-endpoint: is required with --env local: the emulator's endpoint");
    expect(r.code).toBe(2);
  }, 30_000);

  it('a key that maps to no order: named, skipped, exit 2; the others move and their keys change', async () => {
    const r = await runCli(['--source', `file://${dir}/docs`, '--target', 'reports', ...base()]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('old/orphan.pdf: maps to no order');
    expect(r.stdout).toContain('3 copied and verified');
    // The folder's keys are relative to it: the orders hold exactly those.
    const rows = await query<{ id: string; document_key: string }>(db.url, 'SELECT id, document_key FROM orders');
    for (const o of orders) expect(rows.find((x) => x.id === o.id)!.document_key).toBe(newKey(o));
    expect((await headObject(c(), 'reports', newKey(orders[0]))).ContentType).toBe('application/pdf');
  }, 30_000);

  it('the same folder spelled with a trailing slash is the same move: its documents are done, not unmapped', async () => {
    const r = await runCli(['--source', `file://${dir}//docs/`, '--target', 'reports', ...base()]);
    expect(r.stdout).toContain('0 copied and verified, 3 already verified, 1 skipped');
    expect(r.code).toBe(2);
  }, 30_000);

  it('--map FILE: old_key,order_id', async () => {
    const map = join(dir, 'map.csv');
    await writeFile(map, `old_key,order_id\n"old/orphan.pdf",${orders[0].id}\n`);
    const r = await runCli(['--source', `file://${dir}/docs`, '--target', 'reports', '--target-bucket', 'old', '--map', map, ...base()]);
    expect(r.stdout).toContain('old/rapport été.pdf: maps to no order (not in --map');
    expect(await listKeys(c(), 'old')).toEqual([newKey(orders[0])]);
    expect((await getObject(c(), 'old', newKey(orders[0])))!.equals(content(ASSETS.length + DOCS.length, 1000 + ASSETS.length + DOCS.length))).toBe(true);
  }, 30_000);

  it('--map saved by a spreadsheet (a UTF-8 byte order mark, CRLF lines): its header and first key read as written', async () => {
    const map = join(dir, 'map-bom.csv');
    await writeFile(map, `\uFEFFold_key,order_id\r\n"old/orphan.pdf",${orders[2].id}\r\n`);
    const r = await runCli(['--source', `file://${dir}/docs`, '--target', 'reports', '--target-bucket', 'assets', '--map', map, ...base()]);
    expect(r.stdout).toContain('1 copied and verified, 0 already verified, 3 skipped');
    expect((await getObject(c(), 'assets', newKey(orders[2])))!.equals(content(ASSETS.length + DOCS.length, 1000 + ASSETS.length + DOCS.length))).toBe(true);
  }, 30_000);

  it('--map giving one order two old keys: exit 2 naming the order and both lines, nothing copied (the second object overwrote the first under the order\'s one key)', async () => {
    const map = join(dir, 'map-twice.csv');
    await writeFile(map, `old_key,order_id\n"old/orphan.pdf",${orders[1].id}\n\n"${DOCS[2]}",${orders[1].id}\n"${DOCS[0]}",${orders[0].id}\n`);
    const r = await runCli(['--source', `file://${dir}/docs`, '--target', 'reports', '--target-bucket', 'assets', '--map', map, ...base()]);
    expect(r.stderr).toMatch(new RegExp(`--map: ${map.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} lines 2 and 4: order ${orders[1].id} is given two old keys`));
    expect(r.code).toBe(2);
    expect((await listKeys(c(), 'assets')).filter((k) => k.includes(orders[1].id))).toEqual([]);
  }, 30_000);

  it.each([
    ['unreachable target endpoint', ['--target-endpoint', 'http://127.0.0.1:1'], /--target: reports bucket reports: endpoint unreachable/],
    ['missing target bucket', ['--target-bucket', 'nope'], /bucket nope: bucket does not exist/],
    ['missing source bucket', ['--source', 's3://gone/x/'], /--source: s3:\/\/gone\/x\/.*: bucket does not exist/],
    ['missing folder', ['--source', 'file:///no/such/dir'], /no such directory/],
    ['a source prefix that holds nothing (mistyped: case counts)', ['--source', 's3://old/Docs/'], /--source: s3:\/\/old\/Docs\/ at http:\/\/127\.0\.0\.1:\d+ holds no object to move: check the bucket, the prefix or folder \(case counts\) and --source-region/],
    ['a # in the source prefix, which would end its path (all of docs/ moved)', ['--source', 's3://old/docs#2020/'], /--source: s3:\/\/old\/docs#2020\/: a # or \? ends a URL's path; in a folder name write them %23 and %3F/],
    ['a ? in the source folder', ['--source', 'file:///srv/what?/'], /--source: file:\/\/\/srv\/what\?\/: a # or \?/],
    ['a bare % in the source prefix', ['--source', 's3://old/100%/'], /--source: s3:\/\/old\/100%\/: a % starts an escape \(%20 is a space\); a % in a folder name is %25/],
    ['a bare % in the source folder', ['--source', 'file:///srv/50%off'], /--source: file:\/\/\/srv\/50%off: a % starts an escape/],
    ['a file URL with two slashes, whose first folder reads as a host', ['--source', 'file://tmp/old/assets'], /--source: file:\/\/tmp\/old\/assets names the host tmp: a folder is file:\/\/\/tmp\/old\/assets/],
    ['unknown target', ['--target', 'videos'], /--target: must be one of reports, assets/],
    ['unreachable database', ['--database-url', 'postgres://postgres@127.0.0.1:1/x'], /--database-url: cannot connect to the target database 127.0.0.1:1\/x: unreachable/],
    ['target bucket = source bucket on the same endpoint', ['--source', 's3://old/docs/', '--target-bucket', 'old'], /--target: bucket old is the source bucket \(s3:\/\/old\/docs\/ at http/],
    ['a database URL that is no URL (an unencoded # in its password)', ['--database-url', 'postgres://u:pa#ss/word@127.0.0.1/x'], /--database-url: is not a URL/],
    ['a prefix for reports, whose keys the orders give', ['--target-prefix', 'legacy/'], /--target-prefix: applies to --target assets only/],
    ['a target prefix with a leading slash, which no key of the platform has', ['--target', 'assets', '--target-prefix', '/legacy/'], /--target-prefix: must not start with \/ \(got \\"\/legacy\/\\"\)/],
    ['a key map for assets, which keep their keys', ['--target', 'assets', '--map', '/tmp/map.csv'], /--map: applies to --target reports only/],
    ['more parts in memory than the task holds', ['--jobs', '16', '--part-size-mb', '64'], /--part-size-mb: 64 with --jobs 16 holds up to 16 x 5 parts = 5120 MiB, over 3072 MiB/],
    ['a key in the source endpoint, which the report, the log and the progress rows would keep', ['--source', 's3://old/docs/', '--source-endpoint', 'https://SCWKEY:pa#ss@s3.fr-par.scw.cloud'], /--source-endpoint: must be an http\(s\):\/\/ URL"/],
    ['a key in the target endpoint', ['--target-endpoint', 'http://KEY:pa#ss@127.0.0.1:1'], /--target-endpoint: must be an http\(s\):\/\/ URL"/],
    ['a key in the source endpoint, as a URL', ['--source', 's3://old/docs/', '--source-endpoint', 'https://SCWKEY:pa%23ss@s3.fr-par.scw.cloud'], /--source-endpoint: must not hold a key \(user:secret@\): the old storage's key is SOURCE_AWS_ACCESS_KEY_ID/],
  ])('%s: exit 2 naming it', async (_name, extra, message) => {
    const args = ['--source', `file://${dir}/docs`, '--target', 'reports', ...base(), '--source-endpoint', em.endpoint, ...extra];
    const r = await runCli(args);
    expect(r.stderr).toMatch(message);
    expect(r.stderr + r.stdout).not.toMatch(/pa#ss|pa%23ss/);
    expect(r.code).toBe(2);
  }, 30_000);

  it.each([
    ['DATABASE_URL that is no URL', { DATABASE_URL: 'postgres://u:secret@[x/db' }, /DATABASE_URL: is not a URL/],
    ['a source key without its secret', { SOURCE_AWS_ACCESS_KEY_ID: 'SCWKEY' }, /SOURCE_AWS_SECRET_ACCESS_KEY: is required with SOURCE_AWS_ACCESS_KEY_ID/],
    ['a source secret without its key', { SOURCE_AWS_SECRET_ACCESS_KEY: 'secret' }, /SOURCE_AWS_ACCESS_KEY_ID: is required with SOURCE_AWS_SECRET_ACCESS_KEY/],
  ])('%s: exit 2 naming the variable, nothing printed of its value', async (_name, env, message) => {
    const args = ['--source', 's3://old/docs/', '--source-endpoint', em.endpoint, '--target', 'assets', '--env', 'local', '--target-endpoint', em.endpoint];
    const r = await runCliProcess(CLI, args, { env: Object.assign({ ...AWS_ENV, DATABASE_URL: db.url }, env) });
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/secret@|"secret"/);
    expect(r.code).toBe(2);
  }, 30_000);

  it('a reports move into a database without the platform schema (another database): exit 2 naming --database-url, nothing copied, nothing made there', async () => {
    const other = await createTestDatabase('stmove_other');
    try {
      const r = await runCli(['--source', `file://${dir}/docs`, '--target', 'reports', '--env', 'local', '--target-endpoint', em.endpoint, '--target-bucket', 'old', '--database-url', other.url]);
      expect(JSON.parse(r.stderr.split('\n')[0])).toMatchObject({ field: '--database-url', msg: expect.stringContaining(`--database-url: is not the platform's database (relation "orders" does not exist)`) });
      expect(r.code).toBe(2);
      expect(await query(other.url, `SELECT to_regclass('_storage_move.objects') AS t`)).toEqual([{ t: null }]);
    } finally {
      await other.drop();
    }
  }, 30_000);

  it('derives bucket names as the stacks do, and trusts a full-object SHA-256 from HeadObject', async () => {
    expect(`${PROJECT}-prod`).toBe(namePrefix('prod'));
    const sha = 'n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=';
    const stub = { send: async () => ({ ContentLength: 1, ChecksumSHA256: sha, ChecksumType: 'FULL_OBJECT' }) };
    expect(await targetDigest(stub as never, 'b', 'k')).toEqual({ size: 1, sha256: sha, how: 'checksum', served: {} });
  });
});
