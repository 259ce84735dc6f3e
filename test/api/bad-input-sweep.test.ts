import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Stripe from 'stripe';
import { ErrorBody } from '../../functions/shared/public-api';
import { B2B_ROUTES } from '../../functions/gateway-b2b/routes';
import { B2C_ROUTES } from '../../functions/gateway-b2c/routes';
import { openApiPath, OPENAPI_PATH } from '../../scripts/openapi/document';
import { LOCAL_STRIPE_SECRET_KEY, LOCAL_STRIPE_WEBHOOK_SECRET } from '../../scripts/local/defaults';
import type { ServiceName } from '../../core/contract';
import { contractViolations } from '../support/openapi-contract';
import { newIdempotencyKey, startTestPlatform, TestPlatform } from '../support/functions-platform';

/**
 * Bad input never gets a 5xx: every operation of the public contract (docs/api/openapi.json) and
 * every route of the internal services is sent malformed requests — broken or non-object JSON,
 * the wrong content type, a body past its limit, deep nesting, extra members, each member of a
 * valid body with the wrong type, NUL and unpaired-surrogate strings, oversize strings, bad path
 * ids, bad query strings, missing or garbled credentials and idempotency keys. Each answer must be
 * a 4xx (or, for a harmless extra member, the route's success) with a JSON AppError body that
 * names the problem and carries no stack trace, the public ones as the contract describes them;
 * and no row the sweep found is gone after it.
 */
interface Case {
  service: ServiceName;
  method: 'GET' | 'POST';
  path: string;
  label: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** A success status this case may get instead of a 4xx (a member the schema ignores). */
  success?: number[];
  /** The field a 400 must name. */
  field?: string;
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

const UUID = '6f1c2b4e-8a3d-4c5e-9f10-1a2b3c4d5e6f';
const BAD_IDS = ['not-a-uuid', '123', `${UUID}x`, UUID.replace(/-/g, ''), '%00', '%F0%9F', `${'a'.repeat(5000)}`, "'%3B--", '%E2%80%AE'];
const STACK_TRACE = /\bat .*\(?[^\s()]+:\d+:\d+\)?|\.ts:\d+|node_modules/;
const deep = (levels: number) => '['.repeat(levels) + ']'.repeat(levels);
const WRONG_TYPES: unknown[] = [null, 42, true, [], {}, ['x'], 'x'.repeat(70_000), 'nul\u0000here', 'half \ud83d pair'];

let p: TestPlatform;
let apiKey: string;
/** Another client's, for POST /b2b/keys: its rotations must not end the key of every other case. */
let rotatingApiKey: string;
let clientId: string;
let countsBefore: Record<string, number>;
const stripe = new Stripe(LOCAL_STRIPE_SECRET_KEY);

beforeAll(async () => {
  p = await startTestPlatform('api_sweep');
  const res = await fetch(`${p.urls.client}/clients`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'sweep', email: 'sweep@example.test' }),
  });
  const created = (await res.json()) as { client: { id: string }; apiKey: string };
  apiKey = created.apiKey;
  clientId = created.client.id;
  const rotating = await fetch(`${p.urls.client}/clients`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'sweep keys', email: 'sweep-keys@example.test' }),
  });
  rotatingApiKey = ((await rotating.json()) as { apiKey: string }).apiKey;
  countsBefore = await p.counts();
});
afterAll(() => p.teardown());

const signed = (payload: string) => ({ 'content-type': 'application/json', 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload, secret: LOCAL_STRIPE_WEBHOOK_SECRET }) });

/** A request that the route would take, for each operation with a body: the sweep breaks it one way at a time. */
interface BodyRoute {
  service: ServiceName;
  method: 'POST';
  path: string;
  limitBytes: number;
  valid: () => Record<string, unknown>;
  headers: () => Record<string, string>;
  /** Signs each body (the webhook). */
  sign?: boolean;
  /** Extra members are dropped: the route may succeed. */
  extrasSucceed?: number[];
  /** Members any string (or their absence) is right for: the route may succeed with them too. */
  free?: string[];
  /** Values of WRONG_TYPES that are right for this route's members (42 seconds is an overlap): the route may succeed with them. */
  rightValues?: unknown[];
}

