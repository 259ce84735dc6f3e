import { randomUUID } from 'node:crypto';
import { createLogger } from '../../core/logger';
import { createJobQueue, JobQueue } from '../../core/queue';
import { handleBatchJob } from '../../containers/b2b-batch/handler';
import { startWorkerHarness, WorkerHarness } from '../support/workers-harness';

/**
 * A batch job redelivered after its worker stopped (crash, Spot) re-sends the doc jobs of the
 * orders still `queued`. Those go out at the batch's normal pace (the batch part of the Gemini
 * quota, core/domain/batches.ts releaseDelaySeconds), as the first run sent them, not all at once:
 * thousands of rows visible together would be received and refused by core-llm's budget. Real
 * PostgreSQL and fauxqs; the job queue is the real one, its delays recorded on the way.
 */
const quiet = createLogger({ test: 'b2b-batch-resume' }, 'error', () => undefined);

describe('b2b-batch: a resumed batch', () => {
  let h: WorkerHarness;

  beforeAll(async () => {
    h = await startWorkerHarness('worker_batch_resume');
  });
  afterAll(() => h.stop());

  test("re-sends its queued rows' doc jobs at the batch's pace, then reads on from its checkpoint", async () => {
    const clientId = await h.createClient('b2b');
    const rows = Array.from({ length: 45 }, (_, i) => ({ product: `Lamp ${i}` }));
    const { id: batchId, themeId } = await h.createBatch(clientId, rows, { totalRows: 40 });
    // The first run committed 40 rows and stopped before sending their doc jobs.
    await h.db('orders').insert(rows.slice(0, 40).map((input, i) => ({ client_id: clientId, theme_id: themeId, status: 'queued', input, batch_id: batchId, batch_row: i + 1 })));

    const real = createJobQueue(h.config, h.sqs);
    const sends: Array<{ orders: number; delays: readonly number[] | undefined }> = [];
    const queue: JobQueue = {
      ...real,
      sendBatchDocJobs: async (orderIds, trace, delays) => {
        sends.push({ orders: orderIds.length, delays });
        await real.sendBatchDocJobs(orderIds, trace, delays);
      },
    };
    const id = randomUUID();
    await handleBatchJob(
      {
        db: h.db,
        s3: h.s3,
        storage: h.storage,
        queue,
        batchBucket: 'assets',
        logger: quiet,
        // 10 batch rows a second.
        budget: { requestsPerMinute: 600, tokensPerMinute: 1_000_000, interactiveSharePercent: 0, batchMaxInFlight: 10 },
      },
      { id, body: JSON.stringify({ v: 1, batchId }), receiveCount: 2, lastAttempt: false, requestId: `msg-${id}`, logger: quiet, beforeRelease: () => undefined },
      new AbortController().signal,
    );

    const pace = (n: number, from: number) => Array.from({ length: n }, (_, k) => Math.floor((from + k) / 10));
    expect(sends.map((s) => s.orders)).toEqual([40, 5]);
    expect(sends[0].delays).toEqual(pace(40, 0));
    // The rows read after the checkpoint follow the re-sent ones (less the time the run has taken, at most a second here).
    const after = sends[1].delays!;
    expect(after.every((d, k) => d <= pace(5, 40)[k] && d >= pace(5, 40)[k] - 1)).toBe(true);
    expect(await h.db('batches').where({ id: batchId }).first('status', 'total_rows')).toEqual({ status: 'processing', total_rows: 45 });
    await h.drainQueue(h.queues.batchDocJobs, 0);
  }, 60_000);
});
