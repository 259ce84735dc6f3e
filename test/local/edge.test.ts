import { createServer, IncomingHttpHeaders, request, Server } from 'node:http';
import { AddressInfo, connect } from 'node:net';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { S3Client } from '@aws-sdk/client-s3';
import { EDGE_HEADERS } from '../../core/contract';
import { API_BEHAVIOUR, API_REQUEST, CONTENT_SECURITY_POLICY, FRONTEND_BEHAVIOUR, IMMUTABLE_CACHE, MAX_REQUEST_BYTES, MAX_URL_BYTES, NO_CACHE, SECURITY_RESPONSE_HEADERS, SPA_REWRITE } from '../../modules/edge-behaviour';
import { loadCloudFrontFunction } from '../../scripts/local/edge/cloudfront-function';
import { behaviourPath, byteRange, edgeEncoding, LocalEdge, startLocalEdge } from '../../scripts/local/edge/server';
import { OPENAPI_PATH } from '../../scripts/openapi/document';
import { assertContract } from '../support/openapi-contract';
import { ErrorBody } from '../../functions/shared/public-api';
import { FIXTURE_FILES, writeFrontendFixture } from '../support/frontend-fixture';
import { startTestPlatform, TestPlatform } from '../support/functions-platform';
import { Testing } from 'cdktf';
import Koa from 'koa';
import { toApiGatewayEvent } from '../../core/internal-client';
import { toLambdaHandler } from '../../functions/shared/lambda';
import { dev } from '../../stacks/config';
import { EdgeStack } from '../../stacks/edge';
import { resources } from '../support/infra-synth';

/**
 * The local edge (scripts/local/edge/) against the real gateways and a built folder: the SPA
 * rewrite and the /api function are the deployed code, executed; a deep link is the app shell,
 * an unknown API path the API's own JSON 404; every answer has the security headers and the
 * cache headers publish:frontend stores.
 */
const OPENAPI_FILE = join(__dirname, '..', '..', OPENAPI_PATH);
const ORIGIN_SECRET = 'edge-test-origin-secret';
let platform: TestPlatform;
let edge: LocalEdge;
let dist: string;

beforeAll(async () => {
  platform = await startTestPlatform('edge');
  dist = writeFrontendFixture();
  edge = await startLocalEdge({
    frontend: { kind: 'folder', dir: dist },
    gateways: { b2c: platform.urls['gateway-b2c'], b2b: platform.urls['gateway-b2b'] },
    originSecret: ORIGIN_SECRET,
    openApiFile: OPENAPI_FILE,
  });
});

afterAll(async () => {
  await edge?.close();
  await platform?.teardown();
  rmSync(dist, { recursive: true, force: true });
});

const get = async (path: string, init: RequestInit = {}, base = edge.url) => {
  const res = await fetch(base + path, { redirect: 'manual', ...init });
  return { status: res.status, headers: res.headers, text: await res.text() };
};

/** A request whose path goes out as written: fetch's URL parser would resolve its dot segments first. */
const raw = (path: string, headers: Record<string, string> = {}, method = 'GET', base = edge.url) =>
  new Promise<{ status: number; headers: IncomingHttpHeaders; text: string }>((done, fail) => {
    const { hostname, port } = new URL(base);
    const req = request({ host: hostname, port, path, headers, method }, async (res) => {
      let text = '';
      for await (const chunk of res) text += chunk;
      done({ status: res.statusCode!, headers: res.headers, text });
    });
    req.on('error', fail);
    req.end();
  });

/** API Gateway's 403 for a path it has no resource for, as its DEFAULT_4XX gateway response writes it (modules/api-routes.ts). */
const MISSING_TOKEN = { error: { code: 'request_refused', message: 'Missing Authentication Token' } };

/** A request's answer as bytes, undecoded: fetch would decompress the body itself. */
const bytes = (path: string, headers: Record<string, string> = {}, method = 'GET', base = edge.url) =>
  new Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }>((done, fail) => {
    const req = request(base + path, { headers, method }, async (res) => {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      done({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) });
    });
    req.on('error', fail);
    req.end();
  });

/** A port nothing listens on: a server's, closed. */
const closedPort = async () => {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
};

const expectSecurityHeaders = (headers: Headers) => {
  for (const [name, value] of Object.entries(SECURITY_RESPONSE_HEADERS)) expect({ name, value: headers.get(name) }).toEqual({ name, value });
};

