import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DependencyUnavailableError } from '../../core/failures';
import { createLogger } from '../../core/logger';
import { createJobQueue, traceAttributes } from '../../core/queue';
import { requeueOrders } from '../../scripts/ops/orders';
import { renderRequeue } from '../../scripts/ops/render';
import { rejectedRowsKey } from '../../core/domain/batches';
import { startWorker } from '../../containers/doc-generation/worker';
import type { RunningWorker } from '../../containers/shared/process';
import { FAILED_AFTER_RETRIES } from '../../core/domain/orders';
import { opsAgainst } from '../support/ops-cli';
import { startWorkerHarness, until, WorkerHarness } from '../support/workers-harness';

/**
 * The ops tools (`npm run ops`) against fauxqs and PostgreSQL, with the real doc-generation
 * worker: a job that fails maxReceiveCount times lands in the DLQ, `dlq list` counts it, `dlq show`
 * shows it without taking it (with its order's last error), `dlq redrive` brings it back at its pace (request id kept) and the worker completes
 * the order; `orders stuck` lists an order whose job was lost, with what the sweeper would do,
 * and `orders requeue` ends it; an order the worker failed while core-llm was down is listed
 * by `orders failed` and made by `orders retry` (its completed batch reopened and completed
 * again), where a rejected one is refused.
 */
const ENV = 'optest';
const REPO = join(__dirname, '..', '..');

