import { createServer, Server } from 'node:http';
import { createServer as createTcpServer, Server as TcpServer, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { API_GATEWAY_TIMEOUT_MS, MAX_BATCH_ROWS } from '../../core/contract';
import { RETRY_AFTER_SECONDS } from '../../core/errors';
import { createStorage } from '../../core/storage';
import { createApp as b2bApp } from '../../functions/gateway-b2b/app';
import { createApp as b2cApp } from '../../functions/gateway-b2c/app';
import { toLambdaHandler } from '../../functions/shared/lambda';
import { toApiGatewayEvent } from '../../core/internal-client';
import { createRuntime } from '../../functions/shared/runtime';
import { http, newIdempotencyKey, startTestPlatform, TestPlatform } from '../support/functions-platform';

/**
 * Edges of the public gateways found by probing the running services: each test is a request a
 * client can send that got a 500 (or an answer that said more than it should) before its fix.
 */
let p: TestPlatform;
let b2b: string;
let b2c: string;
let apiKey: string;

beforeAll(async () => {
  p = await startTestPlatform('fn_gateway_edges');
  b2b = p.urls['gateway-b2b'];
  b2c = p.urls['gateway-b2c'];
  const res = await http(p.urls.client, '/clients', { method: 'POST', json: { name: 'edges', email: 'edges@example.test' } });
  apiKey = res.json.apiKey;
});
afterAll(() => p.teardown());

const UUID = '6f1c2b4e-8a3d-4c5e-9f10-1a2b3c4d5e6f';

describe('gateway-b2b', () => {
  // The router matches paths case-insensitively; the API key check looked for a lower-case '/b2b/'.
  test.each([
    ['GET', `/B2B/batches/${UUID}`],
    ['GET', `/B2b/orders/${UUID}`],
    ['POST', '/B2B/batches'],
  ])('%s %s without an API key is a 401, like its lower-case path', async (method, path) => {
    const res = await http(b2b, path, { method, ...(method === 'POST' ? { json: { theme: 'product-sheet', rows: [{ product: 'kettle' }] } } : {}) });
    expect({ status: res.status, body: res.json }).toEqual({ status: 401, body: { error: { code: 'unauthorized', message: expect.any(String) } } });
  });

  test.each([['Basic YTpi'], ['Bearer two words'], ['Bearer'], ['Token abc']])('Authorization: %s is a 401 that says the header is malformed, not that no key was given', async (authorization) => {
    const res = await http(b2b, `/b2b/batches/${UUID}`, { headers: { authorization } });
    expect({ status: res.status, error: res.json.error }).toEqual({
      status: 401,
      error: { code: 'unauthorized', message: 'the Authorization header must be "Bearer <API key>"' },
    });
  });

  // RFC 9110 §15.5.2: a 401 MUST carry a challenge; HTTP clients that authenticate on one (the
  // Bearer form the API takes) got none.
  test.each([
    ['no key', {}],
    ['a malformed Authorization', { authorization: 'Basic YTpi' }],
    ['a wrong key', { 'x-api-key': 'dpk_000000000000_wrong' }],
    ['a wrong Bearer key', { authorization: 'Bearer dpk_000000000000_wrong' }],
    ['a key over 200 characters', { 'x-api-key': 'k'.repeat(201) }],
  ])('a 401 for %s says how to authenticate (WWW-Authenticate)', async (_, headers: Record<string, string>) => {
    const res = await http(b2b, '/b2b/keys', { headers });
    expect({ status: res.status, challenge: res.headers.get('www-authenticate') }).toEqual({ status: 401, challenge: 'Bearer realm="b2b"' });
  });

  test('a JSON row of 200,000 members (past the arguments a call may take, within the body limit) is a 400 naming at most 50 of them, not a 500', async () => {
    const row = Object.fromEntries(Array.from({ length: 200_000 }, (_, i) => [`k${i}`, '']));
    const res = await http(b2b, '/b2b/batches', {
      method: 'POST',
      headers: { 'x-api-key': apiKey, 'idempotency-key': newIdempotencyKey() },
      json: { theme: 'product-sheet', rows: [row] },
    });
    expect(res.status).toBe(400);
    const fields = (res.json.error.fields as { field: string }[]).map((f) => f.field);
    expect(fields).toHaveLength(50);
    expect(fields.slice(0, 2)).toEqual(['rows[0].product', 'rows[0].k0']);
  });

  // 5 MiB (the limit then) of one-character rows is 2.6 million records: all of them were parsed
  // (~2 s, ~190 MB of heap on the 512 MB function) before the row count refused the batch.
  test(`a CSV of more than ${MAX_BATCH_ROWS} rows is refused once row ${MAX_BATCH_ROWS + 1} is read, not after parsing the whole body`, async () => {
    const before = await p.counts();
    const csv = `product\n${'kettle\n'.repeat(MAX_BATCH_ROWS + 1)}"a quote never closed\n`;
    const res = await http(b2b, '/b2b/batches?theme=product-sheet', { method: 'POST', headers: { 'x-api-key': apiKey, 'content-type': 'text/csv' }, body: csv });
    expect({ status: res.status, fields: res.json.error.fields }).toEqual({ status: 400, fields: [{ field: 'body', message: `at most ${MAX_BATCH_ROWS} rows` }] });
    expect(await p.counts()).toEqual(before);
  });

  test('a JSON batch with a query string is a 400 naming the parameter; a ?theme= that contradicts body.theme was ignored', async () => {
    const before = await p.counts();
    const post = (query: string) =>
      http(b2b, `/b2b/batches${query}`, {
        method: 'POST',
        headers: { 'x-api-key': apiKey, 'idempotency-key': newIdempotencyKey() },
        json: { theme: 'product-sheet', rows: [{ product: 'kettle' }] },
      });
    for (const [query, field] of [['?theme=market-study', 'query.theme'], ['?colour=red', 'query.colour']]) {
      const res = await post(query);
      expect({ query, status: res.status, fields: res.json.error?.fields }).toEqual({ query, status: 400, fields: [{ field, message: 'unknown parameter' }] });
    }
    expect(await p.counts()).toEqual(before);
  });
});

describe('gateway-b2c', () => {
  test('an idempotency key reused with another order is a 409 naming header.idempotency-key, as gateway-b2b names it', async () => {
    const key = newIdempotencyKey();
    const order = (product: string) =>
      http(b2c, '/b2c/orders', { method: 'POST', headers: { 'idempotency-key': key }, json: { email: 'ada@example.test', name: 'Ada', theme: 'product-sheet', input: { product } } });
    expect((await order('kettle')).status).toBe(201);
    const again = await order('toaster');
    expect({ status: again.status, error: again.json.error }).toEqual({
      status: 409,
      error: {
        code: 'conflict',
        message: 'this idempotency key was already used for a different order',
        fields: [{ field: 'header.idempotency-key', message: 'this idempotency key was already used for a different order' }],
      },
    });
  });
});

/** A TCP server that takes connections and never answers (an upstream hung mid-request), for the describe block it is made in. */
function silentServer(): TcpServer {
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('data', () => undefined);
  });
  beforeAll(() => new Promise<void>((r) => server.listen(0, '127.0.0.1', r)));
  afterAll(async () => {
    sockets.forEach((s) => s.destroy());
    await new Promise<void>((r) => server.close(() => r()));
  });
  return server;
}