const publicLimit = (method: string, path: string) =>
  [...B2C_ROUTES, ...B2B_ROUTES].find((r) => r.method === method && openApiPath(r.path) === path)!.body!.limitBytes;

const orderBody = () => ({ email: 'ada@example.test', name: 'Ada', theme: 'product-sheet', input: { product: 'Solar kettle' } });
const hash = 'a'.repeat(64);

function bodyRoutes(): BodyRoute[] {
  const json = { 'content-type': 'application/json' };
  return [
    {
      service: 'gateway-b2c', method: 'POST', path: '/b2c/orders', limitBytes: publicLimit('POST', '/b2c/orders'),
      valid: orderBody, headers: () => ({ ...json, 'idempotency-key': newIdempotencyKey() }), extrasSucceed: [201],
    },
    {
      service: 'gateway-b2c', method: 'POST', path: '/b2c/stripe/webhook', limitBytes: publicLimit('POST', '/b2c/stripe/webhook'),
      valid: () => ({ id: 'evt_sweep', object: 'event', type: 'checkout.session.completed', data: { object: { id: 'cs_sweep', metadata: { orderId: UUID }, payment_status: 'paid' } } }),
      // Stripe adds event types: one the route does not know is received and left alone.
      headers: () => json, sign: true, extrasSucceed: [200], free: ['type'],
    },
    {
      service: 'gateway-b2b', method: 'POST', path: '/b2b/batches', limitBytes: publicLimit('POST', '/b2b/batches'),
      valid: () => ({ theme: 'product-sheet', rows: [{ product: 'Solar kettle' }] }),
      headers: () => ({ ...json, 'x-api-key': apiKey, 'idempotency-key': newIdempotencyKey() }), extrasSucceed: [202],
    },
    {
      service: 'gateway-b2b', method: 'POST', path: '/b2b/keys', limitBytes: publicLimit('POST', '/b2b/keys'),
      valid: () => ({ oldKeysExpireInSeconds: 3600 }),
      // Its one member is optional: without it, the default overlap.
      headers: () => ({ ...json, 'x-api-key': rotatingApiKey }), extrasSucceed: [201], free: ['oldKeysExpireInSeconds'], rightValues: [42],
    },
    { service: 'order', method: 'POST', path: '/orders/b2c', limitBytes: 256 * 1024, valid: () => ({ ...orderBody(), idempotencyKey: newIdempotencyKey() }), headers: () => json, extrasSucceed: [201] },
    { service: 'order', method: 'POST', path: `/orders/${UUID}/checkout`, limitBytes: 256 * 1024, valid: () => ({ sessionId: 'cs_x', url: 'https://checkout.example.test/x' }), headers: () => json },
    { service: 'order', method: 'POST', path: `/orders/${UUID}/paid`, limitBytes: 256 * 1024, valid: () => ({ sessionId: 'cs_x', amountTotal: 900, currency: 'eur' }), headers: () => json },
    { service: 'order', method: 'POST', path: `/orders/${UUID}/payment-failed`, limitBytes: 256 * 1024, valid: () => ({ sessionId: 'cs_x', reason: 'payment expired' }), headers: () => json },
    { service: 'order', method: 'POST', path: `/orders/${UUID}/checkout-refused`, limitBytes: 256 * 1024, valid: () => ({ idempotencyKey: newIdempotencyKey(), field: 'body.email' }), headers: () => json },
    {
      service: 'order', method: 'POST', path: '/batches', limitBytes: 256 * 1024,
      valid: () => ({ batchId: UUID, clientId: UUID, themeId: UUID, sourceKey: 'batches/x.json', idempotencyKey: newIdempotencyKey(), requestHash: hash, submittedRows: 1 }),
      headers: () => json,
    },
    { service: 'order', method: 'POST', path: '/batches/replay', limitBytes: 256 * 1024, valid: () => ({ clientId: UUID, idempotencyKey: newIdempotencyKey(), requestHash: hash }), headers: () => json, extrasSucceed: [200] },
    { service: 'client', method: 'POST', path: '/clients', limitBytes: 256 * 1024, valid: () => ({ name: 'Sweep', email: 'sweep2@example.test' }), headers: () => json, extrasSucceed: [201] },
    { service: 'client', method: 'POST', path: '/clients/authenticate', limitBytes: 256 * 1024, valid: () => ({ apiKey: 'dk_wrong' }), headers: () => json },
    // The prompt is the model's text, not stored: any string within the limit is one.
    { service: 'core-llm', method: 'POST', path: '/generate', limitBytes: 64 * 1024, valid: () => ({ clientId: UUID, prompt: 'Say hi', traffic: 'interactive' }), headers: () => json, extrasSucceed: [200], free: ['prompt', 'traffic'] },
  ];
}

