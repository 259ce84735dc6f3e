import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import type Koa from 'koa';
import { readConfig, resolveConfig, AppConfig } from '../../core/config';
import type { InternalClient } from '../../core/internal-client';
import { createApp as clientApp } from '../../functions/client/app';
import { createApp as coreLlmApp } from '../../functions/core-llm/app';
import { BATCH_BODY_LIMIT, createApp as b2bApp } from '../../functions/gateway-b2b/app';
import { createApp as b2cApp } from '../../functions/gateway-b2c/app';
import { createApp as orderApp } from '../../functions/order/app';
import { createRuntime } from '../../functions/shared/runtime';
import type { ServiceState } from '../../functions/shared/http';

/**
 * The one JSON body reader (functions/shared/validation.ts), route by route: what each answers
 * for a body it does not take, before anything behind the route (database, Redis, another
 * service) is asked. Each app runs on its own with clients that fail if used.
 */
let config: AppConfig;
const servers: Server[] = [];

const unusedProvider = { name: 'offline' as const, model: 'unused', generate: () => Promise.reject(new Error('not reached')) };
/** Knows one API key, answers nothing else: the B2B gateway's routes run after authentication. */
const authOnly: InternalClient = {
  json: async <T>(service: string, req: { path: string }): Promise<T> => {
    if (service === 'client' && req.path === '/clients/authenticate') return { client: { id: '6f1c1d1e-0000-4000-8000-0000000000c1', name: 'acme' } } as T;
    throw new Error(`unexpected internal call ${service} ${req.path}`);
  },
};

async function serve(app: Koa<ServiceState>): Promise<string> {
  const server = createServer(app.callback());
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function post(base: string, path: string, body: string, headers: Record<string, string>) {
  const res = await fetch(base + path, { method: 'POST', body, headers });
  return { status: res.status, json: await res.json() };
}

let urls: Record<'order' | 'client' | 'core-llm' | 'gateway-b2c' | 'gateway-b2b', string>;

beforeAll(async () => {
  config = await resolveConfig(
    readConfig({ APP_ENV: 'test', LOG_LEVEL: 'error', DATABASE_URL: 'postgres://postgres@127.0.0.1:1/unused', REDIS_URL: 'redis://127.0.0.1:1' }),
  );
  urls = {
    order: await serve(orderApp(createRuntime('order', config))),
    client: await serve(clientApp(createRuntime('client', config))),
    'core-llm': await serve(coreLlmApp(createRuntime('core-llm', config), unusedProvider)),
    'gateway-b2c': await serve(b2cApp(createRuntime('gateway-b2c', config, { internal: authOnly }))),
    'gateway-b2b': await serve(b2bApp(createRuntime('gateway-b2b', config, { internal: authOnly }))),
  };
});
afterAll(() => Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())))));

const b2bKey = { 'x-api-key': 'dpk_000000000000_unused' };

test.each([
  ['order', '/orders/b2c', {}, 'content-type must be one of: application/json'],
  ['order', '/orders/6f1c1d1e-0000-4000-8000-0000000000a1/paid', {}, 'content-type must be one of: application/json'],
  ['order', '/batches', {}, 'content-type must be one of: application/json'],
  ['client', '/clients/authenticate', {}, 'content-type must be one of: application/json'],
  ['core-llm', '/generate', {}, 'content-type must be one of: application/json'],
  ['gateway-b2c', '/b2c/orders', {}, 'content-type must be application/json'],
  ['gateway-b2b', '/b2b/batches', b2bKey, 'content-type must be one of: application/json, text/csv'],
] as const)('%s POST %s: a body that is not JSON is a 415 saying what it takes', async (service, path, headers, message) => {
  for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', '']) {
    const res = await post(urls[service], path, '{"a":1}', { ...headers, 'content-type': contentType });
    expect(res).toEqual({ status: 415, json: { error: { code: 'unsupported_media_type', message } } });
  }
});

test.each([
  ['order', '/orders/b2c', {}],
  ['client', '/clients/authenticate', {}],
  ['core-llm', '/generate', {}],
  ['gateway-b2c', '/b2c/orders', {}],
  ['gateway-b2b', '/b2b/batches', b2bKey],
] as const)('%s POST %s: JSON with parameters is read; empty or broken JSON is a 400 naming body', async (service, path, headers) => {
  const json = { ...headers, 'content-type': 'Application/JSON; charset=utf-8' };
  expect(await post(urls[service], path, '', json)).toMatchObject({ status: 400, json: { error: { fields: [{ field: 'body', message: 'a JSON body is required' }] } } });
  expect(await post(urls[service], path, '{"a":', json)).toMatchObject({ status: 400, json: { error: { fields: [{ field: 'body', message: 'body is not valid JSON' }] } } });
});

test.each([
  ['core-llm', '/generate', {}, 64 * 1024],
  ['gateway-b2c', '/b2c/orders', {}, 64 * 1024],
  ['client', '/clients/authenticate', {}, 256 * 1024],
  ['gateway-b2b', '/b2b/batches', b2bKey, BATCH_BODY_LIMIT],
] as const)('%s POST %s: a JSON body over the route’s limit is a 413', async (service, path, headers, limit) => {
  const res = await post(urls[service], path, JSON.stringify({ x: 'x'.repeat(limit) }), { ...headers, 'content-type': 'application/json' });
  expect(res).toEqual({ status: 413, json: { error: { code: 'payload_too_large', message: `request body exceeds ${limit} bytes` } } });
});

// Nothing in front of the functions decompresses a request (the API has no content encoding set):
// a gzipped body reached the reader as its compressed bytes and was a 400 'body is not valid UTF-8'.
test.each([
  ['gateway-b2c', '/b2c/orders', {}, 'application/json', '{"email":"ada@example.test"}'],
  ['gateway-b2b', '/b2b/batches?theme=product-sheet', b2bKey, 'text/csv', 'product\nkettle\n'],
  ['order', '/orders/b2c', {}, 'application/json', '{"email":"ada@example.test"}'],
] as const)('%s POST %s: a compressed body is a 415 naming Content-Encoding, not a 400 about its bytes', async (service, path, headers, contentType, text) => {
  const res = await fetch(urls[service] + path, { method: 'POST', body: gzipSync(text), headers: { ...headers, 'content-type': contentType, 'content-encoding': 'gzip' } });
  expect({ status: res.status, json: await res.json() }).toEqual({
    status: 415,
    json: { error: { code: 'unsupported_media_type', message: 'content-encoding gzip is not supported: send the body uncompressed' } },
  });
});
