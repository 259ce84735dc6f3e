import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import { AppConfig, readConfig, recheckSecrets, resolveConfig, SECRET_RECHECK_SECONDS, SecretFetcher } from '../../core/config';
import { createInternalClient } from '../../core/internal-client';
import { createApp as coreLlmApp } from '../../functions/core-llm/app';
import { createApp as b2cApp } from '../../functions/gateway-b2c/app';
import { createApp as orderApp } from '../../functions/order/app';
import { createApp as themeApp } from '../../functions/theme/app';
import { reportMissingSettings, ServiceState } from '../../functions/shared/http';
import { createRuntime } from '../../functions/shared/runtime';

/**
 * The first deploy, before anyone put a secret's value: the data stack created every secret
 * empty, so Secrets Manager answers ResourceNotFoundException (no AWSCURRENT version) for each.
 * The services start anyway: /health names what is missing, and the routes that need a secret
 * answer a 503 naming its setting (never a 502 or a 500), directly or through the gateway; once
 * the value is there and read again, the same routes go on.
 */
const arn = (name: string) => `arn:aws:secretsmanager:eu-west-3:123456789012:secret:docplatform-dev-${name}-AbCdEf`;
const ENV = {
  APP_ENV: 'test',
  LOG_LEVEL: 'error',
  DB_HOST: '127.0.0.1',
  DB_PORT: '1',
  DB_NAME: 'docplatform',
  DB_SECRET_ARN: arn('db-app'),
  REDIS_URL: 'redis://127.0.0.1:1',
  GEMINI_SECRET_ARN: arn('gemini-api-key'),
  STRIPE_SECRET_ARN: arn('stripe-secret-key'),
  STRIPE_WEBHOOK_SECRET_ARN: arn('stripe-webhook-secret'),
  ORDER_TOKEN_SECRET_ARN: arn('order-token-secret'),
};

/** What Secrets Manager holds: nothing yet, until a test puts a value. */
const values = new Map<string, string>();
const fetched: string[] = [];
const secretsManager: SecretFetcher = async (id) => {
  fetched.push(id);
  const value = values.get(id);
  if (value !== undefined) return value;
  throw Object.assign(new Error("Secrets Manager can't find the specified secret value for staging label: AWSCURRENT"), { name: 'ResourceNotFoundException' });
};

let config: AppConfig;
const servers: Server[] = [];
const runtimes: Array<{ close(): Promise<void> }> = [];
const keep = <R extends { close(): Promise<void> }>(runtime: R): R => (runtimes.push(runtime), runtime);
const urls: Record<string, string> = {};

async function serve(name: string, app: Koa<ServiceState>): Promise<void> {
  reportMissingSettings(app, () => config.missing);
  const server = createServer(app.callback());
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  urls[name] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const call = async (service: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
  const res = await fetch(urls[service] + path, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), json: (await res.json()) as any };
};

const ORDER = { email: 'ada@example.com', name: 'Ada', theme: 'cover-letter', input: { role: 'engineer' } };
const notConfigured = (setting: string) => ({
  status: 503,
  retryAfter: String(SECRET_RECHECK_SECONDS),
  json: { error: { code: 'not_configured', message: `${setting} has no value yet: this route needs it` } },
});

beforeAll(async () => {
  config = await resolveConfig(readConfig(ENV), secretsManager);
  await serve('theme', themeApp(keep(createRuntime('theme', config))));
  await serve('order', orderApp(keep(createRuntime('order', config))));
  await serve('core-llm', coreLlmApp(keep(createRuntime('core-llm', config))));
  const internal = createInternalClient({ ...config, internal: { transport: 'http', urls: { theme: urls.theme, order: urls.order }, functions: {} } });
  await serve('gateway-b2c', b2cApp(keep(createRuntime('gateway-b2c', config, { internal }))));
});
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r())))));
  await Promise.all(runtimes.map((r) => r.close()));
});

test('a secret with no value yet is no start-up failure: it is left out and named in `missing`', () => {
  expect(config.missing).toEqual(['DB_SECRET_ARN', 'GEMINI_SECRET_ARN', 'ORDER_TOKEN_SECRET_ARN', 'STRIPE_SECRET_ARN', 'STRIPE_WEBHOOK_SECRET_ARN']);
  expect(config.secrets).toEqual({});
});

