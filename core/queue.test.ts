import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DependencyUnavailableError } from './failures';
import { createJobQueue } from './queue';
import { withRequestDeadline } from './request-deadline';

/**
 * An SQS endpoint that takes the connection and never answers (a path failing silently): a send
 * inside a request must give up by the request's deadline, so the service answers (and, for a
 * batch without a key, fails it: functions/order/app.ts) before Lambda kills the invocation.
 */
let server: Server;
let endpoint: string;

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID ??= 'test';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
  server = createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(resolve));
});

test('a send SQS never answers ends as a queue 503 by the request deadline, not after the SDK attempts (3 × 5 s)', async () => {
  const queueUrl = `${endpoint}/000000000000/batch-jobs`;
  const queue = createJobQueue({
    aws: { region: 'eu-west-3', endpoint },
    queues: { docJobsUrl: queueUrl, batchDocJobsUrl: queueUrl, batchJobsUrl: queueUrl },
  } as never);
  const started = Date.now();
  const err = await withRequestDeadline(Date.now() + 500, () => queue.sendBatchJob('6f1c1d1e-0000-4000-8000-0000000000b1')).catch((e: unknown) => e);
  expect(Date.now() - started).toBeLessThan(2_000);
  expect(err).toBeInstanceOf(DependencyUnavailableError);
  expect(err).toMatchObject({ dependency: 'queue', answer: 'queue unavailable, please retry shortly' });
}, 30_000);