function bodyCases(route: BodyRoute): Case[] {
  const base = { service: route.service, method: route.method, path: route.path };
  const out: Case[] = [];
  const add = (label: string, body: string | Buffer, headers: Record<string, string> = {}, success?: number[]) => {
    const text = typeof body === 'string' ? body : undefined;
    const signing = route.sign && text !== undefined ? signed(text) : {};
    out.push({ ...base, label, body, headers: { ...route.headers(), ...signing, ...headers }, success });
  };
  const valid = JSON.stringify(route.valid());
  add('truncated JSON', valid.slice(0, -3));
  add('an empty body', '');
  for (const text of ['[]', 'null', '"a string"', '42', 'true', '[{}]']) add(`body ${text}`, text);
  add('a BOM and garbage', '\ufeff{nope}');
  add('invalid UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]));
  add('text/plain', valid, { 'content-type': 'text/plain' });
  add('no content-type', valid, { 'content-type': '' });
  add('a garbled content-type', valid, { 'content-type': ';;;/json' });
  add('a body past the limit', JSON.stringify({ ...route.valid(), pad: 'x'.repeat(route.limitBytes) }));
  add('deeply nested JSON', `{"a":${deep(10_000)}}`);
  add('deeply nested objects', `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`);
  add('an extra member', JSON.stringify({ ...route.valid(), unexpected: { x: 1 } }), {}, route.extrasSucceed);
  add('__proto__ member', `{"__proto__":{"polluted":true},${valid.slice(1)}`, {}, route.extrasSucceed);
  for (const field of Object.keys(route.valid())) {
    const free = route.free?.includes(field) ? route.extrasSucceed : undefined;
    WRONG_TYPES.forEach((wrong) =>
      add(`${field} = ${JSON.stringify(wrong).slice(0, 20)}`, JSON.stringify({ ...route.valid(), [field]: wrong }), {}, typeof wrong === 'string' ? free : route.rightValues?.includes(wrong) ? route.extrasSucceed : undefined),
    );
    add(`${field} missing`, JSON.stringify({ ...route.valid(), [field]: undefined }), {}, free);
  }
  return out;
}

/** The operations of the contract, each with its path filled in: every one must be swept. */
const DOCUMENT = JSON.parse(readFileSync(join(__dirname, '..', '..', OPENAPI_PATH), 'utf8')) as {
  paths: Record<string, Record<string, { security?: Record<string, string[]>[]; parameters?: { name: string; in: string }[]; requestBody?: unknown }>>;
};
const SERVICE_OF_PREFIX: Record<string, ServiceName> = { '/b2c': 'gateway-b2c', '/b2b': 'gateway-b2b', '/health': 'gateway-b2c' };
const serviceOf = (path: string): ServiceName => SERVICE_OF_PREFIX[Object.keys(SERVICE_OF_PREFIX).find((prefix) => path.startsWith(prefix))!];

function operationCases(): Case[] {
  const out: Case[] = [];
  for (const [template, operations] of Object.entries(DOCUMENT.paths)) {
    for (const [lower, operation] of Object.entries(operations)) {
      const method = lower.toUpperCase() as 'GET' | 'POST';
      const service = serviceOf(template);
      const schemes = new Set((operation.security ?? []).flatMap((s) => Object.keys(s)));
      const auth: Record<string, string> = schemes.has('apiKey') ? { 'x-api-key': apiKey } : {};
      const token = schemes.has('orderToken') ? `token=${'t'.repeat(40)}` : '';
      const fill = (id: string) => template.replace(/\{[^}]+\}/g, id);
      const withQuery = (path: string, query: string) => (query ? `${path}?${query}` : path);
      const add = (label: string, path: string, headers: Record<string, string> = {}, success?: number[], field?: string) =>
        out.push({ service, method, path, label, success, field, headers: { ...(operation.requestBody ? { 'content-type': 'application/json' } : {}), ...auth, ...headers }, body: operation.requestBody ? '{}' : undefined });
      const param = /\{([^}]+)\}/.exec(template)?.[1];
      if (param) for (const id of BAD_IDS) add(`path ${param} ${id.slice(0, 20)}`, withQuery(fill(id), token), {}, undefined, `path.${param}`);
      const path = fill(UUID);
      if (method === 'GET') {
        add('an unknown query parameter', withQuery(path, [token, 'unexpected=1'].filter(Boolean).join('&')), {}, template === '/health' ? [200] : undefined);
        add('a repeated query parameter', `${path}?a=1&a=2${token ? `&${token}` : ''}`, {}, template === '/health' ? [200] : undefined);
        add('a query parameter with a NUL', withQuery(path, [token, 'a=%00'].filter(Boolean).join('&')), {}, template === '/health' ? [200] : undefined);
        add('a malformed percent-encoding', withQuery(path, [token, 'a=%E0%A4%A'].filter(Boolean).join('&')), {}, template === '/health' ? [200] : undefined);
      }
      if (schemes.has('orderToken')) {
        for (const [label, query] of [
          ['no token', ''],
          ['an empty token', 'token='],
          ['a short token', 'token=abc'],
          ['a wrong token', `token=${'A'.repeat(43)}`],
          ['an oversize token', `token=${'A'.repeat(5000)}`],
          ['a repeated token', `token=${'A'.repeat(43)}&token=${'B'.repeat(43)}`],
          ['a token with a NUL', `token=${'A'.repeat(30)}%00`],
          ['a token with an unpaired surrogate', `token=${'A'.repeat(30)}%ED%A0%BD`],
        ]) add(label, withQuery(path, query));
      }
      if (schemes.has('apiKey')) {
        for (const [label, headers] of [
          ['no API key', { 'x-api-key': '' }],
          ['a garbled API key', { 'x-api-key': '!!not a key!!' }],
          ['an oversize API key', { 'x-api-key': 'k'.repeat(8000) }],
          ['a Latin-1 API key', { 'x-api-key': 'clé' }],
          ['an empty Bearer', { 'x-api-key': '', authorization: 'Bearer ' }],
          ['a Basic authorization', { 'x-api-key': '', authorization: 'Basic YTpi' }],
          ['a wrong Bearer key', { 'x-api-key': '', authorization: `Bearer ${apiKey.slice(0, -4)}AAAA` }],
        ] as const) add(label, path, headers);
      }
      if (schemes.has('stripeSignature')) {
        add('no signature', path);
        add('a garbled signature', path, { 'stripe-signature': 'garbage' });
        add('a stale signature', path, { 'stripe-signature': 't=1,v1=' + 'a'.repeat(64) });
      }
      for (const parameter of operation.parameters ?? []) {
        if (parameter.in !== 'header' || parameter.name !== 'idempotency-key') continue;
        for (const key of ['short', 'has spaces in it and is long enough', 'k'.repeat(201), 'clé-clé-clé-clé-clé-clé-clé', '../../../../etc/passwd/xxxxxxxx']) {
          add(`idempotency-key ${key.slice(0, 20)}`, path, { 'idempotency-key': key }, undefined, 'header.idempotency-key');
        }
      }
    }
  }
  return out;
}

