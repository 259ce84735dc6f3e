import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { createApp as b2cApp } from '../../functions/gateway-b2c/app';
import { createApp as b2bApp } from '../../functions/gateway-b2b/app';
import { createApp as coreLlmApp } from '../../functions/core-llm/app';
import { createApp as themeApp } from '../../functions/theme/app';
import { createApp as orderApp } from '../../functions/order/app';
import { createApp as clientApp } from '../../functions/client/app';
import { toLambdaHandler, ApiGatewayHandler } from '../../functions/shared/lambda';
import { toApiGatewayEvent } from '../../core/internal-client';
import { markGenerating, markReady } from '../../core/domain/orders';
import { newIdempotencyKey, startTestPlatform, TestPlatform } from '../support/functions-platform';

/**
 * The Lambda handlers fed real API Gateway REST proxy events (base64 bodies, multi-value
 * headers and query strings, the document redirect), and property tests throwing random input at
 * every route of every service: never a 5xx, never a row written by a rejected request.
 */
let p: TestPlatform;
let handlers: Record<string, ApiGatewayHandler>;

beforeAll(async () => {
  p = await startTestPlatform('fn_lambda');
  const apps = { 'gateway-b2c': b2cApp, 'gateway-b2b': b2bApp, 'core-llm': coreLlmApp, theme: themeApp, order: orderApp, client: clientApp } as const;
  handlers = Object.fromEntries(Object.entries(apps).map(([name, build]) => [name, toLambdaHandler(build(p.runtimes[name as keyof typeof apps]))]));
});
afterAll(() => p.teardown());

interface ProxyResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: boolean;
}

function restEvent(method: string, path: string, opts: { body?: Buffer | string; base64?: boolean; headers?: Record<string, string>; query?: Record<string, string[]> } = {}) {
  const base = toApiGatewayEvent({ method: method as 'GET', path }, 'req-' + Math.random().toString(36).slice(2));
  const headers = opts.headers ?? {};
  const query = opts.query ?? null;
  const raw = opts.body === undefined ? null : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body);
  return {
    ...base,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: query && Object.fromEntries(Object.entries(query).map(([k, v]) => [k, v[v.length - 1]])),
    multiValueQueryStringParameters: query,
    body: raw === null ? null : opts.base64 ? raw.toString('base64') : raw.toString('utf8'),
    isBase64Encoded: Boolean(opts.base64),
  };
}

const invoke = async (service: string, event: object) => (await handlers[service](event, { awsRequestId: 'ctx' })) as ProxyResult;

test('a base64-encoded order body, the idempotency header and the order status query string go through', async () => {
  const key = newIdempotencyKey();
  const body = JSON.stringify({ email: 'grace@example.test', name: 'Grace', theme: 'market-study', input: { topic: 'ferries', country: 'Greece' } });
  const created = await invoke('gateway-b2c', restEvent('POST', '/b2c/orders', { body, base64: true, headers: { 'Content-Type': 'application/json', 'Idempotency-Key': key } }));
  expect(created.statusCode).toBe(201);
  const { order, accessToken } = JSON.parse(created.body);
  expect(created.headers['x-request-id']).toMatch(/^req-/);

  const status = await invoke('gateway-b2c', restEvent('GET', `/b2c/orders/${order.id}`, { query: { token: [accessToken] } }));
  expect(status.statusCode).toBe(200);
  expect(JSON.parse(status.body).order.status).toBe('pending');
  const repeated = await invoke('gateway-b2c', restEvent('GET', `/b2c/orders/${order.id}`, { query: { token: [accessToken, accessToken] } }));
  expect(repeated.statusCode).toBe(400);
});

test('a document over the 6 MB Lambda response limit: a small 303 to a presigned link that gives it byte for byte', async () => {
  const key = newIdempotencyKey();
  const created = await invoke(
    'gateway-b2c',
    restEvent('POST', '/b2c/orders', {
      body: JSON.stringify({ email: 'lin@example.test', name: 'Lin', theme: 'business-plan', input: { company: 'Kettle Co', sector: 'energy' } }),
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
    }),
  );
  const { order, accessToken } = JSON.parse(created.body);
  await p.db('orders').where({ id: order.id }).update({ status: 'queued' });
  await markGenerating(p.db, order.id);
  // Binary bytes (0x00, 0xff…) and more than a Lambda response may carry (6 MB, before base64).
  const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.from([0, 1, 2, 250, 251, 252, 253, 254, 255]), randomBytes(7 * 1024 * 1024)]);
  const row = await p.db('orders').where({ id: order.id }).first();
  const docKey = `${row.client_id}/${order.id}.pdf`;
  await p.runtimes['gateway-b2c'].storage.put('reports', docKey, pdf, 'application/pdf');
  await markReady(p.db, order.id, docKey);

  const res = await invoke('gateway-b2c', restEvent('GET', `/b2c/orders/${order.id}/document`, { query: { token: [accessToken] } }));
  expect(res.statusCode).toBe(303);
  expect(JSON.stringify(res).length).toBeLessThan(16 * 1024);
  const download = await fetch(res.headers.location);
  expect(download.status).toBe(200);
  expect(Buffer.from(await download.arrayBuffer()).equals(pdf)).toBe(true);
});

