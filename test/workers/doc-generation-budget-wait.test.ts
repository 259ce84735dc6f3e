import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { createLogger } from '../../core/logger';
import { startWorker } from '../../containers/doc-generation/worker';
import type { RunningWorker } from '../../containers/shared/process';
import { startWorkerHarness, WorkerHarness, until } from '../support/workers-harness';

const quiet = createLogger({ test: 'doc-generation-budget-wait' }, 'error', () => undefined);

/**
 * A row refused by core-llm's budget comes back at its Retry-After, which for the tail of a big
 * backlog is far longer than the sweeper's "stuck" threshold ((maxReceiveCount + 1) × visibility
 * timeout: 12 s here, 18 min in AWS). Waiting for its window is not being stuck: the sweeper must
 * neither re-send nor fail the order while its message is out of sight until then.
 */
describe('doc-generation: an order waiting for its budget window longer than the sweeper threshold', () => {
  let h: WorkerHarness;
  let worker: RunningWorker | undefined;

  beforeAll(async () => {
    h = await startWorkerHarness('worker_budgetwait', { docVisibilitySeconds: 3, maxReceiveCount: 3 });
  });
  afterAll(async () => {
    await worker?.stop();
    await h.stop();
  });

  test('is neither re-sent nor failed by the sweeper, and ends ready when its window comes', async () => {
    // maxRequeues 0: the sweeper's first move on an order it takes for stuck is to fail it, so the
    // mistake shows as the outcome (in AWS it takes three sweeps: two re-sends, then the failure).
    worker = await startWorker({ config: h.config, worker: { concurrency: 2, waitTimeSeconds: 1, drainSeconds: 5 }, logger: quiet, deadlines: { maxRequeues: 0 } });
    const clientId = await h.createClient();
    const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Patient kettle' });
    h.llmThrottle.on = true;
    h.llmThrottle.retryAfterSeconds = 16;
    const asked = h.llmRequests.count;
    await h.sqs.send(new SendMessageCommand({ QueueUrl: h.queues.docJobs, MessageBody: JSON.stringify({ v: 1, orderId }) }));
    await until(() => h.llmRequests.count > asked, 10_000, 'the refused generation');
    h.llmThrottle.on = false;
    const order = await until(
      async () => {
        const row = await h.db('orders').where({ id: orderId }).first();
        return row.status === 'ready' || row.status === 'failed' ? row : undefined;
      },
      40_000,
      'the order to end',
    );
    // Before, the sweeper failed it at about 12 s: "interrupted and could not be resumed".
    expect({ status: order.status, error: order.error, requeues: order.requeues }).toEqual({ status: 'ready', error: null, requeues: 0 });
  }, 60_000);
});
