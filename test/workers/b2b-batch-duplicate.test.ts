import { randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { createLogger } from '../../core/logger';
import { createJobQueue } from '../../core/queue';
import { BatchJobDeps, handleBatchJob } from '../../containers/b2b-batch/handler';
import { rejectedRowsKey } from '../../core/domain/batches';
import { startWorkerHarness, WorkerHarness } from '../support/workers-harness';

/**
 * Two deliveries of one batch job at once (a client's retry of a still-pending batch, or the
 * sweeper's re-send, sends the job again while a task reads it): the one that finds the batch
 * moved on under it stops quietly and its message is done. It used to throw ("moved on under
 * another worker", an error line) and its message came back only after the queue's visibility
 * timeout (15 min in AWS). Real PostgreSQL, fauxqs and its S3.
 */
const lines: Array<Record<string, unknown>> = [];
const log = createLogger({ test: 'b2b-batch-duplicate' }, 'info', (line) => void lines.push(JSON.parse(line) as Record<string, unknown>));

describe('b2b-batch: a duplicate delivery', () => {
  let h: WorkerHarness;

  beforeAll(async () => {
    h = await startWorkerHarness('worker_batch_duplicate');
  });
  afterAll(() => h.stop());

  test('that finds its batch read by another delivery stops without an error, and every row has one order', async () => {
    const clientId = await h.createClient('b2b');
    const rows = [...Array.from({ length: 25 }, (_, i) => ({ product: `Lamp ${i}` })), { colour: 'red' }];
    const { id: batchId } = await h.createBatch(clientId, rows);

    const deps: BatchJobDeps = {
      db: h.db,
      s3: h.s3,
      storage: h.storage,
      queue: createJobQueue(h.config, h.sqs),
      batchBucket: 'assets',
      logger: log,
      chunkSize: 10,
      budget: { requestsPerMinute: 60_000, tokensPerMinute: 10_000_000, interactiveSharePercent: 0, batchMaxInFlight: 10 },
    };
    const delivery = () => {
      const id = randomUUID();
      return { id, body: JSON.stringify({ v: 1, batchId }), receiveCount: 1, lastAttempt: false, requestId: `msg-${id}`, logger: log.child({ messageId: id }), beforeRelease: () => undefined };
    };
    // The second delivery has read the batch (pending, nothing committed) but opens the source only once the first is done.
    let firstDone!: () => void;
    const first = new Promise<void>((resolve) => (firstDone = resolve));
    const lateS3 = { send: async (command: unknown) => (await first, h.s3.send(command as never)) } as unknown as S3Client;

    const second = handleBatchJob({ ...deps, s3: lateS3 }, delivery(), new AbortController().signal);
    await handleBatchJob(deps, delivery(), new AbortController().signal).finally(firstDone);
    await expect(second).resolves.toBeUndefined();

    expect(await h.db('batches').where({ id: batchId }).first('status', 'total_rows', 'failed')).toEqual({ status: 'processing', total_rows: 26, failed: 1 });
    expect(await h.db('orders').where({ batch_id: batchId }).count({ n: '*' }).first()).toEqual({ n: '25' });
    expect(JSON.parse((await h.storage.get('assets', rejectedRowsKey(clientId, batchId))).toString('utf8'))).toEqual([{ line: 26, reason: expect.stringContaining('colour') }]);
    expect(lines.filter((l) => l.level === 'error' || l.level === 'warn')).toEqual([]);
    expect(lines.find((l) => l.msg === 'batch read by another delivery; this one stops')).toMatchObject({ level: 'info', batchId, checkpoint: 0 });
    await h.drainQueue(h.queues.batchDocJobs, 0);
  }, 60_000);
});
