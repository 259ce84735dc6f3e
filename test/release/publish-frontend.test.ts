import { createServer, request, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { CreateBucketCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CloudFrontClient } from '@aws-sdk/client-cloudfront';
import { startLocalEmulator, LocalEmulator } from '../../scripts/local/emulator';
import { invalidationPaths, main, planUploads, publish } from '../../scripts/release/publish-frontend';
import { IMMUTABLE_CACHE, NO_CACHE } from '../../modules/edge-behaviour';

/**
 * The publish script against the local S3 emulator (fauxqs, through the real S3 SDK) and a
 * stand-in for CloudFront's CreateInvalidation REST-XML call (no CloudFront emulator exists).
 * fauxqs keeps Content-Type but drops Cache-Control, so a recording proxy in front of it
 * captures the headers each PutObject carries on the wire.
 */

interface RecordedPut {
  key: string;
  cacheControl?: string;
  contentType?: string;
}

async function recordingProxy(target: string, puts: RecordedPut[]): Promise<Server> {
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    if (req.method === 'PUT') {
      const key = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname.split('/').slice(2).join('/'));
      puts.push({ key, cacheControl: req.headers['cache-control'], contentType: req.headers['content-type'] });
    }
    const forward = request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    req.pipe(forward);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

/**
 * fauxqs deletes every key a DeleteObjects names; S3 answers 200 with an `<Error>` for each key
 * a bucket policy (or object lock) keeps. This proxy plays that policy for `denied`: it forwards
 * the request without those keys and adds S3's per-key AccessDenied to fauxqs's answer.
 */
async function denyingProxy(target: string, denied: Set<string>): Promise<Server> {
  const upstream = new URL(target);
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let body = Buffer.concat(chunks);
    const refused: string[] = [];
    const headers = { ...req.headers };
    const isDelete = req.method === 'POST' && new URL(req.url ?? '/', 'http://x').searchParams.has('delete');
    if (isDelete) {
      const xml = body.toString('utf8').replace(/<Object>\s*<Key>([^<]*)<\/Key>\s*<\/Object>/g, (object, key: string) => {
        if (!denied.has(key)) return object;
        refused.push(key);
        return '';
      });
      body = Buffer.from(xml);
      headers['content-length'] = String(body.length);
      for (const name of Object.keys(headers)) if (name === 'content-md5' || name.startsWith('x-amz-checksum-')) delete headers[name];
    }
    const forward = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, async (answer) => {
      const parts: Buffer[] = [];
      for await (const chunk of answer) parts.push(chunk as Buffer);
      let out = Buffer.concat(parts);
      const outHeaders = { ...answer.headers };
      if (isDelete && refused.length > 0) {
        const errors = refused.map((key) => `<Error><Key>${key}</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`).join('');
        out = Buffer.from(out.toString('utf8').replace('</DeleteResult>', `${errors}</DeleteResult>`));
        outHeaders['content-length'] = String(out.length);
      }
      res.writeHead(answer.statusCode ?? 502, outHeaders).end(out);
    });
    forward.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

function angularBuild(): string {
  const dir = mkdtempSync(join(tmpdir(), 'spa-dist-'));
  mkdirSync(join(dir, 'media'));
  const files: Record<string, string> = {
    'index.html': '<!doctype html><script src="main-X7KQ2ZPA.js"></script>',
    'main-X7KQ2ZPA.js': 'console.log(1)',
    'chunk-4MLUS5DD.js': 'export {}',
    'polyfills-FFHMD2TL.js': '',
    'styles-5INURTSO.css': 'body{}',
    'media/logo-ABCD2345.svg': '<svg/>',
    'favicon.ico': 'ico',
    '3rdpartylicenses.txt': 'MIT',
  };
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
  return dir;
}

describe('upload plan', () => {
  test('hashed bundles are immutable for a year; index.html and unhashed files are no-cache; index.html goes last', () => {
    const uploads = planUploads(angularBuild());
    const byKey = Object.fromEntries(uploads.map((u) => [u.key, u]));
    for (const key of ['main-X7KQ2ZPA.js', 'chunk-4MLUS5DD.js', 'polyfills-FFHMD2TL.js', 'styles-5INURTSO.css', 'media/logo-ABCD2345.svg']) {
      expect(byKey[key].cacheControl).toBe(IMMUTABLE_CACHE);
    }
    for (const key of ['index.html', 'favicon.ico', '3rdpartylicenses.txt']) expect(byKey[key].cacheControl).toBe(NO_CACHE);
    expect(IMMUTABLE_CACHE).toBe('public, max-age=31536000, immutable');
    expect(uploads[uploads.length - 1].key).toBe('index.html');
    const firstMutable = uploads.findIndex((u) => u.cacheControl === NO_CACHE);
    expect(uploads.slice(firstMutable).every((u) => u.cacheControl === NO_CACHE)).toBe(true);
    expect(byKey['index.html'].contentType).toBe('text/html; charset=utf-8');
    expect(byKey['main-X7KQ2ZPA.js'].contentType).toBe('text/javascript; charset=utf-8');
  });

  test('a word in a file name is not mistaken for a hash', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spa-dist-'));
    writeFileSync(join(dir, 'index.html'), '');
    writeFileSync(join(dir, 'service-features.js'), '');
    expect(planUploads(dir).find((u) => u.key === 'service-features.js')?.cacheControl).toBe(NO_CACHE);
  });

  test('invalidation covers / and the mutable files; many paths collapse to /*', () => {
    const uploads = planUploads(angularBuild());
    expect(invalidationPaths(uploads).sort()).toEqual(['/', '/3rdpartylicenses.txt', '/favicon.ico', '/index.html']);
    expect(invalidationPaths(uploads, 2)).toEqual(['/*']);
  });

  test('a folder without index.html or a missing folder is refused, naming --dist', () => {
    expect(() => planUploads('/nonexistent/dist')).toThrow('--dist: "/nonexistent/dist" is not a directory');
    expect(() => planUploads(mkdtempSync(join(tmpdir(), 'empty-')))).toThrow(/--dist: .* has no index.html/);
  });
});

