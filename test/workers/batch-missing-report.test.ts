import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { createLogger } from '../../core/logger';
import { startWorker } from '../../containers/doc-generation/worker';
import type { RunningWorker } from '../../containers/shared/process';
import { BatchManifest, REJECTED_REASON_LOST } from '../../containers/shared/batch-completion';
import { rejectedRowsKey } from '../../core/domain/batches';
import { sleep, startWorkerHarness, until, WorkerHarness } from '../support/workers-harness';

/**
 * A batch whose rejected-rows report is gone when its last order ends, on the real PostgreSQL and
 * S3 emulator: the doc worker completes it with a manifest that still lists the rejected lines
 * (the complement of the rows that became orders), each saying its reason was lost. Before, the
 * failed read was thrown after the order was ready: its message was retried into the DLQ, the
 * sweeper failed again at every sweep, and the batch stayed `processing` without a manifest.
 * S3 answers such a GET NoSuchKey only to a caller that may list the bucket; the doc worker's
 * role may list `batches/` of the assets bucket for that (stacks/access.ts, proven in
 * test/infra/iam-simulation.test.ts), and fauxqs answers NoSuchKey as S3 then does.
 */
const lines: Array<Record<string, unknown>> = [];
const log = createLogger({ test: 'batch-missing-report' }, 'info', (line) => void lines.push(JSON.parse(line) as Record<string, unknown>));

describe('doc-generation: a batch whose rejected-rows report is missing', () => {
  let h: WorkerHarness;
  let worker: RunningWorker | undefined;

  beforeAll(async () => {
    h = await startWorkerHarness('worker_missing_report', { docVisibilitySeconds: 2, maxReceiveCount: 2 });
  });
  afterAll(async () => {
    await worker?.stop();
    await h.stop();
  });

  test('completes with the rejected lines, reason lost, on the first receive; nothing retried, nothing in the DLQ', async () => {
    const clientId = await h.createClient('b2b');
    const theme = await h.themeBySlug('product-sheet');
    // Four rows read: lines 1 and 3 became orders, 2 and 4 were rejected; the report the batch worker wrote is gone.
    const [batch] = await h
      .db('batches')
      .insert({ client_id: clientId, theme_id: theme.id, status: 'processing', total_rows: 4, succeeded: 1, failed: 2, source_key: 'unused' })
      .returning('id');
    const batchId = batch.id as string;
    const [made, last] = (await h
      .db('orders')
      .insert([
        { client_id: clientId, theme_id: theme.id, status: 'ready', document_key: `${clientId}/made.html`, input: { product: 'Lamp' }, batch_id: batchId, batch_row: 1 },
        { client_id: clientId, theme_id: theme.id, status: 'queued', input: { product: 'Desk' }, batch_id: batchId, batch_row: 3 },
      ])
      .returning('id')) as Array<{ id: string }>;
    expect(await h.listKeys('assets', rejectedRowsKey(clientId, batchId))).toEqual([]);

    worker = await startWorker({ config: h.config, worker: { concurrency: 1, waitTimeSeconds: 1, drainSeconds: 5 }, logger: log });
    await h.sqs.send(new SendMessageCommand({ QueueUrl: h.queues.batchDocJobs, MessageBody: JSON.stringify({ v: 1, orderId: last.id }) }));
    const completed = await until(async () => {
      const b = await h.db('batches').where({ id: batchId }).first();
      return b.status === 'completed' ? b : undefined;
    }, 20_000, 'the batch to complete');

    const manifest = JSON.parse((await h.storage.get('assets', completed.manifest_key)).toString('utf8')) as BatchManifest;
    expect(manifest.totals).toEqual({ rows: 4, documents: 2, succeeded: 2, failed: 0, rejected: 2 });
    expect(manifest.documents.map((d) => [d.line, d.orderId, d.status])).toEqual([
      [1, made.id, 'ready'],
      [3, last.id, 'ready'],
    ]);
    expect(manifest.rejected).toEqual([
      { line: 2, reason: REJECTED_REASON_LOST },
      { line: 4, reason: REJECTED_REASON_LOST },
    ]);

    // Past the visibility timeout a retried message would be back in hand, and in the DLQ after its second receive.
    await sleep(3_000);
    expect(await h.queueDepth(h.queues.batchDocJobs)).toEqual({ visible: 0, inFlight: 0 });
    expect(await h.queueDepth(h.queues.batchDocJobsDlq)).toEqual({ visible: 0, inFlight: 0 });
    expect(lines.filter((l) => l.msg === 'rejected-rows report missing; the manifest lists the rejected lines without their reasons')).toEqual([
      expect.objectContaining({ level: 'warn', batchId, key: rejectedRowsKey(clientId, batchId), rejected: 2 }),
    ]);
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
  }, 60_000);
});