test('the internal client’s Lambda-shaped events are served by the callee handler', async () => {
  const res = await invoke('theme', toApiGatewayEvent({ method: 'GET', path: '/themes/cover-letter' }, 'internal-1'));
  expect(res.statusCode).toBe(200);
  expect(JSON.parse(res.body).theme.fields).toEqual(['name', 'position', 'company']);
});

const ROUTES: [string, string, string][] = [
  ['gateway-b2c', 'GET', '/b2c/themes'],
  ['gateway-b2c', 'POST', '/b2c/orders'],
  ['gateway-b2c', 'POST', '/b2c/stripe/webhook'],
  ['gateway-b2c', 'GET', '/b2c/orders/:id'],
  ['gateway-b2c', 'GET', '/b2c/orders/:id/document'],
  ['gateway-b2b', 'POST', '/b2b/batches'],
  ['gateway-b2b', 'GET', '/b2b/batches/:id'],
  ['gateway-b2b', 'GET', '/b2b/orders/:id'],
  ['core-llm', 'POST', '/generate'],
  ['theme', 'GET', '/themes'],
  ['theme', 'GET', '/themes/:id'],
  ['order', 'POST', '/orders/b2c'],
  ['order', 'GET', '/orders/:id'],
  ['order', 'POST', '/orders/:id/checkout'],
  ['order', 'POST', '/orders/:id/paid'],
  ['order', 'POST', '/orders/:id/payment-failed'],
  ['order', 'POST', '/orders/:id/checkout-refused'],
  ['order', 'POST', '/batches'],
  ['order', 'GET', '/batches/:id'],
  ['client', 'POST', '/clients/authenticate'],
  ['client', 'GET', '/clients/:id'],
];

const jsonish = fc.oneof(
  fc.json(),
  fc.string(),
  fc.constantFrom('{', '[]', 'null', '{"email":1}', '{"input":{"__proto__":{"x":1}}}', 'product\nA,B\n"', '\u0000\uffff'),
  fc.record({ email: fc.string(), name: fc.string(), theme: fc.string(), input: fc.dictionary(fc.string(), fc.jsonValue()) }).map((o) => JSON.stringify(o)),
);
const headerValue = fc.stringMatching(/^[\x20-\x7e]{0,80}$/);
const headers = fc.record(
  {
    'content-type': fc.constantFrom('application/json', 'text/csv', 'text/plain', 'application/x-www-form-urlencoded', ''),
    'idempotency-key': headerValue,
    'x-api-key': headerValue,
    authorization: headerValue,
    'stripe-signature': headerValue,
    'x-request-id': headerValue,
  },
  { requiredKeys: [] },
);
const query = fc.dictionary(fc.constantFrom('token', 'clientId', 'active', 'theme', 'x', ''), fc.array(fc.string({ maxLength: 40 }), { minLength: 1, maxLength: 2 }));
const pathParam = fc.oneof(fc.uuid(), fc.string({ maxLength: 40 }).map(encodeURIComponent), fc.constantFrom('cover-letter', '..', '%00'));

test('random and malformed bodies, headers and query strings: never a 5xx, never a partial write', async () => {
  const before = await p.counts();
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...ROUTES),
      pathParam,
      fc.option(jsonish, { nil: undefined }),
      fc.boolean(),
      headers,
      query,
      async ([service, method, template], param, body, base64, hdrs, qs) => {
        const path = template.replace(':id', param || 'x');
        const res = await invoke(service, restEvent(method, path, { body, base64, headers: hdrs, query: qs }));
        if (res.statusCode >= 500) throw new Error(`${method} ${path} → ${res.statusCode}: ${res.body}`);
        expect(() => JSON.parse(res.isBase64Encoded ? Buffer.from(res.body, 'base64').toString() : res.body)).not.toThrow();
      },
    ),
    { numRuns: 400 },
  );
  // Random input cannot hold a valid idempotency key + theme + input, a valid Stripe signature or
  // an API key: every request was rejected, so nothing may have been written.
  expect(await p.counts()).toEqual(before);
}, 90000);