describe('the front end', () => {
  test('a deep link is the app shell: index.html, revalidated, with the security headers', async () => {
    const res = await get('/orders/6f1c2b4e-8a3d-4c5e-9f10-1a2b3c4d5e6f?paid=1');
    expect(res.status).toBe(200);
    expect(res.text).toBe(FIXTURE_FILES['index.html']);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe(NO_CACHE);
    expectSecurityHeaders(res.headers);
    expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
  });

  test('/ is the app shell too; a hashed bundle is immutable, an unhashed file revalidated', async () => {
    expect((await get('/')).text).toBe(FIXTURE_FILES['index.html']);
    const main = await get('/main-X7KQ2ZPA.js');
    expect([main.status, main.headers.get('content-type'), main.headers.get('cache-control'), main.text]).toEqual([
      200,
      'text/javascript; charset=utf-8',
      IMMUTABLE_CACHE,
      FIXTURE_FILES['main-X7KQ2ZPA.js'],
    ]);
    const icon = await get('/favicon.ico');
    expect([icon.headers.get('content-type'), icon.headers.get('cache-control')]).toEqual(['image/x-icon', NO_CACHE]);
    expect((await get('/media/logo-ABCD2345.svg')).headers.get('content-type')).toBe('image/svg+xml');
  });

  test('a missing file is what S3 answers through Origin Access Control (403), never the app shell', async () => {
    const res = await get('/main-NOPE1234.js');
    expect(res.status).toBe(403);
    expect(res.text).toContain('AccessDenied');
    expect(res.text).not.toContain('app-root');
    // A key that would climb out of the folder is no file of the build.
    expect((await get('/..%2F..%2Fpackage.json')).status).toBe(403);
  });

  test('a revalidation of an unchanged file is a 304 without a body, as CloudFront answers it', async () => {
    const first = await get('/orders/1');
    const etag = first.headers.get('etag')!;
    const lastModified = first.headers.get('last-modified')!;
    const again = await get('/orders/1', { headers: { 'if-none-match': etag } });
    expect([again.status, again.text, again.headers.get('etag'), again.headers.get('cache-control')]).toEqual([304, '', etag, NO_CACHE]);
    expectSecurityHeaders(again.headers);
    expect((await get('/orders/1', { headers: { 'if-none-match': `"other", W/${etag}` } })).status).toBe(304);
    expect((await get('/orders/1', { headers: { 'if-modified-since': lastModified } })).status).toBe(304);
    // If-None-Match decides when both are sent; a changed file, or an older date, is the file again.
    const changed = await get('/orders/1', { headers: { 'if-none-match': '"other"', 'if-modified-since': lastModified } });
    expect([changed.status, changed.text]).toEqual([200, FIXTURE_FILES['index.html']]);
    expect((await get('/orders/1', { headers: { 'if-modified-since': new Date(Date.parse(lastModified) - 60_000).toUTCString() } })).status).toBe(200);
  });

  test('a byte range is a 206 with its Content-Range, as S3 answers behind CloudFront; one past the end a 416', async () => {
    const file = FIXTURE_FILES['main-X7KQ2ZPA.js'];
    const size = Buffer.byteLength(file);
    const part = async (range: string, path = '/main-X7KQ2ZPA.js') => {
      const res = await get(path, { headers: { range } });
      return [res.status, res.headers.get('content-range'), res.headers.get('content-length'), res.text];
    };
    expect(await part('bytes=0-6')).toEqual([206, `bytes 0-6/${size}`, '7', file.slice(0, 7)]);
    expect(await part('bytes=5-')).toEqual([206, `bytes 5-${size - 1}/${size}`, String(size - 5), file.slice(5)]);
    expect(await part('bytes=-4')).toEqual([206, `bytes ${size - 4}-${size - 1}/${size}`, '4', file.slice(-4)]);
    expect(await part('bytes=3-100000')).toEqual([206, `bytes 3-${size - 1}/${size}`, String(size - 3), file.slice(3)]);
    // The app shell a deep link rewrites to is read the same way.
    const shell = FIXTURE_FILES['index.html'];
    expect(await part('bytes=0-14', '/orders/1')).toEqual([206, `bytes 0-14/${Buffer.byteLength(shell)}`, '15', shell.slice(0, 15)]);

    const ranged = await get('/main-X7KQ2ZPA.js', { headers: { range: 'bytes=0-6' } });
    expect([ranged.headers.get('cache-control'), ranged.headers.get('content-type'), ranged.headers.get('accept-ranges')]).toEqual([IMMUTABLE_CACHE, 'text/javascript; charset=utf-8', 'bytes']);
    expectSecurityHeaders(ranged.headers);
    expect((await get('/main-X7KQ2ZPA.js')).headers.get('accept-ranges')).toBe('bytes');

    const past = await get('/main-X7KQ2ZPA.js', { headers: { range: `bytes=${size}-` } });
    expect([past.status, past.headers.get('content-range')]).toEqual([416, `bytes */${size}`]);
    expect(past.text).toContain('<Code>InvalidRange</Code>');
    expectSecurityHeaders(past.headers);

    // What S3 does not act on is the whole object: several ranges, a reversed one, another unit.
    for (const range of ['bytes=0-1,3-4', 'bytes=5-2', 'items=0-1']) expect(await part(range)).toEqual([200, null, String(size), file]);
    const head = await get('/main-X7KQ2ZPA.js', { method: 'HEAD', headers: { range: 'bytes=0-6' } });
    expect([head.status, head.headers.get('content-length'), head.text]).toEqual([206, '7', '']);
    // A revalidation that matches is a 304 whatever the range.
    expect((await get('/main-X7KQ2ZPA.js', { headers: { range: 'bytes=0-6', 'if-none-match': ranged.headers.get('etag')! } })).status).toBe(304);
  });

  test('byteRange reads one range as RFC 9110 does', () => {
    expect(byteRange('bytes=0-0', 10)).toEqual({ start: 0, end: 0 });
    expect(byteRange('bytes=-20', 10)).toEqual({ start: 0, end: 9 });
    expect(byteRange('bytes=-0', 10)).toBe('unsatisfiable');
    expect(byteRange('bytes=0-', 0)).toBe('unsatisfiable');
    expect(byteRange('bytes=-', 10)).toBeUndefined();
    expect(byteRange(undefined, 10)).toBeUndefined();
  });

  test('GET, HEAD and OPTIONS reach the bucket, as the default behaviour allows; any other method is CloudFront’s own 403 page', async () => {
    const head = await get('/', { method: 'HEAD' });
    expect([head.status, head.text, head.headers.get('content-length')]).toEqual([200, '', String(Buffer.byteLength(FIXTURE_FILES['index.html']))]);
    // S3 answers the preflight, without a CORS configuration to allow it: the app calls no other origin.
    const options = await get('/orders/1', { method: 'OPTIONS', headers: { origin: 'https://elsewhere.example', 'access-control-request-method': 'GET' } });
    expect([options.status, options.headers.get('content-type'), options.headers.get('access-control-allow-origin')]).toEqual([403, 'application/xml', null]);
    expect(options.text).toContain('<Code>AccessForbidden</Code><Message>CORSResponse: CORS is not enabled for this bucket.</Message>');
    expectSecurityHeaders(options.headers);
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const refused = await get('/orders/1', { method, body: 'x' });
      expect({ method, status: refused.status, type: refused.headers.get('content-type'), cache: refused.headers.get('x-cache') }).toEqual({ method, status: 403, type: 'text/html', cache: 'Error from cloudfront' });
      expect(refused.text).toContain('This distribution is not configured to allow the HTTP request method that was used for this request.');
      expectSecurityHeaders(refused.headers);
    }
  });

  test('a missing build says so, in plain text, with a 404', async () => {
    const bare = await startLocalEdge({
      frontend: { kind: 'folder', dir: join(dist, 'not-built') },
      gateways: { b2c: platform.urls['gateway-b2c'], b2b: platform.urls['gateway-b2b'] },
      openApiFile: OPENAPI_FILE,
    });
    try {
      const res = await fetch(`${bare.url}/orders/1`);
      expect([res.status, res.headers.get('content-type')]).toEqual([404, 'text/plain; charset=utf-8']);
      expect(await res.text()).toMatch(/front end is not built/);
      expect((await fetch(`${bare.url}/api/health`)).status).toBe(200);
    } finally {
      await bare.close();
    }
  });
});