describe('Stripe that never answers, inside a Lambda invocation', () => {
  const silent = silentServer();

  test('the order answers the 503 that says to retry before the invocation ends (the SDK waited 3 x 10 s), and the retry gets its checkout', async () => {
    const stripe = { ...p.config.stripe, apiUrl: `http://127.0.0.1:${(silent.address() as AddressInfo).port}` };
    const runtime = createRuntime('gateway-b2c', { ...p.config, stripe }, { logger: p.runtimes['gateway-b2c'].logger });
    const handler = toLambdaHandler(b2cApp(runtime));
    const key = newIdempotencyKey();
    const body = JSON.stringify({ email: 'ada@example.test', name: 'Ada', theme: 'product-sheet', input: { product: 'kettle' } });
    const event = { ...toApiGatewayEvent({ method: 'POST', path: '/b2c/orders', headers: { 'idempotency-key': key } }, 'req-stripe-hangs'), body };
    const ends = Date.now() + 4_000;
    const started = Date.now();
    const out = (await handler(event, { getRemainingTimeInMillis: () => ends - Date.now() })) as { statusCode: number; body: string; headers: Record<string, string> };
    expect(Date.now() - started).toBeLessThan(4_000);
    expect({ status: out.statusCode, retryAfter: out.headers['retry-after'], body: JSON.parse(out.body) }).toEqual({
      status: 503,
      retryAfter: '5',
      body: { error: { code: 'service_unavailable', message: 'payment provider unavailable; retry with the same idempotency key after Retry-After' } },
    });
    const retried = await http(b2c, '/b2c/orders', { method: 'POST', headers: { 'idempotency-key': key, 'content-type': 'application/json' }, body });
    expect({ status: retried.status, checkout: retried.json.checkoutUrl }).toEqual({ status: 200, checkout: expect.stringMatching(/^http/) });
    await runtime.close();
  }, 60_000);
});

