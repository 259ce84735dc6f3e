import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import Redis from 'ioredis';
import type { Knex } from 'knex';
import Stripe from 'stripe';
import { createDb } from '../../core/db';
import { LOCAL_QUEUES, LOCAL_STRIPE_SECRET_KEY, LOCAL_STRIPE_WEBHOOK_SECRET } from '../../scripts/local/defaults';
import { startLocalPlatform, LocalPlatform } from '../../scripts/local/platform';
import { checkoutCompletedEvent } from '../../scripts/local/stand-ins/stripe';
import { freePort } from '../support/local-dev';
import { createTestDatabase, TestDatabase } from '../support/postgres';
import { http, newIdempotencyKey } from '../support/functions-platform';

/**
 * Redis goes away in the middle of a run of orders, then comes back on the same port: core-llm
 * keeps generating without it (no cache, in-process rate limit), says so once, and goes back to
 * the shared cache by itself once Redis answers again. Every order ends ready, none in the DLQ.
 * The Redis is this test's own throwaway redis-server, never the machine's.
 */
jest.setTimeout(180_000);

const DEGRADED = 'cache unreachable: core-llm generates without cache, rate limit counted in this process until Redis answers again';
const BACK = 'cache reachable again: core-llm uses the shared Redis cache and rate limit';

let redisPort: number;
let redisServer: ChildProcess | undefined;
let database: TestDatabase;
let platform: LocalPlatform;
let db: Knex;
let sqs: SQSClient;
const prefix = `test:redis-outage:${randomBytes(4).toString('hex')}:`;
const stripe = new Stripe(LOCAL_STRIPE_SECRET_KEY);
const logLines: Record<string, unknown>[] = [];
let stdoutWrite: jest.SpyInstance;

/**
 * The redis-server binary, or Debian's redis-tools' redis-check-rdb: the same program, which runs
 * as a server when started under the name redis-server (where Redis is a container, as on CI's
 * runners, only redis-tools is installed: scripts/install-system-deps.sh --for-tests).
 */
function redisServerBinary(): { file: string; argv0: string } {
  for (const name of ['redis-server', 'redis-check-rdb']) {
    try {
      return { file: execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim(), argv0: 'redis-server' };
    } catch {
      // Not on the PATH.
    }
  }
  throw new Error('no redis-server (or redis-check-rdb) on the PATH: bash scripts/install-system-deps.sh --for-tests installs redis-tools');
}

async function startRedis(): Promise<void> {
  const { file, argv0 } = redisServerBinary();
  const child = spawn(file, ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore', argv0 });
  redisServer = child;
  const probe = new Redis({ port: redisPort, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on('error', () => undefined);
  for (const until = Date.now() + 10_000; ; await new Promise((r) => setTimeout(r, 50))) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return;
    } catch (err) {
      if (Date.now() > until) throw err;
    }
  }
}

async function stopRedis(): Promise<void> {
  const child = redisServer;
  redisServer = undefined;
  if (!child || child.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

beforeAll(async () => {
  redisPort = await freePort();
  await startRedis();
  database = await createTestDatabase('fn_redis_outage');
  // The platform's services and workers log to stdout: every line is kept here (and not printed).
  stdoutWrite = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    for (const line of String(chunk).split('\n')) {
      if (line.startsWith('{')) logLines.push(JSON.parse(line));
    }
    return true;
  });
  platform = await startLocalPlatform({
    databaseUrl: database.url,
    redisKeyPrefix: prefix,
    logLevel: 'warn',
    startWorkers: true,
    env: { REDIS_URL: `redis://127.0.0.1:${redisPort}` },
  });
  db = createDb({ database: { url: database.url, port: 5432, poolMax: 2 }, secrets: {} });
  sqs = new SQSClient({ region: 'eu-west-3', endpoint: platform.emulator.endpoint });
});
afterAll(async () => {
  sqs?.destroy();
  await db?.destroy();
  await platform?.stop();
  stdoutWrite?.mockRestore();
  await stopRedis();
  await database?.drop();
});

async function orderAndPay(n: number): Promise<{ id: string; token: string }> {
  const b2c = platform.urls['gateway-b2c'];
  const created = await http(b2c, '/b2c/orders', {
    method: 'POST',
    json: { email: 'ada@example.test', name: 'Ada', theme: 'product-sheet', input: { product: `Kettle number ${n}` } },
    headers: { 'idempotency-key': newIdempotencyKey() },
  });
  expect(created.status).toBe(201);
  const id: string = created.json.order.id;
  const row = await db('orders').where({ id }).first();
  const payload = JSON.stringify(
    checkoutCompletedEvent({ id: row.stripe_session_id, metadata: { orderId: id }, client_reference_id: id, amount_total: row.amount_cents, currency: row.currency }),
  );
  const paid = await http(b2c, '/b2c/stripe/webhook', {
    method: 'POST',
    body: payload,
    headers: { 'content-type': 'application/json', 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload, secret: LOCAL_STRIPE_WEBHOOK_SECRET }) },
  });
  expect(paid.json).toMatchObject({ handled: true });
  // The worker may have taken it already when the webhook answers.
  expect(['queued', 'generating', 'ready']).toContain(paid.json.status);
  return { id, token: created.json.accessToken };
}

