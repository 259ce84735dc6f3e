import { randomUUID } from 'node:crypto';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createLogger } from '../../core/logger';
import { createJobQueue, traceAttributes } from '../../core/queue';
import { batchSourceKey, rejectedRowsKey } from '../../core/domain/batches';
import { startWorker as startBatchWorker } from '../../containers/b2b-batch/worker';
import type { RunningWorker } from '../../containers/shared/process';
import { requeueBatches } from '../../scripts/ops/batches';
import { renderBatchRequeue } from '../../scripts/ops/render';
import { opsAgainst } from '../support/ops-cli';
import { startWorkerHarness, until, WorkerHarness } from '../support/workers-harness';

/**
 * `npm run ops -- batches stuck` and `batches requeue` against fauxqs and PostgreSQL, with the
 * real b2b-batch worker. Nothing else re-sends a batch job: a batch whose job died in the
 * batch-jobs DLQ, or whose job the order service could not send under an Idempotency-Key the
 * client never retried, stays `pending` for ever. `stuck` lists the open batches that stopped
 * moving with what moves each on; `requeue` sends their jobs, the worker resumes a pending one and
 * completes a processing one whose orders are all ended; `dlq redrive batch-jobs` resumes the one
 * whose job is in the DLQ.
 */
const ENV = 'batchops';
const quiet = createLogger({ test: 'ops-batches' }, 'error', () => undefined);

