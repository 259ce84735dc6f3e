import type { JobQueue } from '../../core/queue';
import { createJobQueue } from '../../core/queue';
import { createLogger } from '../../core/logger';
import { FAILED_AFTER_RETRIES, markGenerating, markReady } from '../../core/domain/orders';
import { orderDeadlines } from '../../containers/doc-generation/deadlines';
import { sweepStuckOrders } from '../../containers/doc-generation/sweeper';
import { countBatchOutcome } from '../../containers/shared/batch-completion';
import { retryOrders } from '../../scripts/ops/orders';
import { startWorkerHarness, until, WorkerHarness } from '../support/workers-harness';

/**
 * Lock order between orders and their batches, on the real PostgreSQL with two sessions.
 *
 * Every transaction that ends a batch order takes the order's row, then its batch's: the worker
 * (markReady / markFailed, then countBatchOutcome), `orders retry` (markRetried, then the batch
 * FOR UPDATE), the sweeper (its orders FOR UPDATE SKIP LOCKED, then the batches it counts on);
 * completeBatchIfDone takes the batch alone, outside any transaction. One sweep holds the orders
 * of several batches at once, though, and every doc task runs its own sweeps: two sweeps that
 * counted on their batches in the order of their rows (updated_at) could each hold one batch and
 * wait for the other's. Here they meet in that order: the first holds batch X and the second
 * batch Y when both go on (each paused while it sends a requeued order's job, a real send).
 * `orders retry` and the worker share only the batch (one takes a failed order, the other the
 * order it generates): the one that comes second waits for the batch, and both commit.
 */
let h: WorkerHarness;
const log = createLogger({ service: 'test', env: 'test' }, 'error');

beforeAll(async () => {
  h = await startWorkerHarness('sweep_locks');
}, 60_000);
afterAll(() => h?.stop());

test('two sweeps failing orders of the same two batches in opposite order: both commit, no deadlock, each batch counted once per order', async () => {
  const deadlines = orderDeadlines({ visibilityTimeoutSeconds: 3, maxReceiveCount: 3 });
  const b2b = await h.createClient('b2b');
  const b2c = await h.createClient('b2c');
  const theme = await h.themeBySlug('product-sheet');
  const batch = async () =>
    (await h.db('batches').insert({ client_id: b2b, theme_id: theme.id, status: 'processing', total_rows: 10, source_key: 'unused' }).returning('id'))[0].id as string;
  const [x, y] = [await batch(), await batch()];
  let row = 0;
  const order = async (batchId: string | null, requeues: number) =>
    (
      await h
        .db('orders')
        .insert({ client_id: batchId ? b2b : b2c, theme_id: theme.id, status: 'queued', input: { product: 'p' }, requeues, ...(batchId ? { batch_id: batchId, batch_row: row++ } : {}) })
        .returning('id')
    )[0].id as string;
  // Past maxRequeues a stuck order is failed (and counted on its batch); below it, its job is sent again.
  const gone = deadlines.maxRequeues;
  const first = { a: await order(x, gone), pause: await order(null, 0), b: await order(y, gone) };
  const second = { c: await order(y, gone), pause: await order(null, 0), d: await order(x, gone) };
  const age = (ids: string[]) =>
    Promise.all(ids.map((id, i) => h.db('orders').where({ id }).update({ updated_at: h.db.raw(`now() - ? * interval '1 second'`, [600 - i]) })));
  await age(Object.values(first));

  let firstHolds!: () => void;
  let secondHolds!: () => void;
  const firstHolding = new Promise<void>((r) => (firstHolds = r));
  const secondHolding = new Promise<void>((r) => (secondHolds = r));
  const real = createJobQueue(h.config, h.sqs);
  const pauses: Record<string, () => Promise<void>> = {
    [first.pause]: async () => {
      firstHolds();
      await secondHolding;
    },
    [second.pause]: async () => secondHolds(),
  };
  const jobs: Pick<JobQueue, 'sendDocJob'> = {
    sendDocJob: async (o, options) => {
      await pauses[o.id]?.();
      return real.sendDocJob(o, options);
    },
  };
  const sweep = () => sweepStuckOrders({ db: h.db, storage: h.storage, batchBucket: 'assets', logger: log, jobs, deadlines, backlog: async () => ({ docJobs: 0, batchDocJobs: 0 }) });

  const one = sweep();
  await firstHolding;
  await age(Object.values(second));
  const two = sweep();
  const outcomes = await Promise.allSettled([one, two]);
  expect(outcomes.map((o) => (o.status === 'rejected' ? String((o.reason as Error).message) : 'ok'))).toEqual(['ok', 'ok']);
  expect(outcomes.map((o) => (o as PromiseFulfilledResult<Awaited<ReturnType<typeof sweep>>>).value.failed.sort())).toEqual([
    [first.a, first.b].sort(),
    [second.c, second.d].sort(),
  ]);
  expect(await h.db('batches').whereIn('id', [x, y]).orderBy('failed').pluck('failed')).toEqual([2, 2]);
}, 60_000);

test('orders retry while a worker ends another order of the same batch: the retry waits for the batch, both commit', async () => {
  const b2b = await h.createClient('b2b');
  const theme = await h.themeBySlug('product-sheet');
  const [{ id: batchId }] = await h
    .db('batches')
    .insert({ client_id: b2b, theme_id: theme.id, status: 'processing', total_rows: 2, failed: 1, source_key: 'unused' })
    .returning('id');
  const [failed, generating] = (await h
    .db('orders')
    .insert([
      { client_id: b2b, theme_id: theme.id, status: 'failed', error: FAILED_AFTER_RETRIES, input: { product: 'f' }, batch_id: batchId, batch_row: 1 },
      { client_id: b2b, theme_id: theme.id, status: 'queued', input: { product: 'g' }, batch_id: batchId, batch_row: 2 },
    ])
    .returning('id')) as Array<{ id: string }>;
  const lease = { owner: '6f1c1d1e-0000-4000-8000-00000000b0b0', leaseMs: 60_000 };
  expect(await markGenerating(h.db, generating.id, lease)).toBeDefined();

  // The worker's outcome transaction, held open once it has counted on the batch.
  const worker = await h.db.transaction();
  try {
    await markReady(worker, generating.id, `${b2b}/g.html`, lease.owner);
    await countBatchOutcome(worker, batchId, 'succeeded');
    const retried = retryOrders({
      db: h.db,
      jobs: createJobQueue(h.config, h.sqs),
      queueNames: { docJobs: 'doc-jobs', batchDocJobs: 'batch-doc-jobs' },
      orderIds: [failed.id],
      requestId: 'ops-lock-order',
      log,
    });
    await until(
      async () => ((await h.db.raw(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0].n as number) >= 1,
      10_000,
      'the retry waiting on the batch',
    );
    await worker.commit();
    expect((await retried).retried.map((r) => r.orderId)).toEqual([failed.id]);
  } finally {
    if (!worker.isCompleted()) await worker.rollback();
  }
  expect(await h.db('batches').where({ id: batchId }).first('status', 'succeeded', 'failed')).toEqual({ status: 'processing', succeeded: 1, failed: 0 });
}, 60_000);
