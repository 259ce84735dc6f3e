import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createDb } from '../../core/db';
import { createLogger } from '../../core/logger';
import { createJobQueue } from '../../core/queue';
import { createS3Client } from '../../core/storage';
import { handleBatchJob } from '../../containers/b2b-batch/handler';
import type { AppCredentials } from '../../migrations/app-role';
import { migrateWithAppLogin } from '../../migrations/migrate';
import { LOCAL_QUEUES } from '../../scripts/local/defaults';
import { LocalPlatform, startLocalPlatform } from '../../scripts/local/platform';
import { http, newIdempotencyKey } from '../support/functions-platform';
import { admin, createTestDatabase, TestDatabase } from '../support/postgres';

/**
 * POST /b2b/batches whose batch job SQS does not take (throttled, unreachable). Without an
 * Idempotency-Key the client's retry is a new batch: the one whose job was not sent must not stay
 * `pending` for ever beside it, so the order service ends it `failed` before answering 503. A job
 * that reached SQS all the same (the send failed after SQS took it) finds a final batch and the
 * b2b-batch worker drops it. With a key the batch stays pending and the retry re-sends its job
 * (b2b-llm.test.ts). The services run as a login of the application role, as in AWS (it may not
 * delete a row). Real PostgreSQL, fauxqs, the gateway and the order service of the local platform.
 */
let database: TestDatabase;
let owner: Knex;
let p: LocalPlatform;
let sqs: SQSClient;
let b2b: string;
const login: AppCredentials = { username: `app_send_${randomBytes(4).toString('hex')}`, password: randomBytes(24).toString('base64url') };

beforeAll(async () => {
  database = await createTestDatabase('fn_b2b_send');
  owner = createDb({ database: { url: database.url, port: 5432, poolMax: 2 }, secrets: {} });
  await migrateWithAppLogin(owner, login);
  const appUrl = new URL(database.url);
  appUrl.username = login.username;
  appUrl.password = login.password;
  p = await startLocalPlatform({ databaseUrl: database.url, redisKeyPrefix: `test:fn_b2b_send:${randomBytes(4).toString('hex')}:`, logLevel: 'error', env: { DATABASE_APP_URL: appUrl.toString() } });
  sqs = new SQSClient({ region: 'eu-west-3', endpoint: p.emulator.endpoint });
  b2b = p.urls['gateway-b2b'];
});
afterAll(async () => {
  sqs?.destroy();
  await p?.stop();
  await owner?.destroy();
  await database?.drop();
  await admin((c) => c.query(`DROP ROLE IF EXISTS ${login.username}`));
});

const receiveBatchJobs = async (): Promise<unknown[]> => {
  const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: p.emulator.queueUrls[LOCAL_QUEUES.batchJobs], MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
  return (out.Messages ?? []).map((m) => JSON.parse(m.Body ?? 'null'));
};
const newClient = async (name: string) => {
  const res = await http(p.urls.client, '/clients', { method: 'POST', json: { name, email: `${name}@example.test` } });
  expect(res.status).toBe(201);
  return res.json as { client: { id: string }; apiKey: string };
};
const postCsv = (apiKey: string, body: string, headers: Record<string, string> = {}) =>
  http(b2b, '/b2b/batches?theme=product-sheet', { method: 'POST', body, headers: { 'content-type': 'text/csv', 'x-api-key': apiKey, ...headers } });
const batchesOf = async (clientId: string) => (await owner('batches').where({ client_id: clientId }).orderBy('created_at').select('id', 'status', 'error')) as { id: string; status: string; error: string | null }[];
const UNSENT = { status: 'failed', error: 'its batch job could not be queued; nothing was processed: submit the batch again' };
/** What SQS's client throws when SendMessage stays throttled through its retries. */
const throttled = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $retryable: { throttling: true } });