describe('npm run ops -- batches', () => {
  let h: WorkerHarness;
  const running: RunningWorker[] = [];

  beforeAll(async () => {
    h = await startWorkerHarness('ops_batches', { queueNamePrefix: `docplatform-${ENV}-`, batchVisibilitySeconds: 5, maxReceiveCount: 2 });
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((w) => w.stop()));
  });
  afterAll(() => h?.stop());

  const ops = opsAgainst(ENV, () => h.emulator.endpoint);
  const url = () => ['--database-url', h.env.DATABASE_URL];
  const batch = (id: string) => h.db('batches').where({ id }).first();

  /** A batch as the order service created it, its source stored; then moved to `fields`, last updated an hour ago. */
  const createBatch = async (clientId: string, products: string[], fields: Record<string, unknown> = {}): Promise<string> => {
    const theme = await h.themeBySlug('product-sheet');
    const [row] = await h.db('batches').insert({ client_id: clientId, theme_id: theme.id, status: 'pending', source_key: 'pending', submitted_rows: products.length }).returning('id');
    const key = batchSourceKey(clientId, row.id);
    await h.storage.put('assets', key, JSON.stringify({ v: 1, batchId: row.id, clientId, themeId: theme.id, rows: products.map((product) => ({ product })) }), 'application/json');
    await h.db('batches').where({ id: row.id }).update({ source_key: key, ...fields, updated_at: h.db.raw(`now() - interval '1 hour'`) });
    return row.id as string;
  };
  const batchOrder = async (clientId: string, batchId: string, status: string) => {
    const theme = await h.themeBySlug('product-sheet');
    await h.db('orders').insert({ client_id: clientId, theme_id: theme.id, status, input: { product: 'Lamp' }, batch_id: batchId, batch_row: 1, ...(status === 'ready' ? { document_key: `${clientId}/x.html` } : {}) });
  };

  test('batches stuck lists the open batches that stopped moving and what fixes each; batches requeue and a dlq redrive end them', async () => {
    const clientId = await h.createClient('b2b');
    // Its job died in the batch-jobs DLQ; created with an Idempotency-Key.
    const dead = await createBatch(clientId, ['Dead kettle', 'Dead lamp', 'Dead clock'], { idempotency_key: `key-${randomUUID()}` });
    await h.sqs.send(new SendMessageCommand({ QueueUrl: h.queues.batchJobsDlq, MessageBody: JSON.stringify({ v: 1, batchId: dead }), MessageAttributes: traceAttributes({ requestId: 'req-dead-batch' }) }));
    // Its job was never sent; one chunk of its rows was read before.
    const lost = await createBatch(clientId, ['Lost kettle', 'Lost lamp']);
    // Every row read and ended, its completion missed.
    const settled = await createBatch(clientId, ['Done lamp'], { status: 'processing', total_rows: 1, succeeded: 1 });
    await batchOrder(clientId, settled, 'ready');
    await h.storage.put('assets', rejectedRowsKey(clientId, settled), '[]', 'application/json');
    // Every row read, an order still on its way.
    const waiting = await createBatch(clientId, ['Slow lamp'], { status: 'processing', total_rows: 1 });
    await batchOrder(clientId, waiting, 'queued');
    const done = await createBatch(clientId, ['Old lamp'], { status: 'completed', total_rows: 1, succeeded: 1, manifest_key: 'm.json' });
    const fresh = await createBatch(clientId, ['New lamp']);
    await h.db('batches').where({ id: fresh }).update({ updated_at: h.db.raw(`now() - interval '2 seconds'`) });

    const stuck = await ops('batches', 'stuck', '--older-than', '30m', ...url());
    expect(stuck.code).toBe(0);
    expect(stuck.json).toMatchObject({ olderThanMinutes: 30, batchJobs: { waiting: 0, inFlight: 0, dlq: 1 }, count: 4, truncated: false });
    const byId = Object.fromEntries(stuck.json.batches.map((b: { batchId: string }) => [b.batchId, b]));
    expect(Object.keys(byId).sort()).toEqual([dead, lost, settled, waiting].sort());
    expect(byId[dead]).toMatchObject({ status: 'pending', totalRows: 0, submittedRows: 3, idempotencyKey: true, clientId, fix: 'batches requeue' });
    expect(byId[dead].why).toContain('batch-jobs-dlq holds 1 message(s)');
    expect(byId[dead].idleMinutes).toBeGreaterThanOrEqual(59);
    expect(byId[lost]).toMatchObject({ status: 'pending', idempotencyKey: false, fix: 'batches requeue', why: expect.stringContaining('resumes it from row 1') });
    expect(byId[settled]).toMatchObject({ status: 'processing', unsettledOrders: 0, fix: 'batches requeue', why: expect.stringContaining('completion missed') });
    expect(byId[waiting]).toMatchObject({ status: 'processing', unsettledOrders: 1, fix: 'orders stuck' });
    expect((await ops('batches', 'stuck', '--older-than', '1s', ...url())).json.batches.map((b: { batchId: string }) => b.batchId)).toContain(fresh);
    const table = await ops('batches', 'stuck', ...url(), '--format', 'table');
    expect(table.out).toContain('4 batch(es) pending/processing without an update for over 30 min');
    expect(table.out).toContain('batch-jobs: 0 waiting, 0 in flight; its DLQ 1');
    expect(table.out).toContain(lost);
    // Read-only.
    expect(await batch(lost)).toMatchObject({ status: 'pending', total_rows: 0 });

    // An id that is no batch's: exit 2 naming it, nothing sent for the others.
    const unknown = randomUUID();
    const refused = await ops('batches', 'requeue', lost, unknown, ...url());
    expect(refused.code).toBe(2);
    expect(refused.logs.find((l) => l.level === 'error')).toMatchObject({ field: 'batchId', msg: expect.stringContaining(`no batch ${unknown}`) });
    expect(refused.out).toBe('');
    expect(await h.queueDepth(h.queues.batchJobs)).toEqual({ visible: 0, inFlight: 0 });

    const requeued = await ops('batches', 'requeue', lost, settled, done, ...url());
    expect(requeued.code).toBe(0);
    expect(requeued.json).toMatchObject({
      requestId: expect.stringMatching(/^ops-/),
      sent: [
        { batchId: lost, status: 'pending', queue: `docplatform-${ENV}-batch-jobs` },
        { batchId: settled, status: 'processing', queue: `docplatform-${ENV}-batch-jobs` },
      ],
      skipped: [{ batchId: done, status: 'completed' }],
      notSent: [],
    });
    expect(requeued.logs).toEqual(expect.arrayContaining([expect.objectContaining({ msg: 'batch job sent again', batchId: lost, requestId: requeued.json.requestId })]));
    expect(await h.queueDepth(h.queues.batchJobs)).toEqual({ visible: 2, inFlight: 0 });
    // Their idle clocks restarted: a second look does not list them while their jobs wait.
    expect((await ops('batches', 'stuck', ...url())).json.batches.map((b: { batchId: string }) => b.batchId).sort()).toEqual([dead, waiting].sort());

    running.push(await startBatchWorker({ config: h.config, worker: { waitTimeSeconds: 1, drainSeconds: 5 }, logger: quiet }));
    await until(async () => (await batch(lost)).status === 'processing', 30_000, 'the requeued batch to be read');
    const lostOrders = await h.db('orders').where({ batch_id: lost }).orderBy('batch_row');
    expect(lostOrders.map((o) => [o.batch_row, o.status, o.request_id])).toEqual([
      [1, 'queued', requeued.json.requestId],
      [2, 'queued', requeued.json.requestId],
    ]);
    await until(async () => (await batch(settled)).status === 'completed', 30_000, 'the settled batch to complete');

    // The dead job's batch: the redrive resumes it under its original request id.
    expect((await ops('dlq', 'redrive', 'batch-jobs')).json).toMatchObject({ moved: 1, failed: [] });
    await until(async () => (await batch(dead)).status === 'processing', 30_000, 'the redriven batch to be read');
    expect((await h.db('orders').where({ batch_id: dead }).pluck('request_id'))).toEqual(['req-dead-batch', 'req-dead-batch', 'req-dead-batch']);
    expect((await ops('batches', 'stuck', ...url())).json).toMatchObject({ count: 1, batches: [{ batchId: waiting, fix: 'orders stuck' }] });
  }, 120_000);

  test('batches requeue: a job SQS refuses is named in notSent with its reason, and the other batches still get theirs', async () => {
    const clientId = await h.createClient('b2b');
    const [refusedBatch, later] = [await createBatch(clientId, ['Throttled lamp']), await createBatch(clientId, ['Later lamp'])];
    const sqs = new SQSClient({ endpoint: h.emulator.endpoint, region: 'eu-west-3', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    sqs.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'SendMessageCommand' && String((args.input as { MessageBody?: string }).MessageBody).includes(refusedBatch)) {
          throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
        }
        return next(args);
      },
      { step: 'initialize', name: 'throttleOne' },
    );
    const lines: Record<string, unknown>[] = [];
    try {
      const report = await requeueBatches({
        db: h.db,
        jobs: createJobQueue({ queues: { batchJobsUrl: h.queues.batchJobs } }, sqs),
        queueName: 'batch-jobs',
        batchIds: [refusedBatch, later],
        requestId: 'ops-test-batches',
        log: createLogger({ component: 'ops' }, 'info', (line) => void lines.push(JSON.parse(line))),
      });
      expect(report).toMatchObject({
        sent: [{ batchId: later, status: 'pending', queue: 'batch-jobs' }],
        notSent: [{ batchId: refusedBatch, status: 'pending', error: expect.stringContaining('Rate exceeded') }],
        skipped: [],
      });
      expect(renderBatchRequeue(report)).toContain('1 batch job(s) sent under request id ops-test-batches; 1 not sent; 0 skipped');
      expect(lines).toEqual(expect.arrayContaining([expect.objectContaining({ level: 'error', batchId: refusedBatch })]));
    } finally {
      sqs.destroy();
    }
    const jobs = (await h.drainQueue(h.queues.batchJobs)).map((b) => JSON.parse(b).batchId).filter((id) => id === refusedBatch || id === later);
    expect(jobs).toEqual([later]);
    // Its idle clock was not restarted: batches stuck still lists it.
    expect((await ops('batches', 'stuck', ...url())).json.batches.map((b: { batchId: string }) => b.batchId)).toContain(refusedBatch);
  }, 60_000);

  test('a bad command line is exit 2 naming the field, before anything is read', async () => {
    const bad = async (...argv: string[]) => {
      const r = await ops(...argv);
      return { code: r.code, field: r.logs.find((l) => l.level === 'error')?.field, out: r.out };
    };
    expect(await bad('batches', 'requeue', ...url())).toEqual({ code: 2, field: 'batchId', out: '' });
    expect(await bad('batches', 'requeue', randomUUID(), 'nope', ...url())).toEqual({ code: 2, field: 'batchId[1]', out: '' });
    expect(await bad('batches', 'stuck', '--older-than', 'soon', ...url())).toEqual({ code: 2, field: '--older-than', out: '' });
    expect(await bad('batches', 'stuck', '--since', '1h', ...url())).toEqual({ code: 2, field: '--since', out: '' });
    expect(await bad('batches', 'stuck', randomUUID(), ...url())).toEqual({ code: 2, field: 'arguments', out: '' });
    expect(await bad('batches', 'list', ...url())).toEqual({ code: 2, field: 'command', out: '' });
  }, 30_000);
});