describe('npm run ops', () => {
  let h: WorkerHarness;
  const workerLines: Record<string, unknown>[] = [];
  const running: RunningWorker[] = [];

  beforeAll(async () => {
    // AWS names (docplatform-<env>-doc-jobs …), resolved by the tools from the contract; visibility 2 s, 2 receives before the DLQ.
    h = await startWorkerHarness('ops', { queueNamePrefix: `docplatform-${ENV}-`, docVisibilitySeconds: 2, maxReceiveCount: 2 });
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((w) => w.stop()));
  });
  afterAll(() => h?.stop());

  const ops = opsAgainst(ENV, () => h.emulator.endpoint);
  /** The doc worker; `coreLlmDown`: every core-llm call fails as while Gemini is out (a 503, retryable). */
  const docWorker = async (coreLlmDown = false) => {
    const logger = createLogger({ service: 'doc-generation', env: 'test' }, 'info', (line) => void workerLines.push(JSON.parse(line)));
    const internal = coreLlmDown
      ? {
          json: async () => {
            throw new DependencyUnavailableError('service', 'service core-llm unavailable (503: Gemini is down)');
          },
        }
      : undefined;
    running.push(await startWorker({ config: h.config, worker: { waitTimeSeconds: 1, drainSeconds: 5 }, logger, internal }));
  };
  const status = async (id: string) => (await h.db('orders').where({ id }).first()).status as string;
  const readyLine = (orderId: string) => workerLines.find((l) => l.orderId === orderId && l.msg === 'document ready');

  test('a job that failed maxReceiveCount times: dlq list counts it, dlq show shows it with its order and leaves it, dlq redrive brings it back, the worker completes the order', async () => {
    const clientId = await h.createClient();
    const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Dead-letter kettle' });
    // Not paid yet as far as the worker can see: every receive of its job gives it back (a payment
    // not committed yet: RetryLater), and each counts towards maxReceiveCount.
    await h.db('orders').where({ id: orderId }).update({ status: 'pending' });
    await h.sqs.send(
      new SendMessageCommand({ QueueUrl: h.queues.docJobs, MessageBody: JSON.stringify({ v: 1, orderId }), MessageAttributes: traceAttributes({ requestId: 'req-dlq-1' }) }),
    );
    await docWorker();
    await until(async () => (await h.queueDepth(h.queues.docJobsDlq)).visible === 1, 40_000, 'the job to reach the DLQ');
    expect(workerLines.filter((l) => l.msg === 'message released' && l.orderId === orderId).map((l) => [l.receiveCount, l.requestId])).toEqual([
      [1, 'req-dlq-1'],
      [2, 'req-dlq-1'],
    ]);

    const listed = await ops('dlq', 'list');
    expect(listed.code).toBe(0);
    expect(listed.json.dlqs.map((d: { dlq: string }) => d.dlq)).toEqual(['doc-jobs', 'batch-doc-jobs', 'batch-jobs'].map((q) => `docplatform-${ENV}-${q}-dlq`));
    expect(listed.json.dlqs[0]).toMatchObject({ queue: `docplatform-${ENV}-doc-jobs`, visible: 1, inFlight: 0, oldestAgeSeconds: expect.any(Number) });
    expect(listed.json.dlqs[1]).toMatchObject({ visible: 0 });
    expect((await ops('dlq', 'list', '--format', 'table')).out).toMatch(new RegExp(`docplatform-${ENV}-doc-jobs-dlq\\s+1\\s+0\\s+\\d+ s`));

    const shown = await ops('dlq', 'show', 'doc-jobs');
    expect(shown.code).toBe(0);
    expect(shown.json).toMatchObject({
      queue: `docplatform-${ENV}-doc-jobs`,
      dlq: `docplatform-${ENV}-doc-jobs-dlq`,
      dlqMessages: { visible: 1, inFlight: 0 },
      maxReceiveCount: 2,
      sampled: 1,
      sample: [{ body: { v: 1, orderId }, orderId, requestId: 'req-dlq-1' }],
    });
    const [seen] = shown.json.sample;
    expect(seen.receiveCount).toBeGreaterThanOrEqual(3);
    expect(Date.parse(seen.firstReceivedAt)).toBeGreaterThanOrEqual(Date.parse(seen.sentAt));
    expect(shown.json.oldestAgeSeconds).toBeGreaterThanOrEqual(0);
    // Released at once: still there, visible.
    expect(await h.queueDepth(h.queues.docJobsDlq)).toEqual({ visible: 1, inFlight: 0 });
    const table = await ops('dlq', 'show', 'doc-jobs', '--format', 'table');
    expect(table.out).toContain(`docplatform-${ENV}-doc-jobs-dlq: 1 waiting`);
    expect(table.out).toContain(orderId);
    expect(shown.json).toMatchObject({ database: false });
    expect(shown.json.sample[0].recorded).toBeUndefined();
    // With the database: the order as the worker left it, its last error with it.
    await h.db('orders').where({ id: orderId }).update({ error: 'payment not committed yet (test)' });
    const withDb = await ops('dlq', 'show', 'doc-jobs', '--database-url', h.env.DATABASE_URL);
    expect(withDb.json).toMatchObject({ database: true, sample: [{ orderId, recorded: { status: 'pending', error: 'payment not committed yet (test)' } }] });
    expect((await ops('dlq', 'show', 'doc-jobs', '--database-url', h.env.DATABASE_URL, '--format', 'table')).out).toContain('payment not committed yet (test)');

    // What was wrong is fixed (the payment committed); a dry run moves nothing.
    await h.db('orders').where({ id: orderId }).update({ status: 'queued' });
    const dry = await ops('dlq', 'redrive', 'doc-jobs', '--dry-run');
    expect(dry.json).toMatchObject({ dryRun: true, moved: 1, failed: [], leftInDlq: 1 });
    expect(await status(orderId)).toBe('queued');

    const moved = await ops('dlq', 'redrive', 'doc-jobs');
    expect(moved.code).toBe(0);
    expect(moved.json).toMatchObject({ dryRun: false, ratePerSecond: 10, moved: 1, failed: [], messages: [{ orderId, requestId: 'req-dlq-1' }] });
    expect(moved.logs).toEqual(expect.arrayContaining([expect.objectContaining({ level: 'info', msg: 'message redriven', orderId, requestId: 'req-dlq-1' })]));
    await until(async () => (await status(orderId)) === 'ready', 30_000, 'the redriven order to be ready');
    // The attribute came back with the body: the document is made under the original request.
    expect(readyLine(orderId)).toMatchObject({ requestId: 'req-dlq-1' });
    expect(await h.queueDepth(h.queues.docJobsDlq)).toEqual({ visible: 0, inFlight: 0 });
    expect((await ops('dlq', 'redrive', 'doc-jobs')).json).toMatchObject({ moved: 0, leftInDlq: 0 });

    // The pace: three messages at one a second take two pauses (the worker drops them, their order is ready).
    for (let i = 0; i < 3; i++) await h.sqs.send(new SendMessageCommand({ QueueUrl: h.queues.docJobsDlq, MessageBody: JSON.stringify({ v: 1, orderId }) }));
    const startedAt = Date.now();
    expect((await ops('dlq', 'redrive', 'doc-jobs', '--rate', '1')).json).toMatchObject({ ratePerSecond: 1, moved: 3, failed: [] });
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(2000);
  }, 120_000);

  test('orders stuck lists the orders that stopped moving with what the sweeper would do; orders requeue ends them', async () => {
    const clientId = await h.createClient();
    const theme = await h.db('themes').where({ slug: 'product-sheet' }).first();
    const [{ id: lost }] = await h.db('orders').insert({ client_id: clientId, theme_id: theme.id, status: 'queued', input: { product: 'Lost job' }, request_id: 'req-lost-1' }).returning('id');
    const exhausted = await h.createOrder(clientId, 'product-sheet', { product: 'Tried twice' });
    const fresh = await h.createOrder(clientId, 'product-sheet', { product: 'Just queued' });
    const done = await h.createOrder(clientId, 'product-sheet', { product: 'Long done' });
    const hourAgo = h.db.raw(`now() - interval '1 hour'`);
    await h.db('orders').where({ id: lost }).update({ updated_at: hourAgo });
    await h.db('orders').where({ id: exhausted }).update({ status: 'generating', requeues: 2, generation_owner: randomUUID(), generation_lease_until: h.db.raw(`now() - interval '50 minutes'`), updated_at: hourAgo });
    await h.db('orders').where({ id: done }).update({ status: 'ready', document_key: `${clientId}/${done}.html`, updated_at: hourAgo });
    const url = ['--database-url', h.env.DATABASE_URL];

    const stuck = await ops('orders', 'stuck', '--older-than', '30m', ...url);
    expect(stuck.code).toBe(0);
    // The harness's queue: visibility 2 s, maxReceiveCount 2 → the sweeper acts after (2 + 1) × 2 s.
    expect(stuck.json).toMatchObject({ olderThanMinutes: 30, sweeper: { stuckAfterMinutes: 0.1, maxRequeues: 2 }, docJobsBacklog: { docJobs: 0, batchDocJobs: 0 }, count: 2, truncated: false });
    const byId = Object.fromEntries(stuck.json.orders.map((o: { orderId: string }) => [o.orderId, o]));
    expect(Object.keys(byId).sort()).toEqual([lost, exhausted].sort());
    expect(byId[lost]).toMatchObject({ status: 'queued', requeues: 0, requestId: 'req-lost-1', sweeper: 'requeue' });
    expect(byId[exhausted]).toMatchObject({ requestId: null });
    expect(byId[lost].idleMinutes).toBeGreaterThanOrEqual(59);
    expect(byId[exhausted]).toMatchObject({ status: 'generating', requeues: 2, sweeper: 'fail' });
    expect(byId[exhausted].why).toContain('document generation was interrupted and could not be resumed after 3 tries');
    // A shorter threshold shows the fresh order too, not yet stuck by the sweeper's rule.
    await h.db('orders').where({ id: fresh }).update({ updated_at: h.db.raw(`now() - interval '2 seconds'`) });
    const soon = await ops('orders', 'stuck', '--older-than', '1s', ...url);
    expect(soon.json.orders.find((o: { orderId: string }) => o.orderId === fresh)).toMatchObject({ sweeper: 'wait', why: expect.stringContaining("not stuck by the sweeper's rule yet") });
    const table = await ops('orders', 'stuck', ...url, '--format', 'table');
    expect(table.out).toContain('2 order(s) paid/queued/generating');
    expect(table.out).toContain(lost);
    expect(table.out).toMatch(/requestId/);
    expect(table.out).toContain('req-lost-1');
    // Read-only: nothing moved.
    expect(await status(lost)).toBe('queued');

    // An id that is no order's is a mistake in the command: exit 2 naming it, and nothing sent for the others either.
    const unknown = randomUUID();
    const refused = await ops('orders', 'requeue', lost, unknown, done, ...url);
    expect(refused.code).toBe(2);
    expect(refused.logs.find((l) => l.level === 'error')).toMatchObject({ field: 'orderId', msg: expect.stringContaining(`no order ${unknown}`) });
    expect(refused.out).toBe('');
    expect(await h.queueDepth(h.queues.docJobs)).toEqual({ visible: 0, inFlight: 0 });

    const requeued = await ops('orders', 'requeue', lost, done, ...url);
    expect(requeued.code).toBe(0);
    expect(requeued.json).toMatchObject({
      requestId: expect.stringMatching(/^ops-/),
      sent: [{ orderId: lost, status: 'queued', queue: `docplatform-${ENV}-doc-jobs` }],
      skipped: [{ orderId: done, status: 'ready' }],
    });
    expect(requeued.logs).toEqual(expect.arrayContaining([expect.objectContaining({ msg: 'doc job sent again', orderId: lost, requestId: requeued.json.requestId })]));
    expect(await h.queueDepth(h.queues.docJobs)).toEqual({ visible: 1, inFlight: 0 });
    // The re-send restarted its idle clock: no longer stuck, so no sweep sends it a second job.
    expect((await ops('orders', 'stuck', '--older-than', '30m', ...url)).json.orders.map((o: { orderId: string }) => o.orderId)).toEqual([exhausted]);

    // A worker takes the job (its sweeper leaves the queued order alone while the job waits), the order ends.
    await docWorker();
    await until(async () => (await status(lost)) === 'ready', 30_000, 'the requeued order to be ready');
    expect(readyLine(lost)).toMatchObject({ requestId: requeued.json.requestId });
    await until(async () => (await status(exhausted)) === 'failed', 30_000, 'the sweeper to fail the exhausted order');
    expect((await ops('orders', 'stuck', ...url)).json).toMatchObject({ count: 0, orders: [] });
  }, 120_000);

  test('an order failed while core-llm was down: orders failed lists it, orders retry makes it (a completed batch reopened); a rejected one is refused', async () => {
    const clientId = await h.createClient();
    const outage = await h.createOrder(clientId, 'product-sheet', { product: 'Outage kettle' });
    await h.sqs.send(
      new SendMessageCommand({ QueueUrl: h.queues.docJobs, MessageBody: JSON.stringify({ v: 1, orderId: outage }), MessageAttributes: traceAttributes({ requestId: 'req-outage-1' }) }),
    );
    await docWorker(true);
    // Retryable on every receive: the last one fails the order with the worker's transient reason.
    await until(async () => (await status(outage)) === 'failed', 40_000, 'the worker to fail the order on its last receive');
    // Its message dies in the DLQ, and the hand-off of that last receive finds the order final: a redrive would be dropped the same way.
    await until(async () => (await h.queueDepth(h.queues.docJobsDlq)).visible === 1, 40_000, 'the job to reach the DLQ');
    await until(() => workerLines.some((l) => l.orderId === outage && l.msg === 'order already final; nothing to render'), 40_000, 'the hand-off to be dropped');
    await Promise.all(running.splice(0).map((w) => w.stop()));
    await h.drainQueue(h.queues.docJobsDlq);
    expect((await h.db('orders').where({ id: outage }).first()).error).toBe(FAILED_AFTER_RETRIES);

    // A batch row failed the same way, its batch completed (its last row) with the failure counted; and an order core-llm rejected.
    const theme = await h.themeBySlug('product-sheet');
    const [{ id: batchId }] = await h.db('batches')
      .insert({ client_id: clientId, theme_id: theme.id, status: 'completed', total_rows: 1, succeeded: 0, failed: 1, source_key: 'batches/x/source.csv', manifest_key: `batches/${clientId}/old/manifest.json` })
      .returning('id');
    await h.storage.put('assets', rejectedRowsKey(clientId, batchId), '[]', 'application/json');
    const [{ id: batchOrder }] = await h.db('orders')
      .insert({ client_id: clientId, theme_id: theme.id, status: 'failed', error: FAILED_AFTER_RETRIES, requeues: 2, input: { product: 'Batch kettle' }, batch_id: batchId, batch_row: 1 })
      .returning('id');
    const rejected = await h.createOrder(clientId, 'product-sheet', { product: 'Rejected kettle' });
    await h.db('orders').where({ id: rejected }).update({ status: 'failed', error: 'document generation rejected: theme product-sheet is inactive' });
    const url = ['--database-url', h.env.DATABASE_URL];

    const failed = await ops('orders', 'failed', '--since', '1h', ...url);
    expect(failed.code).toBe(0);
    expect(failed.json).toMatchObject({ sinceMinutes: 60, reason: FAILED_AFTER_RETRIES, truncated: false, otherFailures: expect.any(Number) });
    const listed = failed.json.orders.map((o: { orderId: string }) => o.orderId);
    expect(listed).toEqual(expect.arrayContaining([outage, batchOrder]));
    expect(listed).not.toContain(rejected);
    expect(failed.json.otherFailures).toBeGreaterThanOrEqual(1);
    expect(failed.json.orders.find((o: { orderId: string }) => o.orderId === outage)).toMatchObject({ requeues: expect.any(Number), batchId: null });
    expect((await ops('orders', 'failed', '--since', '1h', ...url, '--format', 'table')).out).toContain(batchOrder);

    // The rejected order is refused, named, and nothing is done for the others given with it.
    const refused = await ops('orders', 'retry', outage, rejected, ...url);
    expect(refused.code).toBe(2);
    expect(refused.logs.find((l) => l.level === 'error')).toMatchObject({ field: 'orderId', msg: expect.stringContaining(`order ${rejected} failed with "document generation rejected: theme product-sheet is inactive"`) });
    expect(await status(outage)).toBe('failed');
    expect((await ops('orders', 'retry', randomUUID(), ...url)).code).toBe(2);

    const retried = await ops('orders', 'retry', outage, batchOrder, ...url);
    expect(retried.code).toBe(0);
    expect(retried.json).toMatchObject({
      requestId: expect.stringMatching(/^ops-/),
      retried: [
        { orderId: outage, queue: `docplatform-${ENV}-doc-jobs` },
        { orderId: batchOrder, queue: `docplatform-${ENV}-batch-doc-jobs`, batchId, batch: 'reopened' },
      ],
      skipped: [],
      notSent: [],
    });
    expect(await h.db('orders').where({ id: batchOrder }).first()).toMatchObject({ status: 'queued', error: null, requeues: 0 });
    expect(await h.db('batches').where({ id: batchId }).first()).toMatchObject({ status: 'processing', failed: 0, manifest_key: null });
    // Run again: nothing failed any more, nothing done twice.
    expect((await ops('orders', 'retry', outage, ...url)).json).toMatchObject({ retried: [], skipped: [{ orderId: outage, status: 'queued' }] });

    // core-llm is back: the worker makes both, and the batch completes again with its new manifest.
    await docWorker();
    await until(async () => (await status(outage)) === 'ready' && (await status(batchOrder)) === 'ready', 30_000, 'the retried orders to be ready');
    expect(readyLine(outage)).toMatchObject({ requestId: retried.json.requestId });
    const batch = await until(async () => {
      const b = await h.db('batches').where({ id: batchId }).first();
      return b.status === 'completed' && b;
    }, 30_000, 'the reopened batch to complete');
    expect(batch).toMatchObject({ succeeded: 1, failed: 0 });
    const manifest = JSON.parse((await h.storage.get('assets', batch.manifest_key)).toString('utf8'));
    expect(manifest.documents).toEqual([expect.objectContaining({ orderId: batchOrder, status: 'ready' })]);
    expect(await status(rejected)).toBe('failed');
  }, 120_000);

  test('orders requeue of an order past its hand-offs says the worker fails it on its take, as it then does', async () => {
    const clientId = await h.createClient();
    const theme = await h.db('themes').where({ slug: 'product-sheet' }).first();
    // Three attempts cut short (three hand-offs counted), the last hand-off lost: stuck in generating, its lease long over.
    const [{ id: orderId }] = await h.db('orders')
      .insert({ client_id: clientId, theme_id: theme.id, status: 'generating', input: { product: 'Crashed thrice' }, requeues: 3, generation_owner: randomUUID(), generation_lease_until: h.db.raw(`now() - interval '50 minutes'`), updated_at: h.db.raw(`now() - interval '1 hour'`) })
      .returning('id');
    const requeued = await ops('orders', 'requeue', orderId, '--database-url', h.env.DATABASE_URL);
    expect(requeued.code).toBe(0);
    expect(requeued.json.sent).toEqual([expect.objectContaining({ orderId, note: expect.stringContaining('3 hand-offs, past the 2 the worker allows: it fails the order on its take') })]);
    expect((await ops('orders', 'requeue', orderId, '--database-url', h.env.DATABASE_URL, '--format', 'table')).out).toContain('past the 2 the worker allows');
    await docWorker();
    await until(async () => (await status(orderId)) === 'failed', 30_000, 'the worker to fail the order on its take');
    expect((await h.db('orders').where({ id: orderId }).first()).error).toContain('interrupted too often');
  }, 60_000);

  test('orders requeue: a job SQS refuses is named in notSent with its reason, and the other orders still get theirs', async () => {
    const clientId = await h.createClient();
    const theme = await h.db('themes').where({ slug: 'product-sheet' }).first();
    const hourAgo = h.db.raw(`now() - interval '1 hour'`);
    const [refusedOrder, later] = await Promise.all(
      ['Throttled kettle', 'Later kettle'].map(async (product) => {
        const [{ id }] = await h.db('orders').insert({ client_id: clientId, theme_id: theme.id, status: 'queued', input: { product }, updated_at: hourAgo }).returning('id');
        return id as string;
      }),
    );
    // SQS refuses the first order's job, as when SendMessage is throttled; the rest goes to fauxqs.
    const sqs = new SQSClient({ endpoint: h.emulator.endpoint, region: 'eu-west-3', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    sqs.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'SendMessageCommand' && String((args.input as { MessageBody?: string }).MessageBody).includes(refusedOrder)) {
          throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
        }
        return next(args);
      },
      { step: 'initialize', name: 'throttleOne' },
    );
    const lines: Record<string, unknown>[] = [];
    try {
      const report = await requeueOrders({
        db: h.db,
        jobs: createJobQueue({ queues: { docJobsUrl: h.queues.docJobs, batchDocJobsUrl: h.queues.batchDocJobs } }, sqs),
        queueNames: { docJobs: 'doc-jobs', batchDocJobs: 'batch-doc-jobs' },
        orderIds: [refusedOrder, later],
        requestId: 'ops-test-requeue',
        log: createLogger({ component: 'ops' }, 'info', (line) => void lines.push(JSON.parse(line))),
      });
      expect(report).toMatchObject({
        sent: [{ orderId: later, status: 'queued', queue: 'doc-jobs' }],
        notSent: [{ orderId: refusedOrder, status: 'queued', error: expect.stringContaining('Rate exceeded') }],
        skipped: [],
      });
      expect(renderRequeue(report)).toContain('1 doc job(s) sent under request id ops-test-requeue; 1 not sent; 0 skipped');
      expect(lines).toEqual(expect.arrayContaining([expect.objectContaining({ level: 'error', orderId: refusedOrder })]));
    } finally {
      sqs.destroy();
    }
    // Only this test's two orders: a job an earlier test of the file sent may still be in the queue.
    const jobs = (await h.drainQueue(h.queues.docJobs)).map((b) => JSON.parse(b).orderId).filter((id) => id === refusedOrder || id === later);
    expect(jobs).toEqual([later]);
    // Its idle clock was not restarted: orders stuck (and the sweeper) still see it stuck.
    expect(Date.now() - new Date((await h.db('orders').where({ id: refusedOrder }).first()).updated_at).getTime()).toBeGreaterThan(59 * 60_000);
  }, 60_000);

  test('a bad command line is exit 2 with a message naming the field, before anything is read', async () => {
    const bad = async (...argv: string[]) => {
      const r = await ops(...argv);
      return { code: r.code, field: r.logs.find((l) => l.level === 'error')?.field };
    };
    expect(await bad('dlq', 'show', 'jobs')).toEqual({ code: 2, field: 'queue' });
    expect(await bad('dlq', 'show')).toEqual({ code: 2, field: 'queue' });
    expect(await bad('dlq', 'redrive', 'doc-jobs', 'batch-jobs')).toEqual({ code: 2, field: 'queue' });
    expect(await bad('dlq', 'redrive', 'doc-jobs', '--max', '0')).toEqual({ code: 2, field: '--max' });
    expect(await bad('dlq', 'redrive', 'doc-jobs', '--rate', '1000')).toEqual({ code: 2, field: '--rate' });
    expect(await bad('dlq', 'list', 'doc-jobs')).toEqual({ code: 2, field: 'arguments' });
    expect(await bad('dlq', 'inspect', 'doc-jobs')).toEqual({ code: 2, field: 'command' });
    expect(await bad('orders', 'stuck', '--older-than', 'soon', '--database-url', h.env.DATABASE_URL)).toEqual({ code: 2, field: '--older-than' });
    expect(await bad('orders', 'stuck', '--database-url', 'mysql://x/y')).toEqual({ code: 2, field: '--database-url' });
    expect(await bad('orders', 'requeue', '--database-url', h.env.DATABASE_URL)).toEqual({ code: 2, field: 'orderId' });
    expect(await bad('orders', 'requeue', randomUUID(), 'nope', '--database-url', h.env.DATABASE_URL)).toEqual({ code: 2, field: 'orderId[1]' });
    expect(await bad('orders', 'stuck')).toEqual({ code: 2, field: '--database-url' });
    expect(await bad('orders', 'failed', '--since', 'yesterday', '--database-url', h.env.DATABASE_URL)).toEqual({ code: 2, field: '--since' });
    expect(await bad('orders', 'failed', randomUUID(), '--database-url', h.env.DATABASE_URL)).toEqual({ code: 2, field: 'arguments' });
    expect(await bad('orders', 'retry', '--database-url', h.env.DATABASE_URL)).toEqual({ code: 2, field: 'orderId' });
    expect(await bad('queues', 'list')).toEqual({ code: 2, field: 'command' });
    expect(await bad('dlq', 'show', 'doc-jobs', '--sample', '5', '--max', '3')).toEqual({ code: 2, field: '--max' });

    // Through npm as ops run it: no --env is exit 2, naming it; an environment that is not in stacks/config.ts needs --endpoint.
    const cli = (...argv: string[]) => spawnSync('npm', ['run', '-s', 'ops', '--', ...argv], { cwd: REPO, encoding: 'utf8', env: { ...process.env, DATABASE_URL: '' } });
    const noEnv = cli('dlq', 'show', 'doc-jobs');
    expect(noEnv.status).toBe(2);
    expect(JSON.parse(noEnv.stderr.split('\n')[0])).toMatchObject({ level: 'error', field: '--env' });
    expect(noEnv.stdout).toBe('');
    expect(cli('dlq', 'show', 'doc-jobs', '--env', 'staging').status).toBe(2);
    // A queue the environment does not have is a failure (1), not a usage error.
    const missing = cli('dlq', 'show', 'doc-jobs', '--env', 'elsewhere', '--endpoint', h.emulator.endpoint);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain('queue docplatform-elsewhere-doc-jobs does not exist');
  }, 60_000);
});