describe('which behaviour a path takes: CloudFront matches the normalised path, then hands on the raw one', () => {
  test('the path matched is RFC 3986-normalised, with runs of slashes made one', () => {
    expect(behaviourPath('/api/../index.html')).toBe('/index.html');
    expect(behaviourPath('/static/%2e%2e/api/health')).toBe('/api/health');
    expect(behaviourPath('/%61pi/b2c/themes')).toBe('/api/b2c/themes');
    expect(behaviourPath('//api//health')).toBe('/api/health');
    expect(behaviourPath('/a/./b/..')).toBe('/a/');
    expect(behaviourPath('/../..')).toBe('/');
    expect(behaviourPath('/api/x%2F..%2fy')).toBe('/api/x%2F..%2Fy');
    expect(behaviourPath('/')).toBe('/');
  });

  test('/api/../index.html is the front end’s behaviour: S3 gets the raw key, which no build has, not the API', async () => {
    const res = await raw('/api/../index.html');
    expect([res.status, res.headers['content-type']]).toEqual([403, 'application/xml']);
    expect(res.text).toContain('AccessDenied');
    // The leading slash of the raw path is the key's own: `//index.html` is the key `/index.html`.
    expect((await raw('//index.html')).text).toContain('AccessDenied');
  });

  test('a spelling of /api/ that normalises to it is the API behaviour, never the app shell', async () => {
    for (const path of ['/static/%2e%2e/api/health', '//api//health', '/%61pi/health']) {
      const res = await raw(path);
      // The API function strips only a literal /api, so the API has no resource for the raw path.
      expect({ path, status: res.status, body: JSON.parse(res.text) }).toEqual({ path, status: 403, body: MISSING_TOKEN });
    }
  });

  test('a URL past CloudFront’s 8,192 bytes is its 413 page, whichever the behaviour; one at the limit goes through', async () => {
    const at = `/orders/${'x'.repeat(MAX_URL_BYTES - '/orders/'.length)}`;
    expect((await raw(at)).status).toBe(200);
    for (const path of [`${at}x`, `/api/b2c/themes?pad=${'a'.repeat(MAX_URL_BYTES)}`]) {
      const res = await raw(path);
      expect([res.status, res.headers['content-type'], res.headers['x-cache']]).toEqual([413, 'text/html', 'Error from cloudfront']);
      expect(res.text).toContain(`the URL is ${Buffer.byteLength(path)} bytes, over CloudFront's 8192`);
    }
  });

  test('a request (its line and headers) past CloudFront’s 20,480 bytes is its 413 page, whichever the behaviour; one at the limit goes through, past node’s 16 KiB', async () => {
    // Sent over a bare socket, so the bytes counted are the test's own.
    const send = (path: string, size: number) =>
      new Promise<{ status: number; text: string }>((done, fail) => {
        const head = `GET ${path} HTTP/1.1\r\nHost: edge\r\nConnection: close\r\nX-Pad: `;
        const bytes = head + 'p'.repeat(size - head.length - 4) + '\r\n\r\n';
        const socket = connect(edge.port, '127.0.0.1', () => socket.end(bytes));
        let text = '';
        socket.on('data', (chunk) => (text += chunk));
        socket.on('end', () => done({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]), text }));
        socket.on('error', fail);
      });
    expect((await send('/orders/1', 17_000)).status).toBe(200);
    expect((await send('/orders/1', MAX_REQUEST_BYTES)).status).toBe(200);
    for (const [path, size] of [['/orders/1', MAX_REQUEST_BYTES + 1], ['/api/b2c/themes', MAX_REQUEST_BYTES + 1], ['/orders/1', 100_000]] as const) {
      const res = await send(path, size);
      expect({ path, size, status: res.status, cloudfront: res.text.includes('\r\nx-cache: Error from cloudfront\r\n') }).toEqual({ path, size, status: 413, cloudfront: true });
      expect(res.text).toContain(`over CloudFront's ${MAX_REQUEST_BYTES}`);
    }
  });

  test('a path whose percent-encoding does not decode is S3’s 400 InvalidURI, not a 502', async () => {
    const res = await raw('/main-%E0%A4%A.js');
    expect([res.status, res.headers['content-type']]).toEqual([400, 'application/xml']);
    expect(res.text).toContain('<Code>InvalidURI</Code>');
  });
});

