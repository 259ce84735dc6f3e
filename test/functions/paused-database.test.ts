import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readConfig, resolveConfig } from '../../core/config';
import { createDb } from '../../core/db';
import { RETRY_AFTER_SECONDS } from '../../core/errors';
import { classifyError } from '../../core/failures';
import { Client } from 'pg';
import { ENV } from '../../core/contract';
import { migrateLatest } from '../../migrations/migrate';
import { createApp as themeApp } from '../../functions/theme/app';
import { toApiGatewayEvent } from '../../core/internal-client';
import { toLambdaHandler } from '../../functions/shared/lambda';
import { ANSWER_MARGIN_MS } from '../../functions/shared/http';
import { createRuntime, Runtime } from '../../functions/shared/runtime';
import { Cluster, startLogicalCluster } from '../support/data-move-harness';

/**
 * A database that sleeps (Aurora Serverless v2 at 0 ACU resumes on the first connection in
 * 15-30 s), played by a throwaway PostgreSQL cluster stopped and started again: connections are
 * refused meanwhile. The theme service reads it through core/db.ts with DB_CONNECT_WAIT_MS set,
 * as the Aurora variant's compute layer sets it. A request waits for the database within its
 * wait (and within its Lambda's remaining time), then answers 503 with Retry-After, never a 500.
 */
let cluster: Cluster;
const runtimes: Runtime[] = [];
const servers: Server[] = [];

async function themeService(waitMs: number): Promise<{ url: string; runtime: Runtime }> {
  const config = await resolveConfig(
    readConfig({
      APP_ENV: 'test',
      LOG_LEVEL: 'error',
      // The cluster's certificate is self-signed: encrypted, not verified.
      DATABASE_URL: cluster.url('postgres').replace('sslmode=require', 'sslmode=no-verify'),
      [ENV.dbConnectWaitMs]: String(waitMs),
      THEME_CACHE_TTL_SECONDS: '0',
    }),
  );
  const runtime = createRuntime('theme', config);
  runtimes.push(runtime);
  const server = createServer(themeApp(runtime).callback());
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, runtime };
}

const timed = async <T>(work: () => Promise<T>): Promise<{ result: T; ms: number }> => {
  const started = Date.now();
  const result = await work();
  return { result, ms: Date.now() - started };
};

beforeAll(async () => {
  cluster = await startLogicalCluster('paused-db');
  const db = createDb({ database: { url: cluster.url('postgres').replace('sslmode=require', 'sslmode=no-verify'), port: 5432, poolMax: 1 }, secrets: {} });
  await migrateLatest(db);
  await db.destroy();
}, 120_000);

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  await Promise.all(runtimes.map((r) => r.close()));
  await cluster?.stop();
});

afterEach(async () => {
  // Every test leaves the database up for the next.
  await cluster.resume().catch(() => undefined);
});

test('a request while the database stays down waits its DB_CONNECT_WAIT_MS, then answers 503 with Retry-After, not a 500', async () => {
  const { url } = await themeService(2500);
  expect((await fetch(`${url}/themes`)).status).toBe(200);
  await cluster.pause();
  const { result: res, ms } = await timed(() => fetch(`${url}/themes`));
  expect(res.status).toBe(503);
  expect(res.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS));
  expect(((await res.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'service_unavailable', message: expect.stringMatching(/database unavailable/) });
  // It tried for the whole wait (the connection is refused at once: it is the retries that take the time), and no longer.
  expect(ms).toBeGreaterThanOrEqual(2400);
  expect(ms).toBeLessThan(6000);
}, 30_000);

test('a request that starts while the database is down and whose database comes back within the wait succeeds', async () => {
  const { url } = await themeService(15_000);
  expect((await fetch(`${url}/themes`)).status).toBe(200);
  await cluster.pause();
  const request = timed(() => fetch(`${url}/themes`));
  await new Promise((r) => setTimeout(r, 3000));
  await cluster.resume();
  const { result: res, ms } = await request;
  expect(res.status).toBe(200);
  expect(Array.isArray(((await res.json()) as { themes: unknown[] }).themes)).toBe(true);
  expect(ms).toBeGreaterThanOrEqual(3000);
}, 40_000);

test('on Lambda the wait ends with the invocation\'s remaining time (less the answer margin): the 503 leaves before the timeout', async () => {
  const { runtime } = await themeService(15_000);
  const handle = toLambdaHandler(themeApp(runtime));
  await cluster.pause();
  const remainingAtStart = 3000;
  const started = Date.now();
  const context = { getRemainingTimeInMillis: () => remainingAtStart - (Date.now() - started) };
  const { result, ms } = await timed(() => handle(toApiGatewayEvent({ method: 'GET', path: '/themes' }, '6f1c1d1e-0000-4000-8000-00000000d0d0'), context) as Promise<{ statusCode: number; headers: Record<string, string> }>);
  expect(result.statusCode).toBe(503);
  expect(result.headers['retry-after']).toBe(String(RETRY_AFTER_SECONDS));
  expect(ms).toBeLessThan(remainingAtStart);
  expect(ms).toBeGreaterThanOrEqual(remainingAtStart - ANSWER_MARGIN_MS - 500);
}, 30_000);

test('a write while the database is read-only (a data move\'s cutover) is a 503 to retry, not a 500', async () => {
  const client = new Client({ connectionString: cluster.url('postgres').replace('sslmode=require', 'sslmode=no-verify') });
  await client.connect();
  try {
    await client.query('SET default_transaction_read_only = on');
    const err = await client.query('CREATE TABLE cutover_probe (id int)').then(() => undefined, (e: unknown) => e);
    expect((err as { code?: string }).code).toBe('25006');
    expect(classifyError(err)).toMatchObject({ status: 503, retryAfter: RETRY_AFTER_SECONDS });
  } finally {
    await client.end();
  }
});