const statusOf = async (id: string): Promise<string> => (await db('orders').where({ id }).first()).status;
const coreLlmLines = (msg: string) => logLines.filter((l) => l.service === 'core-llm' && l.msg === msg);

async function until<T>(check: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  for (const end = Date.now() + timeoutMs; ; await new Promise((r) => setTimeout(r, 100))) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; log: ${JSON.stringify(logLines.slice(-20))}`);
  }
}

const cacheKeys = async (): Promise<string[]> => {
  const r = new Redis({ port: redisPort, host: '127.0.0.1' });
  try {
    return await r.keys(`${prefix}llm:cache:*`);
  } finally {
    r.disconnect();
  }
};

test('Redis stopped during a run of orders: every order ends ready, none in the DLQ; core-llm logs the switch to degraded mode once and back once', async () => {
  const orders: { id: string; token: string }[] = [];
  const readyAll = (list: { id: string }[]) =>
    until(async () => (await Promise.all(list.map((o) => statusOf(o.id)))).every((s) => s === 'ready'), 60_000, 'orders to be ready');

  // Redis up: shared cache.
  for (let i = 0; i < 4; i++) orders.push(await orderAndPay(i));
  await readyAll(orders);
  expect((await cacheKeys()).length).toBe(4);
  expect(coreLlmLines(DEGRADED)).toHaveLength(0);

  // Redis stopped mid-run: orders keep being paid and generated.
  await stopRedis();
  const during: { id: string }[] = [];
  for (let i = 4; i < 10; i++) {
    during.push(await orderAndPay(i));
    await new Promise((r) => setTimeout(r, 150));
  }
  orders.push(...(during as { id: string; token: string }[]));
  await readyAll(during);
  expect(coreLlmLines(DEGRADED)).toHaveLength(1);
  expect(coreLlmLines(BACK)).toHaveLength(0);

  // Redis back on the same port (empty: --save ''): core-llm finds it by itself.
  await startRedis();
  await until(async () => coreLlmLines(BACK).length > 0, 15_000, 'core-llm to use Redis again');
  const after: { id: string; token: string }[] = [];
  for (let i = 10; i < 14; i++) after.push(await orderAndPay(i));
  orders.push(...after);
  await readyAll(orders);
  // The orders made after the return were cached in the restarted Redis.
  expect((await cacheKeys()).length).toBe(after.length);

  // One line each way for the whole outage, not one per request.
  expect(coreLlmLines(DEGRADED)).toHaveLength(1);
  expect(coreLlmLines(BACK)).toHaveLength(1);
  expect(logLines.indexOf(coreLlmLines(DEGRADED)[0])).toBeLessThan(logLines.indexOf(coreLlmLines(BACK)[0]));
  // No generation failed and was left for a retry.
  expect(logLines.filter((l) => l.msg === 'message failed; left for retry/DLQ')).toEqual([]);

  const depth = async (queue: string) => {
    const a = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: platform.emulator.queueUrls[queue], AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
    );
    return Number(a.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(a.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
  };
  expect(await depth(`${LOCAL_QUEUES.docJobs}-dlq`)).toBe(0);
  expect(await depth(LOCAL_QUEUES.docJobs)).toBe(0);
  expect(new Set(await Promise.all(orders.map((o) => statusOf(o.id))))).toEqual(new Set(['ready']));
});

test('a Redis that stops answering but keeps the connection (SIGSTOP) costs one command timeout, not a hang; a ping brings core-llm back once it answers', async () => {
  const llm = platform.urls['core-llm'];
  const generate = (prompt: string) => http(llm, '/generate', { method: 'POST', json: { clientId: '6f1c1d1e-0000-4000-8000-00000000abcd', prompt } });
  expect((await generate('warm the connection')).status).toBe(200);
  const degradedBefore = coreLlmLines(DEGRADED).length;
  const backBefore = coreLlmLines(BACK).length;
  redisServer!.kill('SIGSTOP');
  try {
    const started = Date.now();
    const first = await generate('while Redis is frozen');
    expect(first.status).toBe(200);
    expect(first.json.cached).toBe(false);
    expect(Date.now() - started).toBeLessThan(2000); // one 500 ms command timeout, then no Redis
    const next = Date.now();
    expect((await generate('while Redis is frozen, again')).status).toBe(200);
    expect(Date.now() - next).toBeLessThan(300);
    expect(coreLlmLines(DEGRADED)).toHaveLength(degradedBefore + 1);
  } finally {
    redisServer!.kill('SIGCONT');
  }
  // No reconnect happens (the connection never dropped): the ping sent at most every 5 s finds it.
  await until(async () => {
    await generate(`after SIGCONT ${Date.now()}`);
    return coreLlmLines(BACK).length > backBefore;
  }, 15_000, 'core-llm to use Redis again after SIGCONT');
  expect(coreLlmLines(DEGRADED)).toHaveLength(degradedBefore + 1);
  expect(coreLlmLines(BACK)).toHaveLength(backBefore + 1);
});