test('/health answers 200 degraded with the missing settings (the service is up: the smoke test and any health check see it started)', async () => {
  const health = await call('gateway-b2c', 'GET', '/health');
  expect(health).toMatchObject({ status: 200, json: { status: 'degraded', service: 'gateway-b2c', missing: config.missing } });
  expect(health.json.missing).toContain('STRIPE_SECRET_ARN');
});

test.each([
  ['gateway-b2c', 'POST', '/b2c/orders', 'STRIPE_SECRET_ARN', ORDER, { 'idempotency-key': 'k'.repeat(24) }],
  ['gateway-b2c', 'POST', '/b2c/stripe/webhook', 'STRIPE_SECRET_ARN', {}, { 'stripe-signature': 't=1,v1=00' }],
  ['order', 'POST', '/orders/b2c', 'ORDER_TOKEN_SECRET_ARN', { ...ORDER, idempotencyKey: 'k'.repeat(24) }, {}],
  ['theme', 'GET', '/themes', 'DB_SECRET_ARN', undefined, {}],
  ['core-llm', 'POST', '/generate', 'GEMINI_SECRET_ARN', { clientId: '6f1c1d1e-0000-4000-8000-0000000000c1', prompt: 'hello' }, {}],
] as const)('%s %s %s: a 503 naming %s, with Retry-After', async (service, method, path, setting, body, headers) => {
  expect(await call(service, method, path, body, headers)).toEqual(notConfigured(setting));
});

test("through the gateway, a service refusing for a missing secret is a 503 that names the setting, not a 502, with the service's Retry-After", async () => {
  const themes = await call('gateway-b2c', 'GET', '/b2c/themes');
  expect(themes.status).toBe(503);
  expect(themes.json.error.message).toContain('DB_SECRET_ARN has no value yet');
  // The secret is read again every SECRET_RECHECK_SECONDS: the gateway's own 5 s sent clients back six times as often.
  expect(themes.retryAfter).toBe(String(SECRET_RECHECK_SECONDS));
});

test('the routes that need nothing missing still answer (the webhook checks its own secret too)', async () => {
  values.set(ENV.STRIPE_SECRET_ARN, 'sk_test_stand_in');
  try {
    expect(await recheckSecrets(config, secretsManager)).not.toContain('STRIPE_SECRET_ARN');
    expect(await call('gateway-b2c', 'POST', '/b2c/stripe/webhook', {}, { 'stripe-signature': 't=1,v1=00' })).toEqual(notConfigured('STRIPE_WEBHOOK_SECRET_ARN'));
    expect((await call('gateway-b2c', 'GET', '/health')).json.missing).not.toContain('STRIPE_SECRET_ARN');
  } finally {
    values.delete(ENV.STRIPE_SECRET_ARN);
  }
});

test('once the values are put, reading again (in place) clears `missing`: health is ok and the routes go past the check', async () => {
  values.set(ENV.GEMINI_SECRET_ARN, 'stand-in-gemini-key');
  values.set(ENV.STRIPE_WEBHOOK_SECRET_ARN, 'whsec_stand_in');
  values.set(ENV.ORDER_TOKEN_SECRET_ARN, 'o'.repeat(44));
  values.set(ENV.DB_SECRET_ARN, JSON.stringify({ username: 'docplatform_app', password: 'p'.repeat(20) }));
  const before = fetched.length;
  expect(await recheckSecrets(config, secretsManager)).toEqual([]);
  // Only what was missing is read again.
  expect(fetched.slice(before).sort()).toEqual([ENV.DB_SECRET_ARN, ENV.GEMINI_SECRET_ARN, ENV.ORDER_TOKEN_SECRET_ARN, ENV.STRIPE_WEBHOOK_SECRET_ARN].sort());
  expect(await call('theme', 'GET', '/health')).toMatchObject({ status: 200, json: { status: 'ok', service: 'theme' } });
  // Past the secret: now the database (nothing listens on port 1) is what answers 503.
  const themes = await call('theme', 'GET', '/themes');
  expect(themes.status).toBe(503);
  expect(themes.json.error.message).toMatch(/database unavailable/);
  expect(await recheckSecrets(config, secretsManager)).toEqual([]);
}, 20_000);
