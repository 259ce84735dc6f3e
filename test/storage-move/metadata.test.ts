import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { startLocalEmulator, type LocalEmulator } from '../../scripts/local/emulator';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { content, getObject, headObject, runCli, s3 } from '../support/storage-move-harness';
import { standIn } from './stand-in';

/**
 * An S3 source object's headers that say how to read or serve its bytes travel with it: its user
 * metadata (x-amz-meta-*), which the emulator keeps, and Content-Encoding, Content-Disposition and
 * Content-Language, which the emulator drops, so a stand-in in front of it answers them on the
 * source's GETs and records what the move sends the target. Both a single PUT and a multipart upload.
 */
const SERVED = { 'content-encoding': 'gzip', 'content-disposition': 'attachment; filename="styles.css"', 'content-language': 'fr' };

describe('storage:move keeps the source object headers', () => {
  let em: LocalEmulator;
  let db: TestDatabase;
  let stand: Awaited<ReturnType<typeof standIn>>;
  const big = content(9, 9 * 1024 * 1024);

  beforeAll(async () => {
    [em, db] = await Promise.all([startLocalEmulator({ buckets: ['old', 'assets'] }), createTestDatabase('stmove_meta')]);
    stand = await standIn(em.endpoint, {
      answerHeaders: (r, headers) => {
        if (r.method === 'GET' && r.bucket === 'old' && r.key) Object.assign(headers, SERVED);
      },
    });
    const c = s3(em.endpoint);
    await c.send(new PutObjectCommand({ Bucket: 'old', Key: 'site/styles.css', Body: content(1, 3000), ContentType: 'text/css', Metadata: { origin: 'old-platform', 'sha-of-original': 'abc' } }));
    await new Upload({ client: c, partSize: 5 * 1024 * 1024, params: { Bucket: 'old', Key: 'site/archive.bin', Body: big, Metadata: { origin: 'old-platform' } } }).done();
  }, 60_000);
  afterAll(async () => {
    await stand?.close();
    await Promise.all([em?.stop(), db?.drop()]);
  });

  it('user metadata, Content-Encoding, Content-Disposition and Content-Language: on the single PUT and on the multipart upload', async () => {
    const r = await runCli([
      '--source', 's3://old/site/', '--source-endpoint', stand.endpoint, '--target', 'assets', '--target-prefix', 'legacy/',
      '--env', 'local', '--target-endpoint', stand.endpoint, '--database-url', db.url,
    ]);
    expect(r.stdout).toContain('2 copied and verified');
    expect(r.code).toBe(0);

    const c = s3(em.endpoint);
    expect((await headObject(c, 'assets', 'legacy/styles.css')).Metadata).toEqual({ origin: 'old-platform', 'sha-of-original': 'abc' });
    expect((await headObject(c, 'assets', 'legacy/archive.bin')).Metadata).toEqual({ origin: 'old-platform' });
    expect((await getObject(c, 'assets', 'legacy/archive.bin'))!.equals(big)).toBe(true);

    const put = stand.seen.find((s) => s.method === 'PUT' && s.bucket === 'assets' && s.key === 'legacy/styles.css')!;
    const created = stand.seen.find((s) => s.method === 'POST' && s.bucket === 'assets' && s.key === 'legacy/archive.bin' && s.query.has('uploads'))!;
    for (const sent of [put, created]) {
      for (const [name, value] of Object.entries(SERVED)) expect([name, sent.headers[name]]).toEqual([name, value]);
    }
    expect(put.headers['content-type']).toBe('text/css');
  }, 60_000);
});
