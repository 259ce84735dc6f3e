import { createServer, Server, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createInternalClient, lambdaTransport } from './internal-client';
import { createS3Client, createStorage } from './storage';
import { AppError } from './errors';
import { classifyError } from './failures';

/**
 * A call to S3 or to Lambda Invoke that never gets an answer must fail within a bound: the
 * doc-generation worker's heartbeat extends the message's visibility for as long as its
 * handler waits, so a hung call would hold the message (and a slot) for hours.
 * The real SDK clients against a TCP server that accepts connections and never answers.
 */
let server: Server;
let endpoint: string;
const sockets = new Set<Socket>();
let connections = 0;

beforeAll(async () => {
  server = createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('data', () => undefined); // read the request, answer nothing
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.env.AWS_ACCESS_KEY_ID ??= 'test';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
});
afterAll(async () => {
  sockets.forEach((s) => s.destroy());
  await new Promise<void>((r) => server.close(() => r()));
});

/** How a promise settles within `ms`: its error, or 'pending' if it has not. */
async function settleWithin(promise: Promise<unknown>, ms: number): Promise<{ state: 'pending' } | { state: 'settled'; error?: unknown; ms: number }> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<{ state: 'pending' }>((r) => (timer = setTimeout(() => r({ state: 'pending' }), ms)));
  const settled = promise.then(
    () => ({ state: 'settled' as const, ms: Date.now() - started }),
    (error: unknown) => ({ state: 'settled' as const, error, ms: Date.now() - started }),
  );
  try {
    return await Promise.race([settled, pending]);
  } finally {
    clearTimeout(timer);
  }
}

const aws = () => ({ region: 'eu-west-3', endpoint, s3ForcePathStyle: true });

test('an S3 put to an endpoint that never answers fails within its bound, as an outage the services answer 503', async () => {
  const timeouts = { connectMs: 500, requestMs: 400 };
  const s3 = createS3Client({ aws: aws() }, timeouts);
  try {
    const storage = createStorage({ aws: aws() }, s3);
    const before = connections;
    const out = await settleWithin(storage.put('reports', 'k.pdf', Buffer.from('%PDF'), 'application/pdf'), 10_000);
    expect(out.state).toBe('settled');
    if (out.state !== 'settled') return;
    // Each attempt ends at requestMs; the SDK's attempts (3) and their backoff stay well inside this.
    expect(out.ms).toBeLessThan(3 * timeouts.requestMs + 2_000);
    expect(out.error).toBeDefined();
    expect(connections - before).toBeGreaterThanOrEqual(1);
    expect(classifyError(out.error).status).toBe(503);
  } finally {
    s3.destroy();
  }
}, 30_000);

test('the default S3 client carries the timeouts too', async () => {
  const s3 = createS3Client({ aws: aws() });
  try {
    const handler = (s3.config.requestHandler as unknown as { configProvider: Promise<Record<string, unknown>> }).configProvider;
    expect(await handler).toMatchObject({ connectionTimeout: 3_000, requestTimeout: 30_000, throwOnRequestTimeout: true });
  } finally {
    s3.destroy();
  }
});

test('a Lambda Invoke that never gets an answer fails once, within its bound, as a 503 naming the service', async () => {
  const timeouts = { connectMs: 500, requestMs: 600 };
  const config = { aws: aws(), internal: { transport: 'lambda' as const, urls: {}, functions: { order: 'docplatform-test-order' } } };
  const client = createInternalClient(config, lambdaTransport(config, timeouts));
  const before = connections;
  const out = await settleWithin(client.json('order', { method: 'GET', path: '/orders/x' }), 10_000);
  expect(out.state).toBe('settled');
  if (out.state !== 'settled') return;
  expect(out.ms).toBeLessThan(timeouts.requestMs + 1_000);
  expect(out.error).toBeInstanceOf(Error);
  const answered = classifyError(out.error);
  expect(answered).toBeInstanceOf(AppError);
  expect(answered.status).toBe(503);
  expect(answered.message).toMatch(/service order unreachable/);
  // Not invoked again after the time ran out: a lost answer may belong to a call that ran.
  expect(connections - before).toBe(1);
}, 30_000);
