import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { IncomingHttpHeaders } from 'node:http';
import { startLocalEmulator, type LocalEmulator } from '../../scripts/local/emulator';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { content, runCli, s3 } from '../support/storage-move-harness';
import { standIn } from './stand-in';

/**
 * `--verify-only` compares the headers the move sets (Content-Type, Cache-Control, Content-Encoding,
 * Content-Disposition, Content-Language, user metadata), not only the bytes: against the emulator
 * itself (which keeps Content-Type and user metadata only), and against a stand-in in front of it
 * that answers a target object's GET with the headers its PUT carried, as S3 keeps them.
 */
describe('storage:move --verify-only compares the headers the move sets', () => {
  let em: LocalEmulator;
  let db: TestDatabase;
  let stand: Awaited<ReturnType<typeof standIn>>;
  /** Headers of the last PUT of each target key, answered on its GETs unless the key is in `dropped`. */
  const kept = new Map<string, IncomingHttpHeaders>();
  const dropped = new Set<string>();
  const KEPT = ['cache-control', 'content-encoding', 'content-disposition', 'content-language'];
  const local = (...more: string[]) =>
    runCli(['--source', 's3://old/site/', '--source-endpoint', em.endpoint, '--target', 'assets', '--target-prefix', 'legacy/', '--env', 'local', '--target-endpoint', em.endpoint, '--database-url', db.url, ...more]);
  const viaStandIn = (...more: string[]) =>
    runCli(['--source', 's3://old/site/', '--source-endpoint', em.endpoint, '--target', 'assets', '--target-prefix', 'kept/', '--env', 'dev', '--target-bucket', 'assets', '--target-endpoint', stand.endpoint, '--database-url', db.url, ...more]);

  beforeAll(async () => {
    [em, db] = await Promise.all([startLocalEmulator({ buckets: ['old', 'assets'] }), createTestDatabase('stmove_verify_headers')]);
    stand = await standIn(em.endpoint, {
      answerHeaders: (r, headers) => {
        if (r.method === 'PUT' && r.bucket === 'assets') kept.set(r.key, r.headers);
        const put = kept.get(r.key);
        if ((r.method === 'GET' || r.method === 'HEAD') && r.bucket === 'assets' && put && !dropped.has(r.key))
          for (const name of KEPT) if (put[name] !== undefined) headers[name] = put[name];
      },
    });
    const c = s3(em.endpoint);
    await c.send(new PutObjectCommand({ Bucket: 'old', Key: 'site/styles.css', Body: content(1, 3000), ContentType: 'text/css', Metadata: { origin: 'old-platform' } }));
    await c.send(new PutObjectCommand({ Bucket: 'old', Key: 'site/logo.png', Body: content(2, 2000), ContentType: 'image/png' }));
  }, 60_000);
  afterAll(async () => {
    await stand?.close();
    await Promise.all([em?.stop(), db?.drop()]);
  });

  it('the emulator as target: a Content-Type or user metadata not the one the move sets is a difference (exit 1), named per key', async () => {
    expect((await local()).code).toBe(0);
    const ok = await local('--verify-only');
    expect(ok.stdout).toContain('2 objects listed, 2 ok, 0 missing or different');
    expect(ok.stdout).toContain('compared: size, SHA-256, content-type, x-amz-meta-* (not cache-control, content-encoding, content-disposition, content-language: the local emulator keeps none)');
    expect(ok.code).toBe(0);

    // The same bytes, as a copy that lost its type and its metadata would hold them.
    await s3(em.endpoint).send(new PutObjectCommand({ Bucket: 'assets', Key: 'legacy/styles.css', Body: content(1, 3000), ContentType: 'application/octet-stream' }));
    const bad = await local('--verify-only');
    expect(bad.stdout).toContain('2 objects listed, 1 ok, 1 missing or different');
    expect(bad.stdout).toContain('  styles.css -> legacy/styles.css: content-type "text/css" expected, target "application/octet-stream"; x-amz-meta-origin "old-platform" expected, target none');
    expect(bad.code).toBe(1);

    // Its row no longer counts as verified: the move copies it again, and the next check passes.
    expect(bad.stdout).toContain('missing or different (the next move copies the 1 recorded as verified again):');
    expect((await local()).stdout).toContain('2 objects listed, 1 copied and verified, 1 already verified');
    expect((await local('--verify-only')).code).toBe(0);
  }, 60_000);

  it('a target that keeps every header: one answered without its Cache-Control is a difference (exit 1)', async () => {
    const moved = await viaStandIn();
    expect(moved.stdout).toContain('2 copied and verified');
    expect(kept.get('kept/logo.png')?.['cache-control']).toBe('public, max-age=86400');
    const ok = await viaStandIn('--verify-only');
    expect(ok.stdout).toContain('compared: size, SHA-256, content-type, cache-control, content-encoding, content-disposition, content-language, x-amz-meta-*\n');
    expect(ok.code).toBe(0);

    dropped.add('kept/logo.png');
    const bad = await viaStandIn('--verify-only');
    expect(bad.stdout).toContain('  logo.png -> kept/logo.png: cache-control "public, max-age=86400" expected, target none');
    expect(bad.code).toBe(1);
  }, 60_000);
});