describe('POST /b2b/batches when its batch job cannot be sent', () => {
  test('without an Idempotency-Key: 503 with Retry-After and the batch failed, none left pending; the retry is the one batch', async () => {
    const { client, apiKey } = await newClient('unsent-co');
    await receiveBatchJobs();
    const send = jest.spyOn(p.runtimes.order.queue, 'sendBatchJob').mockRejectedValueOnce(throttled());
    let failed;
    try {
      failed = await postCsv(apiKey, 'product\nLamp\n');
    } finally {
      send.mockRestore();
    }
    expect(failed.status).toBe(503);
    expect(failed.headers.get('retry-after')).toBeTruthy();
    expect(failed.json.error).toMatchObject({ code: 'service_unavailable' });
    const [unsent] = await batchesOf(client.id);
    expect(unsent).toEqual({ id: expect.any(String), ...UNSENT });

    const retry = await postCsv(apiKey, 'product\nLamp\n');
    expect(retry.status).toBe(202);
    expect(await batchesOf(client.id)).toEqual([unsent, { id: retry.json.batch.id, status: 'pending', error: null }]);
    expect(await receiveBatchJobs()).toEqual([{ v: 1, batchId: retry.json.batch.id }]);
  });

  test('a job that reached SQS although its send failed finds its batch failed: the worker drops it without an error', async () => {
    const { client, apiKey } = await newClient('half-sent-co');
    await receiveBatchJobs();
    const queue = p.runtimes.order.queue;
    const realSend = queue.sendBatchJob.bind(queue);
    const send = jest.spyOn(queue, 'sendBatchJob').mockImplementationOnce(async (batchId, trace) => {
      await realSend(batchId, trace);
      throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    });
    try {
      expect((await postCsv(apiKey, 'product\nLamp\n')).status).toBe(503);
    } finally {
      send.mockRestore();
    }
    const [job] = (await receiveBatchJobs()) as { batchId: string }[];
    expect(await batchesOf(client.id)).toEqual([{ id: job.batchId, ...UNSENT }]);

    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ test: 'b2b-batch-send-failure' }, 'info', (line) => void lines.push(JSON.parse(line)));
    const s3 = createS3Client(p.config);
    try {
      const deps = {
        db: owner,
        s3,
        storage: p.runtimes['gateway-b2b'].storage,
        queue: createJobQueue(p.config),
        batchBucket: p.config.buckets.assets,
        logger,
        budget: p.config.llm.budget,
      };
      const message = { id: 'm-1', body: JSON.stringify(job), receiveCount: 1, lastAttempt: false, requestId: 'req-half-sent', logger, beforeRelease: () => undefined };
      await expect(handleBatchJob(deps, message, new AbortController().signal)).resolves.toBeUndefined();
    } finally {
      s3.destroy();
    }
    expect(lines.filter((l) => l.level === 'error' || l.level === 'warn')).toEqual([]);
    expect(await owner('orders').where({ batch_id: job.batchId })).toEqual([]);
    expect(await batchesOf(client.id)).toEqual([{ id: job.batchId, ...UNSENT }]);
  });

  test('a batch the worker already moved on is kept and answered 202: its job did reach SQS', async () => {
    const { client, apiKey } = await newClient('raced-co');
    const queue = p.runtimes.order.queue;
    const send = jest.spyOn(queue, 'sendBatchJob').mockImplementationOnce(async (batchId) => {
      // As the worker's first chunk commits: the checkpoint moves.
      await owner('batches').where({ id: batchId }).update({ total_rows: 1 });
      throw throttled();
    });
    let res;
    try {
      res = await postCsv(apiKey, 'product\nLamp\n');
    } finally {
      send.mockRestore();
    }
    expect(res.status).toBe(202);
    expect(await batchesOf(client.id)).toEqual([{ id: res.json.batch.id, status: 'pending', error: null }]);
  });

  test('with an Idempotency-Key the batch stays pending for the retry of its request', async () => {
    const { client, apiKey } = await newClient('keyed-co');
    const send = jest.spyOn(p.runtimes.order.queue, 'sendBatchJob').mockRejectedValueOnce(throttled());
    try {
      expect((await postCsv(apiKey, 'product\nLamp\n', { 'idempotency-key': newIdempotencyKey() })).status).toBe(503);
    } finally {
      send.mockRestore();
    }
    expect(await batchesOf(client.id)).toEqual([{ id: expect.any(String), status: 'pending', error: null }]);
  });
});