function internalRouteCases(): Case[] {
  const out: Case[] = [];
  const get = (service: ServiceName, path: string, label: string) => out.push({ service, method: 'GET', path, label });
  for (const id of BAD_IDS) {
    get('order', `/orders/${id}?token=x`, `order id ${id.slice(0, 20)}`);
    get('order', `/batches/${id}?clientId=${UUID}`, `batch id ${id.slice(0, 20)}`);
    get('client', `/clients/${id}`, `client id ${id.slice(0, 20)}`);
    get('theme', `/themes/${id}`, `theme ref ${id.slice(0, 20)}`);
    for (const suffix of ['checkout', 'paid', 'payment-failed', 'checkout-refused']) {
      out.push({ service: 'order', method: 'POST', path: `/orders/${id}/${suffix}`, label: `${suffix} id ${id.slice(0, 20)}`, headers: { 'content-type': 'application/json' }, body: '{}' });
    }
  }
  for (const query of ['', 'token=', 'clientId=nope', `token=x&clientId=${UUID}`, 'token=a&token=b', `token=${'t'.repeat(5000)}`, 'token=%00', 'extra=1&token=x']) {
    get('order', `/orders/${UUID}?${query}`, `order access ${query.slice(0, 30)}`);
  }
  for (const query of ['', 'clientId=', 'clientId=nope', `clientId=${UUID}&clientId=${UUID}`, `clientId=${UUID}&extra=1`]) {
    get('order', `/batches/${UUID}?${query}`, `batch access ${query.slice(0, 30)}`);
  }
  for (const query of ['active=maybe', 'active=true&active=false', 'extra=1', 'active=%00']) get('theme', `/themes?${query}`, `theme list ${query}`);
  return out;
}

