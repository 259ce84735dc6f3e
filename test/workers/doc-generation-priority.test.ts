import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { createLogger } from '../../core/logger';
import { startWorker as startBatchWorker } from '../../containers/b2b-batch/worker';
import { startWorker as startDocWorker } from '../../containers/doc-generation/worker';
import { PdfRenderer } from '../../containers/doc-generation/render/browser';
import { createJobQueue } from '../../core/queue';
import type { RunningWorker } from '../../containers/shared/process';
import { startWorkerHarness, WorkerHarness, until, sleep, attemptKeyPattern } from '../support/workers-harness';

/**
 * The doc worker's two guarantees under batch load, on real components (fauxqs with both doc-job
 * queues, PostgreSQL, core-llm's Koa app with its offline provider and a delay):
 * - a B2C job sent behind a deep backlog of batch rows is taken at the next free slot, before them
 *   (doc-jobs is received first, batch-doc-jobs only for the slots it leaves);
 * - the task holds more messages than it renders: renders never exceed WORKER_RENDER_SLOTS while
 *   the other messages wait on core-llm.
 */
const quiet = createLogger({ test: 'doc-generation-priority' }, 'error', () => undefined);

describe('doc-generation worker: interactive first, renders bounded', () => {
  let h: WorkerHarness;
  const running: RunningWorker[] = [];

  beforeAll(async () => {
    h = await startWorkerHarness('worker_priority', { docVisibilitySeconds: 10, batchVisibilitySeconds: 10, maxReceiveCount: 3 });
  });
  afterEach(async () => {
    h.llmDelay.ms = 0;
    await Promise.all(running.splice(0).map((w) => w.stop()));
  });
  afterAll(() => h.stop());

  const orderRow = (id: string) => h.db('orders').where({ id }).first();
  const sendDocJob = (orderId: string) => h.sqs.send(new SendMessageCommand({ QueueUrl: h.queues.docJobs, MessageBody: JSON.stringify({ v: 1, orderId }) }));

  test('a B2C job sent behind 200 batch rows is taken at the next free slot: at most the row in hand and one receive round come before it', async () => {
    const rows = 200;
    const b2b = await h.createClient('b2b');
    const batch = await h.createBatch(b2b, Array.from({ length: rows }, (_, i) => ({ product: `Lamp ${i}` })));

    // The b2b-batch worker releases the rows into batch-doc-jobs (the harness's quota makes their delay 0).
    running.push(await startBatchWorker({ config: h.config, worker: { waitTimeSeconds: 1, drainSeconds: 10 }, logger: quiet }));
    await h.sqs.send(new SendMessageCommand({ QueueUrl: h.queues.batchJobs, MessageBody: JSON.stringify({ v: 1, batchId: batch.id }) }));
    await until(async () => (await h.db('batches').where({ id: batch.id }).first()).status === 'processing', 30_000, 'the batch rows to be released');
    expect(await h.queueDepth(h.queues.batchDocJobs)).toEqual({ visible: rows, inFlight: 0 });

    // One message in hand, each generation 300 ms: the backlog takes over a minute to pass. The
    // worker's own lines say which order it took when.
    h.llmDelay.ms = 300;
    const taken: { orderId: string; batch: boolean; at: number }[] = [];
    const logger = createLogger({ test: 'doc-generation-priority' }, 'info', (line) => {
      const l = JSON.parse(line) as { msg: string; orderId?: string; batchId?: string };
      if (l.msg === 'order taken for generation' && l.orderId) taken.push({ orderId: l.orderId, batch: l.batchId !== undefined, at: Date.now() });
    });
    running.push(await startDocWorker({ config: h.config, worker: { concurrency: 1, renderSlots: 1, waitTimeSeconds: 1, drainSeconds: 10 }, logger }));
    await until(async () => taken.length >= 5, 30_000, 'the worker to be busy with batch rows');

    const b2c = await h.createClient();
    const orderId = await h.createOrder(b2c, 'product-sheet', { product: 'Desk lamp' });
    const sentAt = taken.length;
    const sent = Date.now();
    await sendDocJob(orderId);
    const ready = await until(async () => ((await orderRow(orderId))?.status === 'ready' ? orderRow(orderId) : undefined), 20_000, 'the B2C order to be ready');
    const latencyMs = Date.now() - sent;

    const at = taken.findIndex((t) => t.orderId === orderId);
    // Between its send and its take: the row then in hand (its line may come just after the send) and
    // at most one row of a receive round already past doc-jobs. Not the 195 rows still waiting.
    expect(taken.slice(sentAt, at).every((t) => t.batch)).toBe(true);
    expect(at - sentAt).toBeLessThanOrEqual(2);
    expect(latencyMs).toBeLessThan(5_000);
    expect(ready.document_key).toMatch(attemptKeyPattern(b2c, orderId, 'html'));
    expect(await h.db('orders').where({ batch_id: batch.id, status: 'queued' }).count<{ count: string }[]>('id as count').then(([r]) => Number(r.count))).toBeGreaterThan(rows / 2);
    // And the batch still completes behind it.
    h.llmDelay.ms = 0;
    await until(async () => (await h.db('batches').where({ id: batch.id }).first()).status === 'completed', 120_000, 'the batch to complete');
  }, 180_000);

  test('6 messages in hand, 2 render slots: at most 2 PDFs render at once while more wait on core-llm', async () => {
    const renderSlots = 2;
    let rendering = 0;
    let maxRendering = 0;
    const render = PdfRenderer.prototype.render;
    const spy = jest.spyOn(PdfRenderer.prototype, 'render').mockImplementation(async function (this: PdfRenderer, html: string) {
      rendering += 1;
      maxRendering = Math.max(maxRendering, rendering);
      try {
        return await render.call(this, html);
      } finally {
        rendering -= 1;
      }
    });
    try {
      h.llmDelay.ms = 1500;
      running.push(await startDocWorker({ config: h.config, worker: { concurrency: 6, renderSlots, waitTimeSeconds: 1, drainSeconds: 20 }, logger: quiet }));
      const client = await h.createClient();
      const orderIds: string[] = [];
      for (let i = 0; i < 12; i++) orderIds.push(await h.createOrder(client, 'business-plan', { company: `Company ${i}`, sector: 'solar energy' }));
      for (const id of orderIds) await sendDocJob(id);

      // Messages in hand, as SQS counts them: more than the render slots.
      let maxInHand = 0;
      const allReady = async () => (await h.db('orders').whereIn('id', orderIds).where({ status: 'ready' }).count<{ count: string }[]>('id as count'))[0].count === '12';
      const deadline = Date.now() + 90_000;
      while (!(await allReady())) {
        if (Date.now() > deadline) throw new Error('12 PDF orders not ready within 90 s');
        maxInHand = Math.max(maxInHand, (await h.queueDepth(h.queues.docJobs)).inFlight);
        await sleep(100);
      }
      expect(spy).toHaveBeenCalledTimes(12);
      expect({ maxRendering, moreInHandThanRendering: maxInHand > renderSlots }).toEqual({ maxRendering: renderSlots, moreInHandThanRendering: true });
    } finally {
      spy.mockRestore();
    }
  }, 120_000);

  test("the worker's own doc jobs (hand-offs, the sweeper's re-sends) go to their order's queue: a batch row's to batch-doc-jobs, a B2C order's to doc-jobs", async () => {
    const jobs = createJobQueue({ queues: { docJobsUrl: h.queues.docJobs, batchDocJobsUrl: h.queues.batchDocJobs } }, h.sqs);
    const row = { id: '00000000-0000-4000-8000-000000000001', batch_id: '00000000-0000-4000-8000-0000000000b1' };
    const b2c = { id: '00000000-0000-4000-8000-000000000002', batch_id: null };
    await jobs.sendDocJob(row, { requestId: 'req-row' });
    await jobs.sendDocJob(b2c, { requestId: 'req-b2c' });
    expect([await h.drainQueue(h.queues.batchDocJobs), await h.drainQueue(h.queues.docJobs)]).toEqual([
      [JSON.stringify({ v: 1, orderId: row.id })],
      [JSON.stringify({ v: 1, orderId: b2c.id })],
    ]);
  });

  test('a render slot more than the messages in hand is refused at start, naming both variables', async () => {
    await expect(startDocWorker({ config: h.config, worker: { concurrency: 2, renderSlots: 3, waitTimeSeconds: 1 }, logger: quiet })).rejects.toThrow(
      /WORKER_RENDER_SLOTS: 3 is more than WORKER_CONCURRENCY \(2\)/,
    );
  });
});
