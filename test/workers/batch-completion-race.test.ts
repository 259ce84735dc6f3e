import { createJobQueue } from '../../core/queue';
import { createLogger } from '../../core/logger';
import type { Storage } from '../../core/storage';
import { FAILED_AFTER_RETRIES, markGenerating, markReady } from '../../core/domain/orders';
import { BatchManifest, completeBatchIfDone, countBatchOutcome } from '../../containers/shared/batch-completion';
import { rejectedRowsKey } from '../../core/domain/batches';
import { retryOrders } from '../../scripts/ops/orders';
import { startWorkerHarness, WorkerHarness } from '../support/workers-harness';

/**
 * `orders retry` against a batch completion in flight, on the real PostgreSQL and S3 emulator:
 * the completion has read the batch settled and its orders, and is writing the manifest, when
 * the retry takes one of the batch's failed orders back to `queued` and undoes its count. The
 * completion must not then complete the batch from what it read before: the batch would be
 * `completed` with an order still on its way, and the manifest, never written again (a completed
 * batch is not completed twice), would say for ever that the order failed.
 */
let h: WorkerHarness;
const log = createLogger({ service: 'test', env: 'test' }, 'error');

beforeAll(async () => {
  h = await startWorkerHarness('batch_race');
}, 60_000);
afterAll(() => h?.stop());

test('a retry that lands while the completion writes the manifest: the batch stays processing, and completes with the order made once it ends', async () => {
  const clientId = await h.createClient('b2b');
  const theme = await h.themeBySlug('product-sheet');
  const [batch] = await h
    .db('batches')
    .insert({ client_id: clientId, theme_id: theme.id, status: 'processing', total_rows: 2, succeeded: 1, failed: 1, source_key: 'unused' })
    .returning('id');
  const batchId = batch.id as string;
  const [made, lost] = (await h
    .db('orders')
    .insert([
      { client_id: clientId, theme_id: theme.id, status: 'ready', document_key: `${clientId}/made.pdf`, input: { product: 'a' }, batch_id: batchId, batch_row: 1 },
      { client_id: clientId, theme_id: theme.id, status: 'failed', error: FAILED_AFTER_RETRIES, input: { product: 'b' }, batch_id: batchId, batch_row: 2 },
    ])
    .returning('id')) as Array<{ id: string }>;
  await h.storage.put('assets', rejectedRowsKey(clientId, batchId), '[]', 'application/json');

  const jobs = createJobQueue(h.config, h.sqs);
  const retry = () =>
    retryOrders({ db: h.db, jobs, queueNames: { docJobs: 'doc-jobs', batchDocJobs: 'batch-doc-jobs' }, orderIds: [lost.id], requestId: 'ops-race', log });
  let retried: Awaited<ReturnType<typeof retry>> | undefined;
  // The real S3 put, with the retry run to its end just before the manifest is written.
  const racing: Storage = {
    ...h.storage,
    get: (bucket, key) => h.storage.get(bucket, key),
    put: async (bucket, key, body, type) => {
      if (key.startsWith(`batches/${clientId}/${batchId}/manifest`) && !retried) retried = await retry();
      await h.storage.put(bucket, key, body, type);
    },
  };

  const completed = await completeBatchIfDone({ db: h.db, storage: racing, batchBucket: 'assets', logger: log }, batchId);
  expect(retried?.retried.map((r) => r.orderId)).toEqual([lost.id]);
  expect(completed).toBe(false);
  expect(await h.db('batches').where({ id: batchId }).first('status', 'succeeded', 'failed', 'manifest_key')).toEqual({
    status: 'processing',
    succeeded: 1,
    failed: 0,
    manifest_key: null,
  });

  // The retried order is made: its worker counts it and completes the batch, with a manifest that says so.
  const lease = { owner: '6f1c1d1e-0000-4000-8000-00000000fa11', leaseMs: 60_000 };
  expect(await markGenerating(h.db, lost.id, lease)).toBeDefined();
  await h.db.transaction(async (trx) => {
    const row = await markReady(trx, lost.id, `${clientId}/lost.pdf`, lease.owner);
    await countBatchOutcome(trx, row!.batch_id!, 'succeeded');
  });
  expect(await completeBatchIfDone({ db: h.db, storage: h.storage, batchBucket: 'assets', logger: log }, batchId)).toBe(true);
  const { manifest_key: manifestKey } = await h.db('batches').where({ id: batchId }).first('manifest_key');
  const manifest = JSON.parse((await h.storage.get('assets', manifestKey)).toString('utf8')) as BatchManifest;
  expect(manifest.totals).toMatchObject({ rows: 2, succeeded: 2, failed: 0 });
  expect(manifest.documents.map((d) => [d.orderId, d.status])).toEqual([
    [made.id, 'ready'],
    [lost.id, 'ready'],
  ]);
}, 60_000);

