import type { Knex } from 'knex';
import type { Logger } from '../../core/logger';
import type { BatchStatus } from '../../core/models';
import type { JobQueue } from '../../core/queue';
import { UNSETTLED } from '../../containers/doc-generation/sweeper';
import { idlePage, minutes, namedRows, readOnly, resendJobs, ResendReport } from './stuck';

/**
 * B2B batches that stopped moving, and their batch jobs sent again.
 *
 * Nothing else ends a batch whose job is gone: the doc-generation sweeper looks after orders,
 * and completes a `processing` batch whose rows are all settled, but no one re-sends a batch job.
 * A batch stays `pending` at its checkpoint (`total_rows`) when its job died in the batch-jobs
 * DLQ (containers/b2b-batch/handler.ts never fails a batch for a dependency), or when the order
 * service could not send it and the client, who gave an Idempotency-Key, never retried
 * (functions/order/app.ts; without a key the batch is failed then).
 *
 * `stuck` is read-only SQL (a READ ONLY transaction): `pending` and `processing` batches whose
 * last update (a committed chunk of rows, a settled order counted) is older than the threshold,
 * with what fixes each. `requeue` sends a batch job for each `pending` or `processing` batch,
 * under the run's request id: the worker resumes a pending batch from its checkpoint (a second
 * delivery of a batch being read stops at its first chunk, committing nothing) and completes a
 * processing one whose rows are all settled. Its one write is the batch's `updated_at`, so that a
 * second `stuck` run does not list it again while its job waits.
 */
const OPEN = ['pending', 'processing'] as const;
type OpenStatus = (typeof OPEN)[number];

export interface StuckBatch {
  batchId: string;
  clientId: string;
  status: OpenStatus;
  /** Rows read (the worker's checkpoint) of the rows submitted. */
  totalRows: number;
  submittedRows: number | null;
  succeeded: number;
  failed: number;
  /** Its orders not ended yet (paid, queued, generating). */
  unsettledOrders: number;
  /** Created with an Idempotency-Key: the client's retry of the same request also re-sends its job. */
  idempotencyKey: boolean;
  createdAt: string;
  updatedAt: string;
  idleMinutes: number;
  /** What moves it on: its batch job again, or its orders (`orders stuck`). */
  fix: 'batches requeue' | 'orders stuck';
  why: string;
}

export interface BatchJobsQueue {
  waiting: number;
  inFlight: number;
  /** Messages in the batch-jobs DLQ: a dead job's batch is among the stuck ones. */
  dlq: number;
}

export interface StuckBatchesReport {
  olderThanMinutes: number;
  batchJobs: BatchJobsQueue;
  count: number;
  truncated: boolean;
  batches: StuckBatch[];
}

export type BatchRequeueReport = ResendReport<'batchId', BatchStatus, { queue: string }>;

interface StuckRow {
  id: string;
  client_id: string;
  status: OpenStatus;
  total_rows: number;
  submitted_rows: number | null;
  succeeded: number;
  failed: number;
  idempotency_key: string | null;
  created_at: Date;
  updated_at: Date;
  idle_ms: string | number;
}

function fixOf(r: StuckRow, unsettled: number, queue: BatchJobsQueue): Pick<StuckBatch, 'fix' | 'why'> {
  if (r.status === 'pending') {
    const read = `${r.total_rows} of ${r.submitted_rows ?? '?'} row(s) read`;
    const where =
      queue.dlq > 0
        ? `; batch-jobs-dlq holds ${queue.dlq} message(s): dlq show batch-jobs names their batches, and a redrive resumes them too`
        : queue.waiting > 0
          ? `; batch-jobs has ${queue.waiting} waiting, its job may be among them (a requeue is harmless: the second delivery stops at its first chunk)`
          : '';
    return { fix: 'batches requeue', why: `${read}, no job is reading it: batches requeue resumes it from row ${r.total_rows + 1}${where}` };
  }
  if (unsettled > 0) return { fix: 'orders stuck', why: `every row read; ${unsettled} of its orders not ended: orders stuck lists those that stopped, the sweeper re-sends or fails them` };
  return { fix: 'batches requeue', why: 'every row read and every order ended, its completion missed: batches requeue completes it (the doc-generation sweeper does too, when a task runs)' };
}

export async function stuckBatches(db: Knex, queue: BatchJobsQueue, olderThanMs: number, limit: number): Promise<StuckBatchesReport> {
  const { rows, count, unsettled } = await readOnly(db, async (trx) => {
    const page = await idlePage<StuckRow>(
      trx,
      () => trx('batches').whereIn('status', [...OPEN]).whereRaw(`updated_at < now() - ? * interval '1 millisecond'`, [olderThanMs]),
      'updated_at',
      ['id', 'client_id', 'status', 'total_rows', 'submitted_rows', 'succeeded', 'failed', 'idempotency_key', 'created_at', 'updated_at'],
      limit,
    );
    const perBatch = page.rows.length === 0
      ? []
      : ((await trx('orders').whereIn('batch_id', page.rows.map((r) => r.id)).whereIn('status', [...UNSETTLED]).groupBy('batch_id').select('batch_id').count('* as n')) as { batch_id: string; n: string }[]);
    return { ...page, unsettled: new Map(perBatch.map((u) => [u.batch_id, Number(u.n)])) };
  });
  return {
    olderThanMinutes: minutes(olderThanMs),
    batchJobs: queue,
    count,
    truncated: count > rows.length,
    batches: rows.map((r): StuckBatch => {
      const open = unsettled.get(r.id) ?? 0;
      return {
        batchId: r.id,
        clientId: r.client_id,
        status: r.status,
        totalRows: r.total_rows,
        submittedRows: r.submitted_rows,
        succeeded: r.succeeded,
        failed: r.failed,
        unsettledOrders: open,
        idempotencyKey: r.idempotency_key !== null,
        createdAt: new Date(r.created_at).toISOString(),
        updatedAt: new Date(r.updated_at).toISOString(),
        idleMinutes: minutes(Number(r.idle_ms)),
        ...fixOf(r, open, queue),
      };
    }),
  };
}

/** What `batches requeue` acts on, and with. */
export interface BatchJobsRun {
  db: Knex;
  jobs: Pick<JobQueue, 'sendBatchJob'>;
  /** The batch-jobs queue's name, as the report shows it. */
  queueName: string;
  batchIds: string[];
  /** The run's `ops-<uuid>`, on every job sent and log line. */
  requestId: string;
  log: Logger;
}

export async function requeueBatches({ db, jobs, queueName, batchIds, requestId, log }: BatchJobsRun): Promise<BatchRequeueReport> {
  const rows = await namedRows<{ id: string; status: BatchStatus }>(db, 'batches', batchIds, () => ['id', 'status'], 'batchId');
  return resendJobs({
    db,
    table: 'batches',
    key: 'batchId',
    rows,
    ids: batchIds,
    open: OPEN as readonly BatchStatus[],
    skipWhy: (row) => `already ${row.status}: nothing to resume`,
    send: (row) => jobs.sendBatchJob(row.id, { requestId }),
    sent: () => ({ queue: queueName }),
    job: 'batch job',
    command: 'batches requeue',
    requestId,
    log,
  });
}
