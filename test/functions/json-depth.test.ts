import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppError } from '../../core/errors';
import { createInternalClient, toApiGatewayEvent } from '../../core/internal-client';
import { jsonNestingExceeding, MAX_JSON_DEPTH } from '../../core/json-depth';
import { http, newIdempotencyKey, startTestPlatform, TestPlatform } from '../support/functions-platform';

/**
 * Deeply nested JSON: refused with a 400 naming the field before anything recursive
 * (JSON.stringify in the internal client, zod, the database driver) sees it, and the internal
 * client turns a body it cannot serialise into a clear AppError instead of a 503.
 */
let p: TestPlatform;
const errorLines: string[] = [];
let writeSpy: jest.SpyInstance;

beforeAll(async () => {
  p = await startTestPlatform('fn_depth');
});
afterAll(() => p.teardown());
beforeEach(() => {
  errorLines.length = 0;
  const write = process.stdout.write.bind(process.stdout);
  writeSpy = jest.spyOn(process.stdout, 'write').mockImplementation(((chunk: string | Uint8Array, ...rest: never[]) => {
    const line = String(chunk);
    if (line.includes('"level":"error"')) errorLines.push(line);
    return write(chunk, ...rest);
  }) as typeof process.stdout.write);
});
afterEach(() => writeSpy.mockRestore());

/** `{"a":{"a":…1…}}`: `depth` nested objects, as text (building it as a value would need recursion to send). */
const nestedObjectText = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
const nestedArrayText = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

const order = (input: string) =>
  `{"email":"deep@example.test","name":"Deep","theme":"product-sheet","input":${input}}`;

test('an order whose input nests 30,000 levels is a 400 naming body.input, logs no error and writes nothing', async () => {
  const before = await p.counts();
  // 30,000 levels of arrays in 60 KB: under the 64 KiB limit of order bodies.
  const body = order(`{"product":${nestedArrayText(30_000)}}`);
  expect(body.length).toBeLessThan(64 * 1024);
  const res = await http(p.urls['gateway-b2c'], '/b2c/orders', {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json', 'idempotency-key': newIdempotencyKey() },
  });
  expect(res.status).toBe(400);
  expect(res.json.error.fields).toEqual([{ field: 'body.input', message: `nests deeper than ${MAX_JSON_DEPTH} levels` }]);
  expect(errorLines).toEqual([]);
  expect(await p.counts()).toEqual(before);
});

test('nesting at the limit is accepted; one level more is refused', async () => {
  // body (1) → input (2) → … : an input of MAX-1 levels is MAX levels in all.
  const ok = await http(p.urls['gateway-b2c'], '/b2c/orders', {
    method: 'POST',
    body: order(nestedObjectText(MAX_JSON_DEPTH - 1).replace('1', '"x"')),
    headers: { 'content-type': 'application/json', 'idempotency-key': newIdempotencyKey() },
  });
  // Past the depth check, the order service judges the input against the theme's fields.
  expect(ok.status).toBe(400);
  expect(ok.json.error.fields.map((f: { field: string }) => f.field).sort()).toEqual(['body.input.a', 'body.input.product']);
  const over = await http(p.urls['gateway-b2c'], '/b2c/orders', {
    method: 'POST',
    body: order(nestedObjectText(MAX_JSON_DEPTH)),
    headers: { 'content-type': 'application/json', 'idempotency-key': newIdempotencyKey() },
  });
  expect(over.status).toBe(400);
  expect(over.json.error.fields[0].field).toBe('body.input');
});

test('every JSON body reader refuses it: B2B batches (array rows) and core-llm', async () => {
  const { apiKey } = (await http(p.urls.client, '/clients', { method: 'POST', json: { name: 'deep', email: 'deep-b2b@example.test' } })).json;
  const batch = await http(p.urls['gateway-b2b'], '/b2b/batches', {
    method: 'POST',
    body: `{"theme":"cover-letter","rows":[{"name":"Ada","position":"CTO","company":"Initech"},${nestedArrayText(30_000)}]}`,
    headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
  });
  expect(batch.status).toBe(400);
  expect(batch.json.error.fields[0].field).toBe('body.rows');
  const llm = await http(p.urls['core-llm'], '/generate', {
    method: 'POST',
    body: nestedArrayText(20_000),
    headers: { 'content-type': 'application/json' },
  });
  expect(llm.status).toBe(400);
  expect(llm.json.error.fields[0].field).toBe('body[0]');
  expect(errorLines).toEqual([]);
});

describe('the depth scan', () => {
  test('counts brackets outside strings only, names the top-level member, and is fine with invalid JSON', () => {
    const deepInString = JSON.stringify({ text: '['.repeat(1000) });
    expect(jsonNestingExceeding(Buffer.from(deepInString), 8)).toBeUndefined();
    expect(jsonNestingExceeding(Buffer.from('{"a\\"{[":' + nestedArrayText(9) + '}'), 8)).toBe('.a"{[');
    expect(jsonNestingExceeding(Buffer.from('{"x":"}","y":[1,2],"z":' + nestedArrayText(8) + '}'), 8)).toBe('.z');
    expect(jsonNestingExceeding(Buffer.from('[1,"],[",{},' + nestedArrayText(8) + ']'), 8)).toBe('[3]');
    expect(jsonNestingExceeding(Buffer.from(nestedArrayText(8)), 8)).toBeUndefined();
    expect(jsonNestingExceeding(Buffer.from('{"é":' + '['.repeat(9)), 8)).toBe('.é');
    expect(jsonNestingExceeding(Buffer.from('not json at all'), 8)).toBeUndefined();
  });
});

describe('internal client: a body it cannot serialise', () => {
  let server: Server;
  let url: string;
  let hits = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      hits += 1;
      res.setHeader('content-type', 'application/json');
      res.end(req.url === '/broken' ? '{"ok":tru' : '{"ok":true}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const deepValue = (): unknown => JSON.parse(nestedObjectText(30_000));

  test('is an AppError 400 naming the body (not a 503 "unreachable"), and nothing is sent', async () => {
    const client = createInternalClient({ aws: { region: 'eu-west-3', s3ForcePathStyle: false }, internal: { transport: 'http', urls: { order: url }, functions: {} } });
    const err = await client.json('order', { method: 'POST', path: '/orders/b2c', body: deepValue() }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).status).toBe(400);
    expect((err as AppError).fields).toEqual([{ field: 'body', message: expect.stringMatching(/nested too deeply/) }]);
    expect(hits).toBe(0);
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const bug = await client.json('order', { method: 'POST', path: '/orders/b2c', body: circular }).catch((e: unknown) => e);
    expect(bug).toBeInstanceOf(AppError);
    expect((bug as AppError).status).toBe(500);
    expect((bug as AppError).message).toMatch(/cannot be serialised for order/);
    expect(hits).toBe(0);
  });

  test('a success whose JSON does not parse is a 502 naming the callee, not a string passed on', async () => {
    const client = createInternalClient({ aws: { region: 'eu-west-3', s3ForcePathStyle: false }, internal: { transport: 'http', urls: { order: url }, functions: {} } });
    const err = await client.json('order', { method: 'GET', path: '/broken' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ status: 502, message: expect.stringMatching(/service order answered 200 with a body that is not JSON/) });
  });

  test('the Lambda transport’s event builder fails the same way', () => {
    expect(() => toApiGatewayEvent({ method: 'POST', path: '/x', body: deepValue() }, 'r1')).toThrow(AppError);
  });
});
