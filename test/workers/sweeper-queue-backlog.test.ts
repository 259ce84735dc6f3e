import { randomUUID } from 'node:crypto';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { createLogger } from '../../core/logger';
import { createJobQueue } from '../../core/queue';
import { orderDeadlines } from '../../containers/doc-generation/deadlines';
import { docJobsBacklog, sweepStuckOrders } from '../../containers/doc-generation/sweeper';
import { opsAgainst } from '../support/ops-cli';
import { startWorkerHarness, WorkerHarness } from '../support/workers-harness';

/**
 * A queue's backlog holds back only the orders of that queue, in a real sweep (fauxqs and
 * PostgreSQL) as in `npm run ops -- orders stuck`: a B2C order never waits behind batch rows
 * (doc-jobs is served first), so batch-doc-jobs' messages do not defer it.
 */
const ENV = 'sweeptest';
let h: WorkerHarness;
const quiet = createLogger({ test: 'sweeper-queue-backlog' }, 'error', () => undefined);

beforeAll(async () => {
  // AWS names, as the ops tool resolves them; visibility 3 s and 3 receives: the sweeper acts after 12 s.
  h = await startWorkerHarness('sweep_queue_backlog', { queueNamePrefix: `docplatform-${ENV}-`, docVisibilitySeconds: 3, maxReceiveCount: 3 });
}, 60_000);
afterAll(() => h?.stop());

test('a B2C order whose job was lost is re-sent while only batch-doc-jobs has a backlog, behind more deferred batch rows than a sweep takes; orders stuck says so', async () => {
  const deadlines = orderDeadlines({ visibilityTimeoutSeconds: 3, maxReceiveCount: 3 });
  const b2c = await h.createClient();
  const b2b = await h.createClient('b2b');
  const theme = await h.themeBySlug('product-sheet');
  const [{ id: batchId }] = await h.db('batches').insert({ client_id: b2b, theme_id: theme.id, status: 'processing', total_rows: 60, source_key: 'unused' }).returning('id');
  const idle = (hours: number) => ({ updated_at: h.db.raw(`now() - ? * interval '1 hour'`, [hours]) });
  // 60 rows of a batch, older than the B2C order, whose messages may wait in batch-doc-jobs.
  const rows = (await h
    .db('orders')
    .insert(Array.from({ length: 60 }, (_, i) => ({ client_id: b2b, theme_id: theme.id, status: 'queued', input: { product: `Row ${i}` }, batch_id: batchId, batch_row: i + 1, ...idle(3) })))
    .returning('id')).map((r: { id: string }) => r.id);
  const lost = await h.createOrder(b2c, 'product-sheet', { product: 'Lost B2C pump' });
  await h.db('orders').where({ id: lost }).update(idle(1));
  for (let i = 0; i < 5; i++) await h.sqs.send(new SendMessageCommand({ QueueUrl: h.queues.batchDocJobs, MessageBody: JSON.stringify({ v: 1, orderId: randomUUID() }) }));

  const ops = opsAgainst(ENV, () => h.emulator.endpoint);
  const stuck = await ops('orders', 'stuck', '--older-than', '30m', '--limit', '100', '--database-url', h.env.DATABASE_URL);
  expect(stuck.code).toBe(0);
  // Before: one figure for both queues (5), and the B2C order deferred behind the batch's backlog.
  expect(stuck.json).toMatchObject({ docJobsBacklog: { docJobs: 0, batchDocJobs: 5 }, count: 61 });
  const said = Object.fromEntries(stuck.json.orders.map((o: { orderId: string; sweeper: string }) => [o.orderId, o.sweeper]));
  expect(said[lost]).toBe('requeue');
  expect(new Set(rows.map((id) => said[id]))).toEqual(new Set(['defer']));
  expect(stuck.json.orders.find((o: { orderId: string }) => o.orderId === rows[0]).why).toContain('batch-doc-jobs has 5 visible message(s)');

  const report = await sweepStuckOrders({
    db: h.db,
    storage: h.storage,
    batchBucket: 'assets',
    logger: quiet,
    jobs: createJobQueue(h.config, h.sqs),
    deadlines,
    backlog: () => docJobsBacklog(h.sqs, { docJobs: h.queues.docJobs, batchDocJobs: h.queues.batchDocJobs }),
  });

  // Before: the sweep deferred everything while batch-doc-jobs had messages; nothing was sent.
  expect({ requeued: report.requeued, failed: report.failed }).toEqual({ requeued: [lost], failed: [] });
  expect((await h.drainQueue(h.queues.docJobs)).map((body) => JSON.parse(body).orderId)).toEqual([lost]);
  expect(await h.db('orders').where({ id: lost }).first()).toMatchObject({ status: 'queued', requeues: 1 });
  expect((await h.db('orders').whereIn('id', rows).where({ requeues: 0, status: 'queued' }).count({ n: '*' }))[0].n).toBe('60');
}, 60_000);
