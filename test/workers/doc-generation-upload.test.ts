import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { randomBytes } from 'node:crypto';
import { createLogger } from '../../core/logger';
import { FAILED_AFTER_RETRIES } from '../../core/domain/orders';
import { startWorker } from '../../containers/doc-generation/worker';
import type { RunningWorker } from '../../containers/shared/process';
import { startWorkerHarness, WorkerHarness, until, attemptKeyPattern } from '../support/workers-harness';

const quiet = createLogger({ test: 'doc-generation-upload' }, 'error', () => undefined);

/**
 * The document renders but its upload fails (here: the reports bucket does not exist yet, which S3
 * answers 404 NoSuchBucket on every attempt). The order must never read `ready` without its
 * document, the message is retried, and the order ends `ready` once S3 takes the object, or
 * `failed` with a reason when the last receive fails too.
 */
describe('doc-generation: the upload to S3 fails after the render', () => {
  let h: WorkerHarness;
  let worker: RunningWorker | undefined;

  beforeAll(async () => {
    h = await startWorkerHarness('worker_upload', { docVisibilitySeconds: 2, maxReceiveCount: 3 });
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
  });
  afterAll(() => h.stop());

  const start = (bucket: string) =>
    startWorker({ config: { ...h.config, buckets: { ...h.config.buckets, reports: bucket } }, worker: { concurrency: 1, waitTimeSeconds: 1, drainSeconds: 5 }, logger: quiet });
  const orderRow = (id: string) => h.db('orders').where({ id }).first();
  const sendJob = (orderId: string) => h.sqs.send(new SendMessageCommand({ QueueUrl: h.queues.docJobs, MessageBody: JSON.stringify({ v: 1, orderId }) }));

  test('retried while it fails, never ready without its document; ready with one object once S3 takes it', async () => {
    const bucket = `late-${randomBytes(4).toString('hex')}`;
    worker = await start(bucket);
    const clientId = await h.createClient();
    const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Kettle' });
    await sendJob(orderId);
    // Requests to core-llm, its cache hits included: each attempt asks for the content again.
    const asked = h.llmRequests.count;
    await until(() => h.llmRequests.count >= asked + 2, 15_000, 'a second attempt after the failed upload');
    const during = await orderRow(orderId);
    expect(during.status).toBe('generating');
    expect(during.document_key).toBeNull();
    await h.s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const ready = await until(async () => ((await orderRow(orderId)).status === 'ready' ? orderRow(orderId) : undefined), 20_000, 'the order ready');
    expect(ready.document_key).toMatch(attemptKeyPattern(clientId, orderId, 'html'));
    expect(await h.listKeys(bucket, `${clientId}/`)).toEqual([ready.document_key]);
  });

  test('still failing on the last receive: the order ends failed with a reason, not ready and not stuck', async () => {
    worker = await start(`never-${randomBytes(4).toString('hex')}`);
    const clientId = await h.createClient();
    const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Toaster' });
    await sendJob(orderId);
    const failed = await until(async () => ((await orderRow(orderId)).status === 'failed' ? orderRow(orderId) : undefined), 30_000, 'the order failed');
    expect(failed).toMatchObject({ error: FAILED_AFTER_RETRIES, document_key: null });
    await worker.stop();
    worker = undefined;
    await h.drainQueue(h.queues.docJobs, 0);
  });
});
