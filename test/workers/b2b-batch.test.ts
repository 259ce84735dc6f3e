import { spawn, ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { createLogger } from '../../core/logger';
import { REQUEST_ID_ATTRIBUTE, traceAttributes } from '../../core/queue';
import { startWorker as startBatchWorker } from '../../containers/b2b-batch/worker';
import { startWorker as startDocWorker } from '../../containers/doc-generation/worker';
import type { BatchManifest } from '../../containers/shared/batch-completion';
import type { RunningWorker } from '../../containers/shared/process';
import { startWorkerHarness, WorkerHarness, until, attemptKeyPattern } from '../support/workers-harness';

const REPO = join(__dirname, '..', '..');
const quiet = createLogger({ test: 'b2b-batch' }, 'error', () => undefined);

describe('b2b-batch worker', () => {
  let h: WorkerHarness;
  const running: RunningWorker[] = [];
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    h = await startWorkerHarness('worker_batch', { docVisibilitySeconds: 10, batchVisibilitySeconds: 10, maxReceiveCount: 3 });
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((w) => w.stop()));
  });
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await h.stop();
  });

  /** The harness's pending batch, of the `product-sheet` theme: HTML output, cheap to render. */
  const createBatch = async (clientId: string, rows: unknown[]): Promise<string> => (await h.createBatch(clientId, rows)).id;
  const sendBatchJob = (batchId: string) => h.sqs.send(new SendMessageCommand({ QueueUrl: h.queues.batchJobs, MessageBody: JSON.stringify({ v: 1, batchId }) }));
  const batchRow = (id: string) => h.db('batches').where({ id }).first();

  test('a 1,000-row batch with 3% bad rows (ten chunks): every good row gets its document, every bad row is reported with its line and reason', async () => {
    const clientId = await h.createClient('b2b');
    const rows: Record<string, string>[] = [];
    const bad = new Map<number, RegExp>();
    // The scale of a real batch (5,000 rows) and its speed are bench:batch's; here, enough chunks to cross their boundaries.
    for (let i = 0; i < 1000; i++) {
      const line = i + 1;
      if (i % 100 === 7) {
        rows.push({ product: '' });
        bad.set(line, /^product: required non-empty string$/);
      } else if (i % 100 === 42) {
        rows.push({ product: `Gadget ${i}`, surplus: 'yes' });
        bad.set(line, /^surplus: not a field of this theme$/);
      } else if (i % 100 === 77) {
        rows.push({ product: 'x'.repeat(2001) });
        bad.set(line, /^product: at most 2000 characters$/);
      } else rows.push({ product: `Gadget ${i}` });
    }
    const batchId = await createBatch(clientId, rows);
    running.push(await startBatchWorker({ config: h.config, worker: { waitTimeSeconds: 1, drainSeconds: 10 }, logger: quiet }));
    running.push(await startDocWorker({ config: h.config, worker: { concurrency: 10, waitTimeSeconds: 1, drainSeconds: 10 }, logger: quiet }));
    await sendBatchJob(batchId);

    const done = await until(async () => {
      const b = await batchRow(batchId);
      return b.status === 'completed' ? b : undefined;
    }, 170_000, 'the batch to complete');
    expect(done).toMatchObject({ total_rows: 1000, succeeded: 970, failed: 30, manifest_key: expect.stringMatching(new RegExp(`^batches/${clientId}/${batchId}/manifest-[0-9a-f-]{36}\\.json$`)) });

    const orders = await h.db('orders').where({ batch_id: batchId }).select('id', 'batch_row', 'status', 'document_key');
    expect(orders).toHaveLength(970);
    expect(orders.every((o) => o.status === 'ready' && attemptKeyPattern(clientId, o.id, 'html').test(o.document_key))).toBe(true);
    expect(orders.some((o) => bad.has(o.batch_row))).toBe(false);
    expect(await h.listKeys('reports', `${clientId}/`)).toEqual(orders.map((o) => o.document_key).sort());

    const manifest = JSON.parse((await h.storage.get('assets', done.manifest_key)).toString()) as BatchManifest;
    expect(manifest.totals).toEqual({ rows: 1000, documents: 970, succeeded: 970, failed: 0, rejected: 30 });
    expect(manifest.rejected.map((r) => r.line)).toEqual([...bad.keys()]);
    for (const r of manifest.rejected) expect(r.reason).toMatch(bad.get(r.line)!);
    expect(manifest.documents).toHaveLength(970);
    expect(await h.queueDepth(h.queues.batchDocJobsDlq)).toEqual({ visible: 0, inFlight: 0 });
  }, 180_000);

  test('a NUL, another control character or an unpaired surrogate in a row rejects that row only: the good rows become orders and the batch completes', async () => {
    const clientId = await h.createClient('b2b');
    // As stored by a gateway that did not refuse these rows yet.
    const rows: Record<string, string>[] = [{ product: 'Solar kettle' }, { product: 'Wind\u0000lamp' }, { product: 'half \ud800' }, { product: 'Tide clock' }, { product: 'bell\u0007' }, { ['pro\u0000duct']: 'x' }];
    const envelopeId = await createBatch(clientId, rows);

    running.push(await startBatchWorker({ config: h.config, worker: { waitTimeSeconds: 1, drainSeconds: 10 }, logger: quiet }));
    running.push(await startDocWorker({ config: h.config, worker: { concurrency: 4, waitTimeSeconds: 1, drainSeconds: 10 }, logger: quiet }));
    await sendBatchJob(envelopeId);
    // Before the fix the chunk insert failed on every delivery: the batches stayed `pending` with 0 rows and their jobs went to the DLQ.
    const completed = async (id: string) =>
      until(async () => {
        const b = await batchRow(id);
        return b.status === 'completed' ? b : undefined;
      }, 45_000, `batch ${id} to complete`);
    expect(await completed(envelopeId)).toMatchObject({ total_rows: 6, succeeded: 2, failed: 4 });

    const inputs = async (id: string) => (await h.db('orders').where({ batch_id: id }).orderBy('batch_row').select('batch_row', 'input')).map((o) => [o.batch_row, o.input]);
    expect(await inputs(envelopeId)).toEqual([
      [1, { product: 'Solar kettle' }],
      [4, { product: 'Tide clock' }],
    ]);
    const manifest = async (id: string) => JSON.parse((await h.storage.get('assets', (await batchRow(id)).manifest_key)).toString()) as BatchManifest;
    expect((await manifest(envelopeId)).rejected).toEqual([
      { line: 2, reason: 'product: must not contain control characters (U+0000 at character 5)' },
      { line: 3, reason: 'product: must be valid Unicode (unpaired surrogate at character 6)' },
      { line: 5, reason: 'product: must not contain control characters (U+0007 at character 5)' },
      { line: 6, reason: 'product: required non-empty string; pro\u0000duct: key must not contain control characters (U+0000 at character 4)' },
    ]);
    expect(await h.queueDepth(h.queues.batchJobsDlq)).toEqual({ visible: 0, inFlight: 0 });
  }, 120_000);

  test('a row that is not text fields (a number, null, a nested object; not an object at all) rejects that row only, naming the field: the batch completes', async () => {
    const clientId = await h.createClient('b2b');
    // As written by something other than the gateway, which refuses such rows.
    const rows: unknown[] = [{ product: 'Solar kettle' }, { product: 42 }, { product: null }, { product: { name: 'x' } }, 'Tide clock', null, [], { product: 'Tide clock' }];
    const batchId = await createBatch(clientId, rows);
    running.push(await startBatchWorker({ config: h.config, worker: { waitTimeSeconds: 1, drainSeconds: 10 }, logger: quiet }));
    running.push(await startDocWorker({ config: h.config, worker: { concurrency: 4, waitTimeSeconds: 1, drainSeconds: 10 }, logger: quiet }));
    await sendBatchJob(batchId);
    // Before, the one bad value made the whole source unreadable: the batch failed and no row got its document.
    const done = await until(async () => {
      const b = await batchRow(batchId);
      return b.status === 'completed' || b.status === 'failed' ? b : undefined;
    }, 45_000, 'the batch to end');
    expect(done).toMatchObject({ status: 'completed', total_rows: 8, succeeded: 2, failed: 6 });
    const orders = await h.db('orders').where({ batch_id: batchId }).orderBy('batch_row').select('batch_row', 'input', 'status');
    expect(orders.map((o) => [o.batch_row, o.input, o.status])).toEqual([
      [1, { product: 'Solar kettle' }, 'ready'],
      [8, { product: 'Tide clock' }, 'ready'],
    ]);
    const manifest = JSON.parse((await h.storage.get('assets', done.manifest_key)).toString()) as BatchManifest;
    expect(manifest.rejected).toEqual([
      { line: 2, reason: 'product: required non-empty string' },
      { line: 3, reason: 'product: required non-empty string' },
      { line: 4, reason: 'product: required non-empty string' },
      { line: 5, reason: 'row: must be an object' },
      { line: 6, reason: 'row: must be an object' },
      { line: 7, reason: 'row: must be an object' },
    ]);
  }, 120_000);

  test('SIGTERM in the middle of a batch: the process exits 0 before the deadline and no row or message is lost', async () => {
    const clientId = await h.createClient('b2b');
    const rows = Array.from({ length: 1500 }, (_, i) => ({ product: i % 50 === 3 ? ' ' : `Lamp ${i}` }));
    const batchId = await createBatch(clientId, rows);
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'containers/b2b-batch/main.ts')], {
      cwd: REPO,
      env: { ...process.env, ...h.env, LOG_LEVEL: 'info', BATCH_CHUNK_ROWS: '10', WORKER_DRAIN_SECONDS: '30' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let logs = '';
    child.stdout!.on('data', (c) => (logs += c));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    await until(() => logs.includes('"consumer started"'), 20_000, 'the batch worker to start');
    await sendBatchJob(batchId);
    await until(async () => (await batchRow(batchId)).total_rows >= 100, 20_000, 'rows to be committed');
    const t0 = Date.now();
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const stopped = await batchRow(batchId);
    expect(stopped.status).toBe('pending');
    expect(stopped.total_rows).toBeLessThan(1500);
    expect(logs).toContain('"yielding batch to drain"');
    // Released with visibility 0, not left to time out.
    expect((await h.queueDepth(h.queues.batchJobs)).visible).toBe(1);

    running.push(await startBatchWorker({ config: h.config, worker: { waitTimeSeconds: 1, drainSeconds: 10, batchChunkRows: 10 }, logger: quiet }));
    const resumed = await until(async () => {
      const b = await batchRow(batchId);
      return b.status === 'processing' ? b : undefined;
    }, 60_000, 'the resumed batch to read every row');
    expect(resumed).toMatchObject({ total_rows: 1500, failed: 30 });
    const orders = await h.db('orders').where({ batch_id: batchId }).select('id', 'batch_row', 'input');
    expect(orders).toHaveLength(1470);
    expect(new Set(orders.map((o) => o.batch_row)).size).toBe(1470);
    const jobs = new Set((await h.drainQueue(h.queues.batchDocJobs)).map((b) => (JSON.parse(b) as { orderId: string }).orderId));
    for (const o of orders) expect(jobs.has(o.id)).toBe(true);
    const rejected = JSON.parse((await h.storage.get('assets', `batches/${clientId}/${batchId}/rejected-rows.json`)).toString());
    expect(rejected).toHaveLength(30);
    expect(rejected[0]).toEqual({ line: 4, reason: 'product: required non-empty string' });
  }, 120_000);
  test("one request id for a batch: every row's order stores the batch job's, and its doc job carries it", async () => {
    const clientId = await h.createClient('b2b');
    const batchId = await createBatch(clientId, [{ product: 'Lamp' }, { product: 'Kettle' }, { product: 'Clock' }]);
    running.push(await startBatchWorker({ config: h.config, worker: { waitTimeSeconds: 1, drainSeconds: 10 }, logger: quiet }));
    await h.sqs.send(
      new SendMessageCommand({ QueueUrl: h.queues.batchJobs, MessageBody: JSON.stringify({ v: 1, batchId }), MessageAttributes: traceAttributes({ requestId: 'b2b-req-1' }) }),
    );
    await until(async () => (await batchRow(batchId)).status === 'processing', 20_000, 'the batch rows to be read');
    const orderIds = (await h.db('orders').where({ batch_id: batchId }).pluck('id')) as string[];
    expect(orderIds).toHaveLength(3);
    expect(await h.db('orders').where({ batch_id: batchId }).pluck('request_id')).toEqual(['b2b-req-1', 'b2b-req-1', 'b2b-req-1']);
    const jobs: Array<{ body: unknown; requestId?: string }> = [];
    while (jobs.length < 3) {
      const got = await h.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: h.queues.batchDocJobs, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: [REQUEST_ID_ATTRIBUTE] }),
      );
      for (const m of got.Messages ?? []) {
        jobs.push({ body: JSON.parse(m.Body!), requestId: m.MessageAttributes?.[REQUEST_ID_ATTRIBUTE]?.StringValue });
        await h.sqs.send(new DeleteMessageCommand({ QueueUrl: h.queues.batchDocJobs, ReceiptHandle: m.ReceiptHandle! }));
      }
    }
    // The body is the v1 job, unchanged; the request rides beside it.
    expect(jobs.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual(
      orderIds.map((orderId) => ({ body: { v: 1, orderId }, requestId: 'b2b-req-1' })).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    );
    // No doc worker runs here: end the orders so no later sweep of this file picks them up.
    await h.db('orders').where({ batch_id: batchId }).update({ status: 'failed', error: 'test: jobs taken by the test' });
  }, 60_000);
});
