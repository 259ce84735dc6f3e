import { randomUUID } from 'node:crypto';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { createLogger } from '../../core/logger';
import { startWorker } from '../../containers/doc-generation/worker';
import { startWorkerHarness, WorkerHarness, sleep } from '../support/workers-harness';

const quiet = createLogger({ test: 'doc-generation-stop' }, 'error', () => undefined);

describe('doc-generation stop (SIGTERM) while a sweep is slow', () => {
  let h: WorkerHarness;

  beforeAll(async () => {
    h = await startWorkerHarness('worker_docstop', { docVisibilitySeconds: 30 });
  });
  afterAll(() => h.stop());

  test('the consumer stops receiving at once: it does not take new messages while the sweep in progress ends', async () => {
    // The sweep every task runs at start waits on this lock (up to its 10 s statement timeout),
    // as a sweep does on a busy database or behind slow SQS sends.
    const lock = await h.db.transaction();
    await lock.raw('LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
    let stopping: Promise<void> | undefined;
    try {
      const worker = await startWorker({ config: h.config, worker: { concurrency: 2, waitTimeSeconds: 1, drainSeconds: 10 }, logger: quiet });
      await sleep(500);
      stopping = worker.stop();
      await sleep(300);
      await h.sqs.send(new SendMessageCommand({ QueueUrl: h.queues.docJobs, MessageBody: JSON.stringify({ v: 1, orderId: randomUUID() }) }));
      // Several polls' worth (1 s each) for a consumer that would still be receiving.
      await sleep(2_500);
      expect(await h.queueDepth(h.queues.docJobs)).toEqual({ visible: 1, inFlight: 0 });
    } finally {
      await lock.rollback();
      await stopping;
    }
    await h.drainQueue(h.queues.docJobs, 0);
  });
});