/** gateway-b2b's CSV batches and the rows of a JSON one: the theme in the query, the header line, each row. */
function batchRowCases(): Case[] {
  const out: Case[] = [];
  const post = (label: string, query: string, contentType: string, body: string | Buffer) =>
    out.push({ service: 'gateway-b2b', method: 'POST', path: `/b2b/batches${query}`, label, headers: { 'content-type': contentType, 'x-api-key': apiKey, 'idempotency-key': newIdempotencyKey() }, body });
  const csv = (label: string, query: string, body: string | Buffer) => post(label, query, 'text/csv', body);
  const good = 'product\nSolar kettle\n';
  csv('CSV without a theme', '', good);
  csv('CSV with a malformed theme', '?theme=Bad%20Slug', good);
  csv('CSV with an unknown theme', '?theme=no-such-theme', good);
  csv('CSV with the theme twice', '?theme=product-sheet&theme=product-sheet', good);
  csv('CSV with an extra query parameter', '?theme=product-sheet&extra=1', good);
  for (const [label, body] of [
    ['an empty CSV', ''],
    ['a header and no rows', 'product\n'],
    ['an unterminated quote', 'product\n"Solar kettle\n'],
    ['a column given twice', 'product,product\na,b\n'],
    ['a column the theme lacks', 'product,colour\nkettle,red\n'],
    ['a row longer than the header', 'product\nkettle,red\n'],
    ['a NUL in a value', 'product\nSolar\u0000kettle\n'],
    ['an empty value', 'product\n""\n'],
    ['a value past the record limit', `product\n${'x'.repeat(70 * 1024)}\n`],
    ['too many rows', `product\n${'kettle\n'.repeat(20_000)}`],
    ['past the body limit', `product\n${'kettle\n'.repeat(800_000)}`],
  ] as const) csv(label, '?theme=product-sheet', body);
  csv('invalid UTF-8', '?theme=product-sheet', Buffer.concat([Buffer.from('product\nhalf '), Buffer.from([0xed, 0xa0, 0xbd]), Buffer.from('\n')]));
  const rows = (label: string, value: unknown) => post(`JSON rows ${label}`, '', 'application/json', JSON.stringify({ theme: 'product-sheet', rows: value }));
  for (const [label, value] of [
    ['[]', []],
    ['[null]', [null]],
    ['[42]', [42]],
    ['["x"]', ['x']],
    ['[[]]', [[]]],
    ['[{}]', [{}]],
    ['a number product', [{ product: 5 }]],
    ['an object product', [{ product: { a: 'b' } }]],
    ['a NUL product', [{ product: 'Solar\u0000kettle' }]],
    ['an unpaired surrogate', [{ product: 'half \ud83d' }]],
    ['a NUL key', [{ product: 'x', ['col\u0000our']: 'red' }]],
    ['an oversize product', [{ product: 'x'.repeat(100_000) }]],
    ['too many', Array.from({ length: 20_000 }, () => ({ product: 'k' }))],
  ] as const) rows(label, value);
  return out;
}