describe('S3 that never answers, inside a Lambda invocation', () => {
  const silent = silentServer();

  test('a batch answers 503 with Retry-After before the invocation ends (the SDK waited 3 x 30 s), and no batch is made', async () => {
    const storage = createStorage({ aws: { ...p.config.aws, endpoint: `http://127.0.0.1:${(silent.address() as AddressInfo).port}` } });
    const runtime = createRuntime('gateway-b2b', p.config, { storage, logger: p.runtimes['gateway-b2b'].logger });
    const handler = toLambdaHandler(b2bApp(runtime));
    const before = await p.counts();
    const body = JSON.stringify({ theme: 'product-sheet', rows: [{ product: 'kettle' }] });
    const event = { ...toApiGatewayEvent({ method: 'POST', path: '/b2b/batches', headers: { 'x-api-key': apiKey, 'idempotency-key': newIdempotencyKey() } }, 'req-s3-hangs'), body };
    const ends = Date.now() + 4_000;
    const started = Date.now();
    const out = (await handler(event, { getRemainingTimeInMillis: () => ends - Date.now() })) as { statusCode: number; headers: Record<string, string>; body: string };
    expect(Date.now() - started).toBeLessThan(4_000);
    expect({ status: out.statusCode, retryAfter: out.headers['retry-after'], body: JSON.parse(out.body) }).toEqual({
      status: 503,
      retryAfter: String(RETRY_AFTER_SECONDS),
      body: { error: { code: 'service_unavailable', message: 'storage unavailable, please retry shortly' } },
    });
    expect(await p.counts()).toEqual(before);
    await runtime.close();
  }, 120_000);

  // gateway-b2b's Lambda has 29 s, API Gateway's integration 29 s too, counted from the request's
  // arrival: after a slow cold start the function's own deadline fell after API Gateway's 504.
  test('the 503 leaves before API Gateway gives up on the request, counted from its arrival, not from the invocation', async () => {
    const storage = createStorage({ aws: { ...p.config.aws, endpoint: `http://127.0.0.1:${(silent.address() as AddressInfo).port}` } });
    const runtime = createRuntime('gateway-b2b', p.config, { storage, logger: p.runtimes['gateway-b2b'].logger });
    const handler = toLambdaHandler(b2bApp(runtime));
    const body = JSON.stringify({ theme: 'product-sheet', rows: [{ product: 'kettle' }] });
    const base = toApiGatewayEvent({ method: 'POST', path: '/b2b/batches', headers: { 'x-api-key': apiKey, 'idempotency-key': newIdempotencyKey() } }, 'req-late-start');
    const arrived = Date.now() - (API_GATEWAY_TIMEOUT_MS - 4_000);
    const event = { ...base, body, requestContext: { ...(base.requestContext as object), requestTimeEpoch: arrived } };
    const ends = Date.now() + 29_000;
    const out = (await handler(event, { getRemainingTimeInMillis: () => ends - Date.now() })) as { statusCode: number; headers: Record<string, string> };
    expect(Date.now() - arrived).toBeLessThan(API_GATEWAY_TIMEOUT_MS);
    expect({ status: out.statusCode, retryAfter: out.headers['retry-after'] }).toEqual({ status: 503, retryAfter: String(RETRY_AFTER_SECONDS) });
    await runtime.close();
  }, 60_000);

  test('an arrival time API Gateway can no longer be waiting on (the Lambda console’s sample event says 2015) leaves the invocation its own deadline', async () => {
    const handler = toLambdaHandler(b2cApp(p.runtimes['gateway-b2c']));
    const base = toApiGatewayEvent({ method: 'GET', path: '/b2c/themes' }, 'req-console-test');
    const event = { ...base, requestContext: { ...(base.requestContext as object), requestTimeEpoch: 1428582896000 } };
    const ends = Date.now() + 15_000;
    const out = (await handler(event, { getRemainingTimeInMillis: () => ends - Date.now() })) as { statusCode: number };
    expect(out.statusCode).toBe(200);
  });
});