describe('/api', () => {
  test('/api/b2c/nope is the API’s JSON 404, never index.html', async () => {
    const res = await get('/api/b2c/nope');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(JSON.parse(res.text)).toEqual({ error: { code: 'not_found', message: 'no route for GET /b2c/nope' } });
    expectSecurityHeaders(res.headers);
  });

  test('/api/b2c and /api/b2b reach their gateway with /api stripped; the answers keep to the contract', async () => {
    const themes = await get('/api/b2c/themes');
    expect(themes.status).toBe(200);
    assertContract('GET', '/b2c/themes', { ...themes, json: JSON.parse(themes.text) });
    expect(JSON.parse(themes.text).themes.length).toBeGreaterThan(0);
    const batch = await get('/api/b2b/batches', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(batch.status).toBe(401);
    assertContract('POST', '/b2b/batches', { ...batch, json: JSON.parse(batch.text) });
    const health = await get('/api/health');
    expect([health.status, JSON.parse(health.text).service]).toEqual([200, 'gateway-b2c']);
    expectSecurityHeaders(health.headers);
  });

  test('a POST body and the query string go through as sent', async () => {
    const res = await get('/api/b2c/orders?x=1', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"email":"nope"}' });
    expect(res.status).toBe(400);
    const fields = JSON.parse(res.text).error.fields.map((f: { field: string }) => f.field);
    expect(fields).toEqual(expect.arrayContaining(['header.idempotency-key', 'body.email', 'body.name']));
  });

  test('a path the REST API has no resource for is API Gateway’s 403 in the contract’s error body (its DEFAULT_4XX gateway response), not the app shell', async () => {
    const res = await get('/api/nope');
    expect([res.status, res.headers.get('content-type'), JSON.parse(res.text)]).toEqual([403, 'application/json', MISSING_TOKEN]);
    expect((await get('/api/b2c')).status).toBe(403);
  });

  test('every method the API behaviour allows reaches the API, OPTIONS included; one it does not allow is CloudFront’s 403 page', async () => {
    // ANY /b2c/{proxy+} takes OPTIONS to gateway-b2c, whose router answers it with the methods the path has.
    const preflight = await get('/api/b2c/themes', { method: 'OPTIONS' });
    expect([preflight.status, preflight.headers.get('allow')]).toEqual([200, expect.stringContaining('GET')]);
    expectSecurityHeaders(preflight.headers);
    // GET /health is the one method of its resource: OPTIONS there is API Gateway's 403.
    expect([(await get('/api/health', { method: 'OPTIONS' })).status]).toEqual([403]);
    const head = await get('/api/b2c/themes', { method: 'HEAD' });
    expect([head.status, head.text]).toEqual([200, '']);
    const refused = await raw('/api/b2c/themes', {}, 'PROPFIND');
    expect([refused.status, refused.headers['content-type']]).toEqual([403, 'text/html']);
    expect(refused.text).toContain('not configured to allow the HTTP request method');
  });

  test('a GET with a body is CloudFront’s 403 page, on either behaviour, never passed on', async () => {
    for (const path of ['/api/b2c/themes', '/orders/1']) {
      const res = await new Promise<{ status: number; type?: string; text: string }>((done, fail) => {
        const req = request(edge.url + path, { method: 'GET', headers: { 'content-type': 'application/json', 'content-length': '7' } }, async (answer) => {
          let text = '';
          for await (const chunk of answer) text += chunk;
          done({ status: answer.statusCode!, type: answer.headers['content-type'], text });
        });
        req.on('error', fail);
        req.end('{"a":1}');
      });
      expect({ path, status: res.status, type: res.type }).toEqual({ path, status: 403, type: 'text/html' });
      expect(res.text).toContain('Local edge: a GET with a body');
    }
    expect((await get('/api/b2c/themes')).status).toBe(200);
  });

  test('/api/openapi.json is the committed contract', async () => {
    const res = await get('/api/openapi.json');
    expect([res.status, res.headers.get('content-type')]).toEqual([200, 'application/json']);
    expect(res.text).toBe(readFileSync(OPENAPI_FILE, 'utf8'));
  });
});

describe('what the API function sends the origin', () => {
  let probe: Server;
  let seen: { url: string; headers: IncomingHttpHeaders }[];
  let probeEdge: LocalEdge;

  beforeAll(async () => {
    seen = [];
    // An origin that only records what reaches it: the forwarded request is the subject here.
    probe = createServer((req, res) => {
      seen.push({ url: req.url!, headers: req.headers });
      res.writeHead(200, { 'content-type': 'application/json', 'content-security-policy': "default-src *" });
      res.end('{}');
    });
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const origin = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`;
    probeEdge = await startLocalEdge({ frontend: { kind: 'folder', dir: dist }, gateways: { b2c: origin, b2b: origin }, originSecret: ORIGIN_SECRET, openApiFile: OPENAPI_FILE });
  });
  afterAll(async () => {
    await probeEdge.close();
    await new Promise<void>((r) => probe.close(() => r()));
  });

  test('the viewer address and the origin secret from the key value store, over what the client sent; every other header kept but Host', async () => {
    const res = await fetch(`${probeEdge.url}/api/b2b/orders/1?a=%20b&a=c`, {
      headers: { [EDGE_HEADERS.originVerify]: 'forged', [EDGE_HEADERS.clientIp]: '203.0.113.9', 'x-api-key': 'k', cookie: 'a=1; b=2', 'x-forwarded-for': '198.51.100.7' },
    });
    expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    const [forwarded] = seen;
    expect(forwarded.url).toBe('/b2b/orders/1?a=%20b&a=c');
    expect(forwarded.headers[EDGE_HEADERS.originVerify]).toBe(ORIGIN_SECRET);
    expect(forwarded.headers[EDGE_HEADERS.clientIp]).toBe('127.0.0.1');
    expect(forwarded.headers['x-api-key']).toBe('k');
    expect(forwarded.headers.cookie).toBe('a=1; b=2');
    expect(forwarded.headers['x-forwarded-for']).toBe('198.51.100.7, 127.0.0.1');
    expect(forwarded.headers.host).not.toBe(new URL(probeEdge.url).host);
  });

  test('a query value left empty (a=, a, a=&a=x) reaches the gateway as the Lambda adapter builds it from the event API Gateway gives', async () => {
    // API Gateway's REST proxy event for each viewer query: a name without a value is the empty string, a repeated one is its last value and the list.
    const cases: [string, Record<string, string[]>][] = [
      ['a=', { a: [''] }],
      ['a', { a: [''] }],
      ['a=&a=x', { a: ['', 'x'] }],
    ];
    const echo = new Koa();
    echo.use((ctx) => {
      ctx.body = { url: ctx.url, query: ctx.query };
    });
    const lambda = toLambdaHandler(echo);
    for (const [query, values] of cases) {
      const event = {
        ...toApiGatewayEvent({ method: 'GET', path: '/b2b/orders/1' }, 'req-empty-query'),
        queryStringParameters: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v[v.length - 1]])),
        multiValueQueryStringParameters: values,
      };
      const inAws = JSON.parse(((await lambda(event, {})) as { body: string }).body);
      seen = [];
      await fetch(`${probeEdge.url}/api/b2b/orders/1?${query}`);
      expect([query, seen[0].url]).toEqual([query, inAws.url]);
    }
  });

  test('the path and the query reach the gateway as the viewer sent them: not re-encoded, dot segments and backslashes left', async () => {
    for (const [path, expected] of [
      [`/api/b2b/orders/1?a='x'&b="y"&c=<z>`, `/b2b/orders/1?a='x'&b="y"&c=<z>`],
      ['/api/b2c/x/../y?q=%2e%2E', '/b2c/x/../y?q=%2e%2E'],
      ['/api/b2c/x/%2e%2e/y', '/b2c/x/%2e%2e/y'],
      ['/api/b2c/x\\y', '/b2c/x\\y'],
    ]) {
      seen = [];
      expect({ path, status: (await raw(path, {}, 'GET', probeEdge.url)).status }).toEqual({ path, status: 200 });
      expect({ path, forwarded: seen[0]?.url }).toEqual({ path, forwarded: expected });
    }
  });

  test('without the secret in the store the header stays out (the API refuses the request in AWS)', async () => {
    const fn = loadCloudFrontFunction('api-prefix', API_REQUEST, {});
    const result = await fn({
      version: '1.0',
      context: { distributionDomainName: 'd', distributionId: 'D', eventType: 'viewer-request', requestId: 'r' },
      viewer: { ip: '198.51.100.1' },
      request: { method: 'GET', uri: '/api/health', querystring: {}, headers: { [EDGE_HEADERS.originVerify]: { value: 'forged' } }, cookies: {} },
    });
    expect(result).toEqual({
      request: expect.objectContaining({ uri: '/health', headers: { [EDGE_HEADERS.clientIp]: { value: '198.51.100.1' } } }),
    });
  });
});

test('a gateway slower than API Gateway’s integration timeout is its 504, as in AWS, not an answer later', async () => {
  const hung: Array<() => void> = [];
  const slow = createServer((_req, res) => {
    hung.push(() => res.destroy());
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(slow.address() as AddressInfo).port}`;
  const slowEdge = await startLocalEdge({ frontend: { kind: 'folder', dir: dist }, gateways: { b2c: origin, b2b: origin }, openApiFile: OPENAPI_FILE, apiTimeoutMs: 300 });
  try {
    const started = Date.now();
    const res = await fetch(`${slowEdge.url}/api/b2c/themes`);
    expect([res.status, res.headers.get('content-type'), await res.json()]).toEqual([504, 'application/json', { error: { code: 'gateway_error', message: 'Endpoint request timed out' } }]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expectSecurityHeaders(res.headers);
    // The edge keeps serving once the origin request it gave up on is gone.
    expect((await fetch(`${slowEdge.url}/api/b2c/themes`, { method: 'HEAD' })).status).toBe(504);
  } finally {
    for (const close of hung) close();
    await slowEdge.close();
    await new Promise<void>((r) => slow.close(() => r()));
  }
});

describe('compression, as CloudFront does it under each behaviour’s cache policy', () => {
  // Above CloudFront's 1,000-byte floor, and one below it.
  const bundle = `${'export const line = "a line of the bundle";\n'.repeat(200)}`;
  const tiny = 'console.log("small");\n'.repeat(20);
  beforeAll(() => {
    writeFileSync(join(dist, 'chunk-BUNDLE22.js'), bundle);
    writeFileSync(join(dist, 'chunk-TINY2345.js'), tiny);
    writeFileSync(join(dist, 'manifest.webmanifest'), JSON.stringify({ name: 'x'.repeat(2000) }));
    writeFileSync(join(dist, 'fonts-ABCD2345.woff2'), Buffer.alloc(4000, 7));
  });

  test('a front-end file is Brotli when the viewer takes it, else gzip, with a weak ETag and Vary; the bytes are the file', async () => {
    const plain = await bytes('/chunk-BUNDLE22.js');
    expect([plain.headers['content-encoding'], plain.body.toString()]).toEqual([undefined, bundle]);
    const strong = plain.headers.etag!;
    expect(strong).toMatch(/^"/);

    const br = await bytes('/chunk-BUNDLE22.js', { 'accept-encoding': 'gzip, deflate, br' });
    expect([br.status, br.headers['content-encoding'], br.headers.vary, br.headers.etag, br.headers['content-type']]).toEqual([200, 'br', 'Accept-Encoding', `W/${strong}`, 'text/javascript; charset=utf-8']);
    expect([brotliDecompressSync(br.body).toString(), br.headers['content-length']]).toEqual([bundle, String(br.body.length)]);
    expect(br.body.length).toBeLessThan(Buffer.byteLength(bundle) / 4);
    expect(br.headers['cache-control']).toBe(IMMUTABLE_CACHE);

    const gz = await bytes('/chunk-BUNDLE22.js', { 'accept-encoding': 'br;q=0, gzip' });
    expect([gz.headers['content-encoding'], gunzipSync(gz.body).toString()]).toEqual(['gzip', bundle]);

    // The weak ETag revalidates: CloudFront compares If-None-Match weakly.
    const revalidated = await bytes('/chunk-BUNDLE22.js', { 'accept-encoding': 'br', 'if-none-match': `W/${strong}` });
    expect([revalidated.status, revalidated.headers.etag]).toEqual([304, `W/${strong}`]);
    expect((await bytes('/chunk-BUNDLE22.js', { 'if-none-match': `W/${strong}` })).headers.etag).toBe(strong);
    const head = await bytes('/chunk-BUNDLE22.js', { 'accept-encoding': 'br' }, 'HEAD');
    expect([head.status, head.headers['content-encoding'], head.headers['content-length'], head.body.length]).toEqual([200, 'br', String(br.body.length), 0]);
  });

  test('not compressed: below 1,000 bytes, a type CloudFront does not compress, a byte range, an encoding it does not make', async () => {
    const cases: [string, Record<string, string>][] = [
      ['/chunk-TINY2345.js', { 'accept-encoding': 'br, gzip' }],
      ['/manifest.webmanifest', { 'accept-encoding': 'br, gzip' }],
      ['/fonts-ABCD2345.woff2', { 'accept-encoding': 'br, gzip' }],
      ['/chunk-BUNDLE22.js', { 'accept-encoding': 'deflate, zstd' }],
    ];
    for (const [path, headers] of cases) {
      const res = await bytes(path, headers);
      expect({ path, status: res.status, encoding: res.headers['content-encoding'] }).toEqual({ path, status: 200, encoding: undefined });
    }
    const part = await bytes('/chunk-BUNDLE22.js', { 'accept-encoding': 'br', range: 'bytes=0-9' });
    expect([part.status, part.headers['content-encoding'], part.body.toString()]).toEqual([206, undefined, bundle.slice(0, 10)]);
  });

  test('the app shell a deep link rewrites to is compressed like any file', async () => {
    const long = `<!doctype html><html><body><app-root></app-root>${'<!-- padding -->'.repeat(100)}</body></html>\n`;
    writeFileSync(join(dist, 'index.html'), long);
    try {
      const res = await bytes('/orders/1', { 'accept-encoding': 'gzip' });
      expect([res.headers['content-encoding'], gunzipSync(res.body).toString(), res.headers['cache-control']]).toEqual(['gzip', long, NO_CACHE]);
    } finally {
      writeFileSync(join(dist, 'index.html'), FIXTURE_FILES['index.html']);
    }
  });

  test('an API answer is what the API sent: the uncached behaviour’s policy enables no encoding, and Accept-Encoding goes to the origin', async () => {
    const json = JSON.stringify({ items: Array.from({ length: 200 }, (_, i) => ({ i, name: `item ${i}` })) });
    let seenEncoding: string | undefined;
    const origin = createServer((req, res) => {
      seenEncoding = req.headers['accept-encoding'];
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
      res.end(json);
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
    const apiEdge = await startLocalEdge({ frontend: { kind: 'folder', dir: dist }, gateways: { b2c: url, b2b: url }, openApiFile: OPENAPI_FILE });
    try {
      const res = await bytes('/api/b2c/themes', { 'accept-encoding': 'gzip, br' }, 'GET', apiEdge.url);
      expect([res.status, res.headers['content-encoding'], res.body.toString()]).toEqual([200, undefined, json]);
      expect(seenEncoding).toBe('gzip, br');
    } finally {
      await apiEdge.close();
      await new Promise<void>((r) => origin.close(() => r()));
    }
  });

  test('edgeEncoding: the cache policy’s encodings the viewer accepts, Brotli first; none over HTTP/1.0', () => {
    expect(edgeEncoding(FRONTEND_BEHAVIOUR, 'gzip, br')).toBe('br');
    expect(edgeEncoding(FRONTEND_BEHAVIOUR, 'GZIP;q=0.5')).toBe('gzip');
    expect(edgeEncoding(FRONTEND_BEHAVIOUR, 'br;q=0, gzip;q=0.0')).toBeUndefined();
    expect(edgeEncoding(FRONTEND_BEHAVIOUR, undefined)).toBeUndefined();
    expect(edgeEncoding(FRONTEND_BEHAVIOUR, 'br', '1.0')).toBeUndefined();
    expect(edgeEncoding(API_BEHAVIOUR, 'br, gzip')).toBeUndefined();
  });
});

describe('an origin the edge cannot reach', () => {
  test('a gateway that is not running is API Gateway’s 502 in the contract’s error body, as for a function that failed', async () => {
    const port = await closedPort();
    const down = await startLocalEdge({ frontend: { kind: 'folder', dir: dist }, gateways: { b2c: `http://127.0.0.1:${port}`, b2b: `http://127.0.0.1:${port}` }, openApiFile: OPENAPI_FILE });
    try {
      const res = await get('/api/b2c/themes', {}, down.url);
      const json = JSON.parse(res.text);
      expect([res.status, res.headers.get('content-type'), json]).toEqual([502, 'application/json', { error: { code: 'gateway_error', message: 'Internal server error' } }]);
      // The public contract's error body, whose message the Angular client shows (frontend/src/app/api/client.ts errorMessage).
      expect(ErrorBody.safeParse(json).success).toBe(true);
      expectSecurityHeaders(res.headers);
      expect((await fetch(`${down.url}/api/b2b/batches`, { method: 'POST', body: '{}' })).status).toBe(502);
    } finally {
      await down.close();
    }
  });

  test('a front-end bucket that does not answer is CloudFront’s own 502 page, naming the local cause', async () => {
    const port = await closedPort();
    const s3 = new S3Client({ region: 'eu-west-3', endpoint: `http://127.0.0.1:${port}`, forcePathStyle: true, credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
    const down = await startLocalEdge({ frontend: { kind: 'bucket', bucket: 'docplatform-local-spa', s3 }, gateways: { b2c: platform.urls['gateway-b2c'], b2b: platform.urls['gateway-b2b'] }, openApiFile: OPENAPI_FILE });
    try {
      const res = await fetch(`${down.url}/orders/1`);
      const text = await res.text();
      expect([res.status, res.headers.get('content-type'), res.headers.get('x-cache')]).toEqual([502, 'text/html', 'Error from cloudfront']);
      expect(text).toContain('<H1>502 ERROR</H1>');
      expect(text).toContain("CloudFront wasn't able to connect to the origin.");
      expect(text).toMatch(/Local edge: .*ECONNREFUSED/);
      expectSecurityHeaders(res.headers);
      expect((await fetch(`${down.url}/api/health`)).status).toBe(200);
    } finally {
      await down.close();
    }
  });
});

describe('one source for the functions', () => {
  test('the behaviours the edge stack deploys are the ones the local edge executes', () => {
    const edgeStack = new EdgeStack(Testing.app(), 'probe-edge', { ...dev, edge: { ...dev.edge, apiBehaviour: true } }, { domainName: 'api.example', stagePath: 'v1' });
    const [distribution] = resources(JSON.parse(Testing.synth(edgeStack)), 'aws_cloudfront_distribution');
    const shape = (b: any) => ({ allowedMethods: b.allowed_methods, cachedMethods: b.cached_methods, cachePolicyId: b.cache_policy_id, originRequestPolicyId: b.origin_request_policy_id, compress: b.compress });
    expect(shape(distribution.config.default_cache_behavior)).toEqual({ ...FRONTEND_BEHAVIOUR, originRequestPolicyId: undefined });
    expect(shape(distribution.config.ordered_cache_behavior[0])).toEqual(API_BEHAVIOUR);
  });

  test('the code the edge stack deploys is the code the local edge executes', () => {
    const edgeStack = new EdgeStack(Testing.app(), 'probe-edge', { ...dev, edge: { ...dev.edge, apiBehaviour: true } }, { domainName: 'api.example', stagePath: 'v1' });
    const stack = JSON.parse(Testing.synth(edgeStack));
    const code = Object.fromEntries(resources(stack, 'aws_cloudfront_function').map((f) => [f.config.name.replace(/^.*-(spa-rewrite|api-prefix)$/, '$1'), f.config.code]));
    expect(code).toEqual({ 'spa-rewrite': SPA_REWRITE, 'api-prefix': API_REQUEST });
    expect(code['api-prefix']).toMatch(/^import cf from 'cloudfront';/);
  });

  test('the runner refuses an import the runtime would not give', () => {
    expect(() => loadCloudFrontFunction('f', "import fs from 'fs';\nfunction handler(e) { return e.request; }")).toThrow(/only the cloudfront module/);
  });
});