async function send(c: Case): Promise<Answer> {
  const headers = new Headers();
  for (const [name, value] of Object.entries(c.headers ?? {})) if (value !== '') headers.set(name, value);
  const res = await fetch(p.urls[c.service] + c.path, { method: c.method, headers, body: c.body, redirect: 'manual' });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** What is wrong with an answer to a bad request ([] when nothing). */
function objections(c: Case, answer: Answer): string[] {
  const problems: string[] = [];
  const succeeded = c.success?.includes(answer.status) ?? false;
  if (!succeeded && (answer.status < 400 || answer.status >= 500)) problems.push(`status ${answer.status}`);
  if (STACK_TRACE.test(answer.text)) problems.push('a stack trace or source path in the body');
  if (!/\bjson\b/.test(answer.headers.get('content-type') ?? '')) problems.push(`content-type ${answer.headers.get('content-type')}`);
  if (!succeeded) {
    const parsed = ErrorBody.safeParse(answer.json);
    if (!parsed.success) problems.push('not an AppError body');
    else if (answer.status === 400 && !(parsed.data.error.fields ?? []).some((f) => f.field && f.message)) problems.push('a 400 that names no field');
    else if (answer.status === 400 && c.field && !parsed.data.error.fields!.some((f) => f.field === c.field)) problems.push(`a 400 that does not name ${c.field}`);
    else if (!parsed.data.error.message) problems.push('an error without a message');
  }
  if (c.service === 'gateway-b2c' || c.service === 'gateway-b2b') problems.push(...contractViolations(c.method, c.path, answer));
  return problems;
}

async function sweep(cases: Case[]): Promise<string[]> {
  const failures: string[] = [];
  // A few at a time: fast, and the order of the answers does not matter.
  for (let i = 0; i < cases.length; i += 8) {
    const batch = cases.slice(i, i + 8);
    const answers = await Promise.all(batch.map(send));
    batch.forEach((c, j) => {
      const found = objections(c, answers[j]);
      if (found.length > 0) failures.push(`${c.service} ${c.method} ${c.path.slice(0, 80)} [${c.label}]: ${found.join('; ')} — ${answers[j].text.slice(0, 160)}`);
    });
  }
  return failures;
}

test('every operation of the contract is swept, with a body template for each that takes one', () => {
  const swept = new Set(bodyRoutes().map((r) => `${r.method} ${r.path}`));
  const withBody = Object.entries(DOCUMENT.paths).flatMap(([path, ops]) => Object.entries(ops).filter(([, op]) => op.requestBody).map(([m]) => `${m.toUpperCase()} ${path}`));
  expect(withBody.filter((op) => !swept.has(op))).toEqual([]);
  expect(Object.keys(DOCUMENT.paths).every((path) => serviceOf(path) !== undefined)).toBe(true);
});

test('public operations: bad paths, queries, credentials and idempotency keys are 4xx with a JSON error', async () => {
  expect(await sweep(operationCases())).toEqual([]);
});

test.each(bodyRoutes().map((r) => [`${r.service} ${r.method} ${r.path}`, r] as const))('bad bodies of %s are 4xx with a JSON error', async (_name, route) => {
  expect(await sweep(bodyCases(route))).toEqual([]);
});

test('gateway-b2b batches: bad CSVs, bad themes and bad rows are 4xx with a JSON error', async () => {
  expect(await sweep(batchRowCases())).toEqual([]);
});

test('internal routes: bad ids and queries are 4xx with a JSON error', async () => {
  expect(await sweep(internalRouteCases())).toEqual([]);
});

test('the sweep lost no data: every row there before is still there', async () => {
  const counts = await p.counts();
  for (const [table, before] of Object.entries(countsBefore)) expect({ table, rows: counts[table] >= before }).toEqual({ table, rows: true });
  expect(await p.db('clients').where({ id: clientId }).first()).toBeDefined();
});

describe('what the sweep found, each named', () => {
  const fieldsOf = async (c: Omit<Case, 'label'>) => {
    const answer = await send({ ...c, label: '' });
    expect(answer.status).toBe(400);
    return (answer.json as { error: { fields: { field: string; message: string }[] } }).error.fields;
  };
  const json = { 'content-type': 'application/json' };

  test('a NUL in a checkout session id or a batch source key (the order service wrote it to a text column: 500)', async () => {
    const checkout = await fieldsOf({ service: 'order', method: 'POST', path: `/orders/${UUID}/checkout`, headers: json, body: JSON.stringify({ sessionId: 'cs\u0000x', url: 'https://checkout.example.test/x' }) });
    expect(checkout).toEqual([{ field: 'body.sessionId', message: 'must not contain control characters (U+0000 at character 3)' }]);
    const batch = { batchId: UUID, clientId, themeId: UUID, sourceKey: 'batches/\u0000', requestHash: hash, submittedRows: 1 };
    expect((await fieldsOf({ service: 'order', method: 'POST', path: '/batches', headers: json, body: JSON.stringify(batch) })).map((f) => f.field)).toEqual(['body.sourceKey']);
  });

  test('a batch for a client or theme that does not exist (a foreign key violation: 500)', async () => {
    const theme = (await p.db('themes').first()) as { id: string };
    const batch = { batchId: UUID, clientId: UUID, themeId: theme.id, sourceKey: 'batches/x.json', requestHash: hash, submittedRows: 1 };
    expect(await fieldsOf({ service: 'order', method: 'POST', path: '/batches', headers: json, body: JSON.stringify(batch) })).toEqual([{ field: 'body.clientId', message: 'no such client' }]);
    expect(await fieldsOf({ service: 'order', method: 'POST', path: '/batches', headers: json, body: JSON.stringify({ ...batch, clientId, themeId: UUID }) })).toEqual([
      { field: 'body.themeId', message: 'no such theme' },
    ]);
    expect(await p.db('batches').where({ id: UUID }).first()).toBeUndefined();
  });

  test('a signed webhook body that is not an event (event.type / event.data.object of it: 500)', async () => {
    const webhook = (payload: string) => fieldsOf({ service: 'gateway-b2c', method: 'POST', path: '/b2c/stripe/webhook', headers: signed(payload), body: payload });
    expect((await webhook('null')).map((f) => f.field)).toEqual(['body']);
    expect((await webhook('{"type":"checkout.session.completed"}')).map((f) => f.field)).toEqual(['body.data']);
    expect((await webhook('{"type":"checkout.session.completed","data":{"object":null}}')).map((f) => f.field)).toEqual(['body.data.object']);
  });

  test('a signed webhook body that is not JSON is named as the body, not as a failed signature', async () => {
    const payload = '{"type":"checkout.session.completed",';
    expect(await fieldsOf({ service: 'gateway-b2c', method: 'POST', path: '/b2c/stripe/webhook', headers: signed(payload), body: payload })).toEqual([{ field: 'body', message: 'not JSON' }]);
  });

  test('bytes that are not UTF-8 (accepted, stored as U+FFFD)', async () => {
    const before = await p.counts();
    const invalid = (text: string) => Buffer.concat([Buffer.from(text), Buffer.from([0xed, 0xa0, 0xbd]), Buffer.from('"}}')]);
    const csv = Buffer.concat([Buffer.from('product\nhalf '), Buffer.from([0xc3]), Buffer.from('\n')]);
    expect(await fieldsOf({ service: 'gateway-b2b', method: 'POST', path: '/b2b/batches?theme=product-sheet', headers: { 'content-type': 'text/csv', 'x-api-key': apiKey }, body: csv })).toEqual([
      { field: 'body', message: 'body is not valid UTF-8' },
    ]);
    const order = invalid('{"email":"ada@example.test","name":"Ada","theme":"product-sheet","input":{"product":"half ');
    expect((await fieldsOf({ service: 'gateway-b2c', method: 'POST', path: '/b2c/orders', headers: { ...json, 'idempotency-key': newIdempotencyKey() }, body: order })).map((f) => f.field)).toEqual(['body']);
    expect(await p.counts()).toEqual(before);
  });
});