describe('query strings', () => {
  // zod reports unknown keys once, at the object: the 400 named `query`, not the parameter.
  test.each([
    ['gateway-b2c', '/b2c/themes?colour=red', {}],
    ['gateway-b2c', `/b2c/orders/${UUID}?token=${'t'.repeat(43)}&colour=red`, {}],
    ['gateway-b2b', `/b2b/batches/${UUID}?colour=red`, 'key'],
    ['gateway-b2b', '/b2b/batches?theme=product-sheet&colour=red', 'csv'],
  ] as const)('%s %s: a 400 naming query.colour', async (service, path, kind) => {
    const headers: Record<string, string> = kind === 'key' || kind === 'csv' ? { 'x-api-key': apiKey } : {};
    const init = kind === 'csv' ? { method: 'POST', body: 'product\nkettle\n', headers: { ...headers, 'content-type': 'text/csv' } } : { headers };
    const res = await http(p.urls[service], path, init);
    expect({ status: res.status, fields: res.json.error.fields }).toEqual({ status: 400, fields: [{ field: 'query.colour', message: 'unknown parameter' }] });
  });
});

describe('S3 answering 5xx', () => {
  // S3 as it answers when it sheds load, on every attempt of the SDK.
  let s3: Server;
  let gateway: Server;
  let url: string;
  const listen = async (server: Server) => {
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  beforeAll(async () => {
    s3 = createServer((req, res) => {
      req.resume();
      res.writeHead(503, { 'content-type': 'application/xml', 'x-amz-request-id': 'stand-in' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
    });
    const endpoint = await listen(s3);
    const storage = createStorage({ aws: { ...p.config.aws, endpoint } });
    gateway = createServer(b2bApp(createRuntime('gateway-b2b', p.config, { storage })).callback());
    url = await listen(gateway);
  });
  afterAll(() => Promise.all([s3, gateway].map((s) => new Promise<void>((r) => s.close(() => r())))));

  test('a batch whose source S3 will not take is a 503 with Retry-After (a 500 before), and no batch is made', async () => {
    const before = await p.counts();
    const res = await http(url, '/b2b/batches', {
      method: 'POST',
      headers: { 'x-api-key': apiKey, 'idempotency-key': newIdempotencyKey() },
      json: { theme: 'product-sheet', rows: [{ product: 'kettle' }] },
    });
    expect({ status: res.status, retryAfter: res.headers.get('retry-after'), code: res.json.error.code }).toEqual({
      status: 503,
      retryAfter: String(RETRY_AFTER_SECONDS),
      code: 'service_unavailable',
    });
    expect(await p.counts()).toEqual(before);
  }, 30_000);
});
