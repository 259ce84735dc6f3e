import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import { readConfig, resolveConfig, AppConfig } from '../../core/config';
import { RETRY_AFTER_SECONDS } from '../../core/errors';
import { DependencyUnavailableError } from '../../core/failures';
import { toApiGatewayEvent } from '../../core/internal-client';
import { createApp as clientApp } from '../../functions/client/app';
import { createApp as coreLlmApp } from '../../functions/core-llm/app';
import { createApp as b2bApp } from '../../functions/gateway-b2b/app';
import { createApp as b2cApp } from '../../functions/gateway-b2c/app';
import { createApp as orderApp } from '../../functions/order/app';
import { createApp as themeApp } from '../../functions/theme/app';
import type { ServiceState } from '../../functions/shared/http';
import { toLambdaHandler } from '../../functions/shared/lambda';
import { createRuntime, Runtime } from '../../functions/shared/runtime';

/**
 * Every 503 the services answer carries Retry-After (RETRY_AFTER_SECONDS, core/errors.ts), set
 * by the one error mapping of functions/shared/http.ts: the database down for the services that
 * read it, the internal services unreachable for the gateways, the model down for core-llm; and
 * through the Lambda adapter, as API Gateway passes it on.
 */
let config: AppConfig;
const servers: Server[] = [];
const runtimes: Runtime[] = [];
const apps = {} as Record<string, Koa<ServiceState>>;
const urls = {} as Record<string, string>;
const modelDown = { name: 'gemini' as const, model: 'm', generate: () => Promise.reject(new DependencyUnavailableError('service', 'the model is unavailable')) };

beforeAll(async () => {
  // Nothing listens on port 1: PostgreSQL, Redis and every internal service are down.
  config = await resolveConfig(
    readConfig({
      APP_ENV: 'test',
      LOG_LEVEL: 'error',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none',
      REDIS_URL: 'redis://127.0.0.1:1',
      ...Object.fromEntries(['THEME', 'ORDER', 'CLIENT', 'CORE_LLM'].map((n) => [`SERVICE_URL_${n}`, 'http://127.0.0.1:1'])),
    }),
  );
  const rt = (name: Parameters<typeof createRuntime>[0]) => {
    const r = createRuntime(name, config);
    runtimes.push(r);
    return r;
  };
  apps.theme = themeApp(rt('theme'));
  apps.order = orderApp(rt('order'));
  apps.client = clientApp(rt('client'));
  apps['core-llm'] = coreLlmApp(rt('core-llm'), modelDown);
  apps['gateway-b2c'] = b2cApp(rt('gateway-b2c'));
  apps['gateway-b2b'] = b2bApp(rt('gateway-b2b'));
  for (const [name, app] of Object.entries(apps)) {
    const server = createServer(app.callback());
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    urls[name] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
});
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  await Promise.all(runtimes.map((r) => r.close()));
});

const json = { 'content-type': 'application/json' };

test.each([
  ['theme', 'GET', '/themes', undefined, {}, /database unavailable/],
  ['client', 'GET', '/clients/6f1c1d1e-0000-4000-8000-0000000000c1', undefined, {}, /database unavailable/],
  ['order', 'GET', '/orders/6f1c1d1e-0000-4000-8000-0000000000a1?clientId=6f1c1d1e-0000-4000-8000-0000000000c1', undefined, {}, /database unavailable/],
  ['core-llm', 'POST', '/generate', { clientId: '6f1c1d1e-0000-4000-8000-0000000000c1', prompt: 'x' }, json, /model is unavailable/],
  ['gateway-b2c', 'GET', '/b2c/themes', undefined, {}, /service theme unreachable/],
  ['gateway-b2b', 'GET', '/b2b/batches/6f1c1d1e-0000-4000-8000-0000000000b1', undefined, { 'x-api-key': 'dpk_000000000000_unused' }, /service client unreachable/],
] as const)('%s %s %s with its dependency down: 503 with Retry-After', async (service, method, path, body, headers, message) => {
  const res = await fetch(urls[service] + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  expect(res.status).toBe(503);
  expect(res.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS));
  expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(message);
});

test('the header reaches API Gateway through the Lambda adapter; answers other than 503 carry none', async () => {
  const handler = toLambdaHandler(apps.theme);
  const down = (await handler(toApiGatewayEvent({ method: 'GET', path: '/themes' }, 'req-retry-after'), {})) as { statusCode: number; headers: Record<string, string> };
  expect(down.statusCode).toBe(503);
  expect(down.headers['retry-after']).toBe(String(RETRY_AFTER_SECONDS));
  const missing = (await handler(toApiGatewayEvent({ method: 'GET', path: '/nope' }, 'req-404'), {})) as { statusCode: number; headers: Record<string, string> };
  expect(missing.statusCode).toBe(404);
  expect(missing.headers['retry-after']).toBeUndefined();
});
