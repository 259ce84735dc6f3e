import { createLogger } from '../../core/logger';
import { orderDeadlines } from '../../containers/doc-generation/deadlines';
import { sweepStuckOrders } from '../../containers/doc-generation/sweeper';
import { startWorkerHarness, WorkerHarness } from '../support/workers-harness';

/**
 * The sweeper while the doc-job queues have a backlog, on the real PostgreSQL: stuck `paid`/`queued`
 * orders are left alone (their message may be waiting behind it), but a `generating` order whose
 * attempt died is still re-sent, however many of the others there are.
 */
let h: WorkerHarness;
const quiet = createLogger({ test: 'sweeper-backlog' }, 'error', () => undefined);

beforeAll(async () => {
  h = await startWorkerHarness('sweep_backlog');
}, 60_000);
afterAll(() => h?.stop());

test('with a backlog, a generating order with a dead lease is re-sent even behind more deferred queued orders than a sweep takes', async () => {
  const deadlines = orderDeadlines({ visibilityTimeoutSeconds: 3, maxReceiveCount: 3 });
  const clientId = await h.createClient();
  const idle = (hours: number) => ({ updated_at: h.db.raw(`now() - ? * interval '1 hour'`, [hours]) });
  // 60 queued orders whose jobs are (maybe) behind the backlog, older than the dead attempt's order.
  const queued: string[] = [];
  for (let i = 0; i < 60; i++) queued.push(await h.createOrder(clientId, 'product-sheet', { product: `Waiting pump ${i}` }));
  await h.db('orders').whereIn('id', queued).update(idle(3));
  const dead = await h.createOrder(clientId, 'product-sheet', { product: 'Dead attempt pump' });
  await h
    .db('orders')
    .where({ id: dead })
    .update({ status: 'generating', generation_owner: '00000000-0000-4000-8000-000000000001', generation_lease_until: h.db.raw(`now() - interval '1 hour'`), ...idle(1) });

  const sent: string[] = [];
  const report = await sweepStuckOrders({
    db: h.db,
    storage: h.storage,
    batchBucket: 'assets',
    logger: quiet,
    jobs: { sendDocJob: async (order) => void sent.push(order.id) },
    deadlines,
    backlog: async () => ({ docJobs: 5, batchDocJobs: 5 }),
  });

  // Before: the sweep took the 50 oldest, all deferred queued orders, and never reached the dead attempt.
  expect({ requeued: report.requeued, sent, failed: report.failed }).toEqual({ requeued: [dead], sent: [dead], failed: [] });
  expect((await h.db('orders').whereIn('id', queued).where({ requeues: 0, status: 'queued' }).count({ n: '*' }))[0].n).toBe('60');
});