test('a completion that stalls while a retry runs and a newer completion writes its manifest: the newest manifest stays the batch\'s', async () => {
  const clientId = await h.createClient('b2b');
  const theme = await h.themeBySlug('product-sheet');
  const [batch] = await h
    .db('batches')
    .insert({ client_id: clientId, theme_id: theme.id, status: 'processing', total_rows: 1, succeeded: 0, failed: 1, source_key: 'unused' })
    .returning('id');
  const batchId = batch.id as string;
  const [lost] = (await h
    .db('orders')
    .insert({ client_id: clientId, theme_id: theme.id, status: 'failed', error: FAILED_AFTER_RETRIES, input: { product: 'b' }, batch_id: batchId, batch_row: 1 })
    .returning('id')) as Array<{ id: string }>;
  await h.storage.put('assets', rejectedRowsKey(clientId, batchId), '[]', 'application/json');

  // The stale completion has read the batch settled (the order failed) and its put hangs until the gate opens.
  let writing: () => void = () => undefined;
  const stalled = new Promise<void>((r) => (writing = r));
  let openGate: () => void = () => undefined;
  const gate = new Promise<void>((r) => (openGate = r));
  const slow: Storage = {
    ...h.storage,
    get: (bucket, key) => h.storage.get(bucket, key),
    put: async (bucket, key, body, type) => {
      writing();
      await gate;
      await h.storage.put(bucket, key, body, type);
    },
  };
  const stale = completeBatchIfDone({ db: h.db, storage: slow, batchBucket: 'assets', logger: log }, batchId);
  await stalled;

  // Meanwhile: the order is retried, made, and its own completion writes the manifest and completes the batch.
  const jobs = createJobQueue(h.config, h.sqs);
  await retryOrders({ db: h.db, jobs, queueNames: { docJobs: 'doc-jobs', batchDocJobs: 'batch-doc-jobs' }, orderIds: [lost.id], requestId: 'ops-stall', log });
  const lease = { owner: '6f1c1d1e-0000-4000-8000-00000000fa12', leaseMs: 60_000 };
  expect(await markGenerating(h.db, lost.id, lease)).toBeDefined();
  await h.db.transaction(async (trx) => {
    const row = await markReady(trx, lost.id, `${clientId}/lost.pdf`, lease.owner);
    await countBatchOutcome(trx, row!.batch_id!, 'succeeded');
  });
  expect(await completeBatchIfDone({ db: h.db, storage: h.storage, batchBucket: 'assets', logger: log }, batchId)).toBe(true);

  openGate();
  expect(await stale).toBe(false);
  const done = await h.db('batches').where({ id: batchId }).first('status', 'manifest_key');
  expect(done.status).toBe('completed');
  const manifest = JSON.parse((await h.storage.get('assets', done.manifest_key)).toString('utf8')) as BatchManifest;
  expect({ totals: manifest.totals, documents: manifest.documents.map((d) => [d.orderId, d.status]) }).toEqual({
    totals: { rows: 1, documents: 1, succeeded: 1, failed: 0, rejected: 0 },
    documents: [[lost.id, 'ready']],
  });
}, 60_000);
