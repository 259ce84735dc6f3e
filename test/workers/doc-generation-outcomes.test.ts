import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { createLogger } from '../../functions/shared/logger';
import { startWorker } from '../../containers/doc-generation/worker';
import type { RunningWorker } from '../../containers/shared/process';
import { startWorkerHarness, WorkerHarness, until } from './harness';

/**
 * How a paid order always ends (`ready` or `failed`, never stuck), on the real pieces: a fresh
 * PostgreSQL database, fauxqs (doc-jobs: visibility 3 s, maxReceiveCount 2, so a message's second
 * receive is its last), the real core-llm app over HTTP and the real worker.
 */
const quiet = createLogger({ test: 'doc-generation-outcomes' }, 'error', () => undefined);

describe('doc-generation: how an order ends', () => {
  let h: WorkerHarness;
  const workers: RunningWorker[] = [];

  beforeAll(async () => {
    h = await startWorkerHarness('worker_outcomes', { docVisibilitySeconds: 3, maxReceiveCount: 2 });
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop().catch(() => undefined)));
    h.llmThrottle.on = false;
    h.llmDelay.ms = 0;
    await h.drainQueue(h.queues.docJobs, 0);
    await h.drainQueue(h.queues.docJobsDlq, 0);
  });
  afterAll(() => h.stop());

  const start = async (worker: { drainSeconds?: number; concurrency?: number } = {}) => {
    const w = await startWorker({ config: h.config, worker: { concurrency: 2, waitTimeSeconds: 1, drainSeconds: 10, ...worker }, logger: quiet });
    workers.push(w);
    return w;
  };
  /** Stops a worker the way SIGTERM does (drain, then close). */
  const stop = async (w: RunningWorker) => {
    workers.splice(workers.indexOf(w), 1);
    await w.stop();
  };
  const sendJob = (orderId: string) => h.sqs.send(new SendMessageCommand({ QueueUrl: h.queues.docJobs, MessageBody: JSON.stringify({ v: 1, orderId }) }));
  /** Receives the one visible message and gives it back at once: the worker's receive is then its last (maxReceiveCount 2). */
  const burnReceive = async () => {
    const got = await h.sqs.send(new ReceiveMessageCommand({ QueueUrl: h.queues.docJobs, WaitTimeSeconds: 2, VisibilityTimeout: 0 }));
    expect(got.Messages ?? []).toHaveLength(1);
  };
  const orderRow = (id: string) => h.db('orders').where({ id }).first();

  describe('bug 4: a drain during the rate-limit wait releases the message; it is not a failure', () => {
    test('the message is released at once, core-llm is not called after the abort, the order is not failed', async () => {
      const clientId = await h.createClient();
      const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Throttled pump' });
      h.llmThrottle.on = true;
      const before = h.llmRequests.count;
      const w = await start();
      await sendJob(orderId);
      await until(() => h.llmRequests.count > before, 10_000, 'the first (429) call to core-llm');
      await stop(w);
      // Released with visibility 0 (not left invisible for its visibility timeout), one call only, the order still in hand.
      expect({ calls: h.llmRequests.count - before, queue: await h.queueDepth(h.queues.docJobs), status: (await orderRow(orderId)).status }).toEqual({
        calls: 1,
        queue: { visible: 1, inFlight: 0 },
        status: 'generating',
      });
    });

    test('on the last attempt too: the order is not marked failed because of a SIGTERM', async () => {
      const clientId = await h.createClient();
      const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Last-chance pump' });
      h.llmThrottle.on = true;
      await sendJob(orderId);
      await burnReceive();
      const before = h.llmRequests.count;
      const w = await start();
      await until(() => h.llmRequests.count > before, 10_000, 'the first (429) call to core-llm');
      await stop(w);
      const order = await orderRow(orderId);
      expect({ status: order.status, error: order.error, calls: h.llmRequests.count - before }).toEqual({ status: 'generating', error: null, calls: 1 });
    });
  });
});