describe('publish to the SPA bucket', () => {
  let emulator: LocalEmulator;
  let cloudfrontServer: Server;
  let proxy: Server;
  const puts: RecordedPut[] = [];
  let invalidations: Array<{ path: string; body: string }>;
  let s3: S3Client;
  let cloudfront: CloudFrontClient;
  const bucket = `docplatform-test-spa-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    emulator = await startLocalEmulator({ buckets: [] });
    proxy = await recordingProxy(emulator.endpoint, puts);
    const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    s3 = new S3Client({ region: 'eu-west-3', endpoint, forcePathStyle: true, credentials });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    invalidations = [];
    cloudfrontServer = createServer(async (req, res) => {
      let body = '';
      for await (const chunk of req) body += chunk;
      invalidations.push({ path: `${req.method} ${req.url}`, body });
      res.writeHead(201, { 'content-type': 'text/xml', location: 'https://cloudfront.amazonaws.com/inv/I2J3' }).end(
        `<?xml version="1.0"?><Invalidation xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Id>I2J3</Id><Status>InProgress</Status><CreateTime>2026-11-26T10:00:00Z</CreateTime></Invalidation>`,
      );
    });
    await new Promise<void>((r) => cloudfrontServer.listen(0, '127.0.0.1', r));
    cloudfront = new CloudFrontClient({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${(cloudfrontServer.address() as AddressInfo).port}`,
      credentials,
      maxAttempts: 1,
    });
  });

  afterAll(async () => {
    s3?.destroy();
    cloudfront?.destroy();
    await new Promise<void>((r) => (cloudfrontServer ? cloudfrontServer.close(() => r()) : r()));
    await new Promise<void>((r) => (proxy ? proxy.close(() => r()) : r()));
    await emulator?.stop();
  });

  test('uploads with cache headers, keeps recent leftovers, prunes old ones, invalidates index.html', async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'main-OLDHASH1.js', Body: 'old' }));
    const dist = angularBuild();

    const first = await publish({ s3, cdn: { cloudfront, distributionId: 'E2EXAMPLE' }, bucket, distDir: dist, pruneAfterDays: 7 });
    expect(first).toMatchObject({ uploaded: 8, immutable: 5, pruned: [], invalidationId: 'I2J3' });

    const sent = Object.fromEntries(puts.map((p) => [p.key, p]));
    expect(sent['main-X7KQ2ZPA.js'].cacheControl).toBe(IMMUTABLE_CACHE);
    expect(sent['media/logo-ABCD2345.svg']).toMatchObject({ cacheControl: IMMUTABLE_CACHE, contentType: 'image/svg+xml' });
    expect(sent['index.html'].cacheControl).toBe(NO_CACHE);
    // The build's last upload; the record of a leftover first seen (`.superseded/…`) comes after it.
    expect(puts.filter((p) => !p.key.startsWith('.superseded/')).pop()?.key).toBe('index.html');
    const head = (key: string) => s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    expect((await head('index.html')).ContentType).toMatch(/^text\/html/);
    expect((await head('media/logo-ABCD2345.svg')).ContentLength).toBe(6);
    expect((await head('main-OLDHASH1.js')).ContentLength).toBe(3);

    expect(invalidations).toHaveLength(1);
    expect(invalidations[0].path).toBe('POST /2020-05-31/distribution/E2EXAMPLE/invalidation');
    expect(invalidations[0].body).toContain('<Path>/index.html</Path>');
    expect(invalidations[0].body).toContain('<Path>/</Path>');

    // A week later the previous build's chunk is no longer needed by any open tab.
    const later = new Date(Date.now() + 8 * 86_400_000);
    const second = await publish({ s3, cdn: { cloudfront, distributionId: 'E2EXAMPLE' }, bucket, distDir: dist, pruneAfterDays: 7, now: later });
    expect(second.pruned).toEqual(['main-OLDHASH1.js']);
    const keys = ((await s3.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key);
    expect(keys).not.toContain('main-OLDHASH1.js');
    expect(keys).toContain('index.html');
  });

  test('a chunk that served for a month stays for the grace period after the first build without it, not a moment less', async () => {
    const own = `docplatform-test-spa-${randomUUID().slice(0, 8)}`;
    await s3.send(new CreateBucketCommand({ Bucket: own }));
    const day = 86_400_000;
    const t0 = Date.now();
    const cdn = { cloudfront, distributionId: 'E2EXAMPLE' };
    const keys = async () => ((await s3.send(new ListObjectsV2Command({ Bucket: own }))).Contents ?? []).map((o) => o.Key!);
    // Build B: the same files but a new main bundle, which B's index.html loads.
    const buildB = angularBuild();
    rmSync(join(buildB, 'main-X7KQ2ZPA.js'));
    writeFileSync(join(buildB, 'main-B2B2B2B2.js'), 'console.log(2)');
    writeFileSync(join(buildB, 'index.html'), '<!doctype html><script src="main-B2B2B2B2.js"></script>');

    await publish({ s3, cdn, bucket: own, distDir: angularBuild(), pruneAfterDays: 7, now: new Date(t0) });
    // A month of build A, then B: a tab that loaded A's index.html a minute ago still asks for A's main bundle.
    const b = await publish({ s3, cdn, bucket: own, distDir: buildB, pruneAfterDays: 7, now: new Date(t0 + 30 * day) });
    expect(b).toMatchObject({ superseded: ['main-X7KQ2ZPA.js'], pruned: [] });
    expect(await keys()).toContain('main-X7KQ2ZPA.js');
    expect((await publish({ s3, cdn, bucket: own, distDir: buildB, pruneAfterDays: 7, now: new Date(t0 + 36 * day) })).pruned).toEqual([]);
    expect(await keys()).toContain('main-X7KQ2ZPA.js');
    // Seven days after B, it goes, and so does the record of when B left it out.
    expect(await publish({ s3, cdn, bucket: own, distDir: buildB, pruneAfterDays: 7, now: new Date(t0 + 38 * day) })).toMatchObject({ superseded: [], pruned: ['main-X7KQ2ZPA.js'] });
    expect((await keys()).sort()).toEqual(planUploads(buildB).map((u) => u.key).sort());

    // Back in a build, a chunk starts its grace again from the next build without it.
    await publish({ s3, cdn, bucket: own, distDir: angularBuild(), pruneAfterDays: 7, now: new Date(t0 + 39 * day) });
    expect(await publish({ s3, cdn, bucket: own, distDir: buildB, pruneAfterDays: 7, now: new Date(t0 + 60 * day) })).toMatchObject({ superseded: ['main-X7KQ2ZPA.js'], pruned: [] });
    expect(await keys()).toContain('main-X7KQ2ZPA.js');
  });
  test('keys S3 refuses to delete are reported with its code and message, not as pruned; the upload and invalidation still happen', async () => {
    const own = `docplatform-test-spa-${randomUUID().slice(0, 8)}`;
    await s3.send(new CreateBucketCommand({ Bucket: own }));
    const day = 86_400_000;
    const t0 = Date.now();
    await s3.send(new PutObjectCommand({ Bucket: own, Key: 'main-OLDHASH1.js', Body: 'old' }));
    await s3.send(new PutObjectCommand({ Bucket: own, Key: 'chunk-OLDHASH2.js', Body: 'old' }));
    const denying = await denyingProxy(emulator.endpoint, new Set(['main-OLDHASH1.js']));
    const guarded = new S3Client({ region: 'eu-west-3', endpoint: `http://127.0.0.1:${(denying.address() as AddressInfo).port}`, forcePathStyle: true, credentials });
    const cdn = { cloudfront, distributionId: 'E2EXAMPLE' };
    const keys = async () => ((await s3.send(new ListObjectsV2Command({ Bucket: own }))).Contents ?? []).map((o) => o.Key!);
    try {
      await publish({ s3: guarded, cdn, bucket: own, distDir: angularBuild(), pruneAfterDays: 7, now: new Date(t0) });
      const before = invalidations.length;
      const later = await publish({ s3: guarded, cdn, bucket: own, distDir: angularBuild(), pruneAfterDays: 7, now: new Date(t0 + 8 * day) });
      expect(later).toMatchObject({
        uploaded: 8,
        pruned: ['chunk-OLDHASH2.js'],
        notPruned: [{ key: 'main-OLDHASH1.js', code: 'AccessDenied', message: 'Access Denied' }],
        invalidationId: 'I2J3',
      });
      expect(invalidations).toHaveLength(before + 1);
      const left = await keys();
      expect(left).toContain('main-OLDHASH1.js');
      expect(left).not.toContain('chunk-OLDHASH2.js');
      // The refused key keeps the record of when it left the build: the next publish prunes it at once, with no new grace.
      expect(left.filter((k) => k.startsWith('.superseded/'))).toEqual([`.superseded/${t0}/main-OLDHASH1.js`]);
      const retry = await publish({ s3, cdn, bucket: own, distDir: angularBuild(), pruneAfterDays: 7, now: new Date(t0 + 9 * day) });
      expect(retry).toMatchObject({ pruned: ['main-OLDHASH1.js'], notPruned: [] });
      expect((await keys()).sort()).toEqual(planUploads(angularBuild()).map((u) => u.key).sort());
    } finally {
      guarded.destroy();
      await new Promise<void>((r) => denying.close(() => r()));
    }
  });

  test('the CLI logs the publish, then the keys S3 kept, and exits 1', async () => {
    const own = `docplatform-test-spa-${randomUUID().slice(0, 8)}`;
    await s3.send(new CreateBucketCommand({ Bucket: own }));
    await s3.send(new PutObjectCommand({ Bucket: own, Key: 'main-OLDHASH1.js', Body: 'old' }));
    // Left out of a build long ago: due now.
    await s3.send(new PutObjectCommand({ Bucket: own, Key: '.superseded/1000/main-OLDHASH1.js', Body: '', ContentLength: 0 }));
    const denying = await denyingProxy(emulator.endpoint, new Set(['main-OLDHASH1.js']));
    const previousPort = process.env.EMULATOR_PORT;
    process.env.EMULATOR_PORT = String((denying.address() as AddressInfo).port);
    const lines: string[] = [];
    const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      expect(await main(['--env', 'local', '--dist', angularBuild(), '--bucket', own])).toBe(1);
    } finally {
      write.mockRestore();
      if (previousPort === undefined) delete process.env.EMULATOR_PORT;
      else process.env.EMULATOR_PORT = previousPort;
      await new Promise<void>((r) => denying.close(() => r()));
    }
    const logged = lines.join('').trim().split('\n').map((l) => JSON.parse(l));
    expect(logged.map((l) => [l.level, l.msg])).toEqual([
      ['info', 'frontend-published'],
      ['error', 'frontend-prune-incomplete'],
    ]);
    expect(logged[0]).toMatchObject({ uploaded: 8, pruned: [] });
    expect(logged[1].notPruned).toEqual([{ key: 'main-OLDHASH1.js', code: 'AccessDenied', message: 'Access Denied' }]);
  });
});
