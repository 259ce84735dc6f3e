import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { createLogger } from '../../core/logger';
import { startWorker as startBatchWorker } from '../../containers/b2b-batch/worker';
import type { RunningWorker } from '../../containers/shared/process';
import { sleep, startWorkerHarness, until, WorkerHarness } from '../support/workers-harness';

/**
 * A batch whose source object is gone fails at once, with a reason the client reads on GET
 * /b2b/batches/:id (`error`), and its job is done: not retried, never in the DLQ. S3 answers such
 * a GET NoSuchKey only to a caller that may list the bucket; the batch worker's role may list
 * `batches/` of the assets bucket for that (stacks/access.ts, proven in
 * test/infra/iam-simulation.test.ts), and fauxqs answers NoSuchKey as S3 then does.
 */
const lines: Array<Record<string, unknown>> = [];
const log = createLogger({ test: 'b2b-batch-missing-source' }, 'info', (line) => void lines.push(JSON.parse(line) as Record<string, unknown>));

describe('b2b-batch: a missing source', () => {
  let h: WorkerHarness;
  let worker: RunningWorker | undefined;

  beforeAll(async () => {
    h = await startWorkerHarness('worker_batch_missing_source', { batchVisibilitySeconds: 2, maxReceiveCount: 2 });
  });
  afterAll(async () => {
    await worker?.stop();
    await h.stop();
  });

  test('fails the batch with the reason on the first receive, and its message is deleted', async () => {
    const clientId = await h.createClient('b2b');
    const batch = await h.createBatch(clientId, [{ product: 'Lamp' }]);
    await h.s3.send(new DeleteObjectCommand({ Bucket: 'assets', Key: batch.sourceKey }));

    worker = await startBatchWorker({ config: h.config, worker: { waitTimeSeconds: 1, drainSeconds: 5 }, logger: log });
    await h.sqs.send(new SendMessageCommand({ QueueUrl: h.queues.batchJobs, MessageBody: JSON.stringify({ v: 1, batchId: batch.id }) }));
    const failed = await until(async () => {
      const b = await h.db('batches').where({ id: batch.id }).first();
      return b.status === 'failed' ? b : undefined;
    }, 20_000, 'the batch to fail');
    expect(failed).toMatchObject({ error: `source ${batch.sourceKey} does not exist`, total_rows: 0 });

    // Past the visibility timeout a retried message would be back in hand, and in the DLQ after its second receive.
    await sleep(3_000);
    expect(await h.queueDepth(h.queues.batchJobs)).toEqual({ visible: 0, inFlight: 0 });
    expect(await h.queueDepth(h.queues.batchJobsDlq)).toEqual({ visible: 0, inFlight: 0 });
    expect(lines.filter((l) => l.msg === 'batch failed')).toEqual([expect.objectContaining({ level: 'warn', batchId: batch.id, reason: `source ${batch.sourceKey} does not exist` })]);
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
    expect(await h.db('orders').where({ batch_id: batch.id })).toEqual([]);
  }, 60_000);
});
