import { createLogger } from '../../core/logger';
import { createJobQueue } from '../../core/queue';
import { createS3Client } from '../../core/storage';
import { handleBatchJob } from '../../containers/b2b-batch/handler';
import { http, newIdempotencyKey, startTestPlatform, TestPlatform } from '../support/functions-platform';

/**
 * POST /b2b/batches whose batch job SQS does not take (throttled, unreachable). Without an
 * Idempotency-Key the client's retry is a new batch: the one whose job was not sent must not stay
 * `pending` for ever beside it, so the order service removes it before answering 503. A job that
 * reached SQS all the same (the send failed after SQS took it) names a batch that no longer
 * exists, and the b2b-batch worker drops it without an error (it went to the DLQ). With a key the
 * batch stays and the retry re-sends its job (b2b-llm.test.ts). Real PostgreSQL, fauxqs, the
 * gateway and the order service of the local platform.
 */
let p: TestPlatform;
let b2b: string;

beforeAll(async () => {
  p = await startTestPlatform('fn_b2b_send');
  b2b = p.urls['gateway-b2b'];
});
afterAll(() => p.teardown());

const newClient = async (name: string) => {
  const res = await http(p.urls.client, '/clients', { method: 'POST', json: { name, email: `${name}@example.test` } });
  expect(res.status).toBe(201);
  return res.json as { client: { id: string }; apiKey: string };
};
const postCsv = (apiKey: string, body: string, headers: Record<string, string> = {}) =>
  http(b2b, '/b2b/batches?theme=product-sheet', { method: 'POST', body, headers: { 'content-type': 'text/csv', 'x-api-key': apiKey, ...headers } });
const batchesOf = async (clientId: string) => (await p.db('batches').where({ client_id: clientId }).select('id', 'status')) as { id: string; status: string }[];
/** What SQS's client throws when SendMessage stays throttled through its retries. */
const throttled = () => Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $retryable: { throttling: true } });

describe('POST /b2b/batches when its batch job cannot be sent', () => {
  test('without an Idempotency-Key: 503 with Retry-After and no batch left behind; the retry is the one batch', async () => {
    const { client, apiKey } = await newClient('unsent-co');
    await p.receive('batchJobs');
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
    expect(await batchesOf(client.id)).toEqual([]);

    const retry = await postCsv(apiKey, 'product\nLamp\n');
    expect(retry.status).toBe(202);
    expect(await batchesOf(client.id)).toEqual([{ id: retry.json.batch.id, status: 'pending' }]);
    expect(await p.receive('batchJobs')).toEqual([{ v: 1, batchId: retry.json.batch.id }]);
  });

  test('a job that reached SQS although its send failed names a removed batch: the worker drops it without an error', async () => {
    const { client, apiKey } = await newClient('half-sent-co');
    await p.receive('batchJobs');
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
    expect(await batchesOf(client.id)).toEqual([]);
    const [job] = (await p.receive('batchJobs')) as { batchId: string }[];
    expect(job).toMatchObject({ v: 1, batchId: expect.any(String) });

    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ test: 'b2b-batch-send-failure' }, 'info', (line) => void lines.push(JSON.parse(line)));
    const s3 = createS3Client(p.config);
    try {
      const deps = {
        db: p.db,
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
    expect(lines).toEqual([expect.objectContaining({ level: 'info', msg: 'batch job for a batch that does not exist; dropped', batchId: job.batchId })]);
    expect(await p.db('orders').where({ batch_id: job.batchId })).toEqual([]);
  });

  test('a batch the worker already moved on is kept and answered 202: its job did reach SQS', async () => {
    const { client, apiKey } = await newClient('raced-co');
    const queue = p.runtimes.order.queue;
    const send = jest.spyOn(queue, 'sendBatchJob').mockImplementationOnce(async (batchId) => {
      // As the worker's first chunk commits: the checkpoint moves.
      await p.db('batches').where({ id: batchId }).update({ total_rows: 1 });
      throw throttled();
    });
    let res;
    try {
      res = await postCsv(apiKey, 'product\nLamp\n');
    } finally {
      send.mockRestore();
    }
    expect(res.status).toBe(202);
    expect(await batchesOf(client.id)).toEqual([{ id: res.json.batch.id, status: 'pending' }]);
  });

  test('with an Idempotency-Key the batch stays pending for the retry of its request', async () => {
    const { client, apiKey } = await newClient('keyed-co');
    const send = jest.spyOn(p.runtimes.order.queue, 'sendBatchJob').mockRejectedValueOnce(throttled());
    try {
      expect((await postCsv(apiKey, 'product\nLamp\n', { 'idempotency-key': newIdempotencyKey() })).status).toBe(503);
    } finally {
      send.mockRestore();
    }
    expect(await batchesOf(client.id)).toEqual([{ id: expect.any(String), status: 'pending' }]);
  });
});
