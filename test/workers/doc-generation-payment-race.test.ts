import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { createLogger } from '../../core/logger';
import { startWorker } from '../../containers/doc-generation/worker';
import type { RunningWorker } from '../../containers/shared/process';
import { startWorkerHarness, WorkerHarness, until } from '../support/workers-harness';

/**
 * The payment's doc job is sent before the webhook's transaction commits (docs/services.md,
 * Webhook), so a worker can receive it while the order still reads `pending`. The delivery waits
 * for the commit a little instead of giving the message back for its whole visibility timeout
 * (180 s in AWS and locally; 60 s here, longer than the test waits).
 */
const quiet = createLogger({ test: 'doc-generation-payment-race' }, 'error', () => undefined);
let h: WorkerHarness;
let worker: RunningWorker;

beforeAll(async () => {
  h = await startWorkerHarness('worker_payrace', { docVisibilitySeconds: 60 });
  worker = await startWorker({ config: h.config, worker: { concurrency: 2, waitTimeSeconds: 1, drainSeconds: 10 }, logger: quiet });
});
afterAll(async () => {
  await worker.stop();
  await h.stop();
});

test('a job received while its order is still pending takes the order once the payment commits, on the same delivery', async () => {
  const clientId = await h.createClient();
  const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Early kettle' });
  await h.db('orders').where({ id: orderId }).update({ status: 'pending' });
  await h.sqs.send(new SendMessageCommand({ QueueUrl: h.queues.docJobs, MessageBody: JSON.stringify({ v: 1, orderId }) }));
  // The worker has it in hand (invisible), the order still pending: then the "commit".
  await until(async () => (await h.queueDepth(h.queues.docJobs)).inFlight === 1, 10_000, 'the worker to receive the job');
  await new Promise((r) => setTimeout(r, 300));
  await h.db('orders').where({ id: orderId }).update({ status: 'queued' });
  const ready = await until(async () => {
    const row = await h.db('orders').where({ id: orderId }).first();
    return row.status === 'ready' ? row : undefined;
  }, 15_000, 'the order to be ready on the first delivery');
  expect(ready.document_key).toBeTruthy();
  expect(await h.queueDepth(h.queues.docJobs)).toEqual({ visible: 0, inFlight: 0 });
});

test('a payment slower to commit than the delivery waits: the message comes back within seconds, not after its visibility timeout', async () => {
  const clientId = await h.createClient();
  const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Late kettle' });
  await h.db('orders').where({ id: orderId }).update({ status: 'pending' });
  await h.sqs.send(new SendMessageCommand({ QueueUrl: h.queues.docJobs, MessageBody: JSON.stringify({ v: 1, orderId }) }));
  await until(async () => (await h.queueDepth(h.queues.docJobs)).inFlight === 1, 10_000, 'the worker to receive the job');
  // Longer than the delivery looks for the commit (2 s): the first delivery gives the message back.
  await new Promise((r) => setTimeout(r, 3_000));
  await h.db('orders').where({ id: orderId }).update({ status: 'queued' });
  const ready = await until(async () => {
    const row = await h.db('orders').where({ id: orderId }).first();
    return row.status === 'ready' ? row : undefined;
  }, 20_000, 'the order to be ready on a later delivery, well before the 60 s visibility timeout');
  expect(ready.document_key).toBeTruthy();
});
