import { randomUUID } from 'node:crypto';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Knex } from 'knex';
import { ORDER_STEPS } from '../../core/contract';
import type { Logger } from '../../core/logger';
import { DOC_JOB_QUEUES, DocJobQueue, docJobQueueOf, DocJobQueueUrls, JobQueue, whereOfDocJobQueue } from '../../core/queue';
import type { Storage } from '../../core/storage';
import { completeBatchIfDone, countBatchOutcome, findSettledBatches } from '../shared/batch-completion';
import type { OrderDeadlines } from './deadlines';

/**
 * The backstop that ends every paid order: it finds unsettled orders (`paid`, `queued`,
 * `generating`) that have lost their doc job and either sends them a new one or marks them
 * `failed`. Each doc-generation task runs it at start and every `sweepEveryMs` (worker.ts).
 *
 * An order is *stuck* when it has not moved for `stuckAfterMs` = (maxReceiveCount + 1) ×
 * visibility timeout (deadlines.ts): no take, no lease renewal (a `generating` order's clock is
 * its lease expiry), no re-send. No message can still be alive for it then: a message lives at
 * most maxReceiveCount receives of one visibility timeout each before the DLQ takes it. How it
 * got there: its job was never sent (a `paid` order whose send failed), or its message died
 * without moving it (every receive failed before the take, e.g. while the database was
 * unreachable), or an attempt died and its hand-off message could not be sent.
 *
 * - `orders.requeues < maxRequeues` → one more doc job (`requeues + 1`, `updated_at` restarts the
 *   clock, `paid` becomes `queued`); the next delivery takes the order (a `generating` order's
 *   lease has long expired).
 * - otherwise → `failed` with a reason the client can read, counted on its batch in the same
 *   transaction (batch-completion.ts), and the batch completes if that was its last row.
 *
 * While an order's own doc-job queue (docJobQueueOf: doc-jobs for a B2C order, batch-doc-jobs for
 * a batch's row) has visible messages waiting, a `paid`/`queued` order is left alone (its message
 * may just be waiting in that backlog: re-sending them all would double it) and it is not failed;
 * a `generating` order with a dead lease is still re-sent (bounded by `maxRequeues`, and
 * harmless: the lease lets only one delivery render). The other queue's backlog is no reason to
 * wait: a B2C job is served before any batch row, so batch-doc-jobs' messages cannot hide it.
 * Each queue's orders are claimed apart, its dead attempts first, so the deferred orders of one
 * cannot fill every sweep.
 *
 * Safe on several tasks at once: candidates are locked with `FOR UPDATE SKIP LOCKED` (another
 * sweeper skips them), the send happens inside that transaction (a failed send rolls the count
 * back), and every UPDATE repeats its guard. A delivery that tries to take a locked order waits
 * for the sweeper's commit and then sees the new state.
 *
 * It also completes batches whose rows are all settled but whose completion was missed (a crash
 * between the last order's commit and `completeBatchIfDone`).
 *
 * Each sweep has a request id of its own (`sweep-<uuid>`): its lines carry it, and so do the doc
 * jobs it sends, so a re-sent order's next lines name the sweep that re-sent it. The rules
 * (`whereNotMovedFor`, `lastMovedAt`, `docJobsBacklog`, `sweepActionFor`, `sweepFailureReason`) are exported for the ops
 * tools (`npm run ops -- orders stuck`), which say what a sweep would do without doing it.
 */
export interface SweepDeps {
  db: Knex;
  storage: Storage;
  batchBucket: string;
  logger: Logger;
  jobs: Pick<JobQueue, 'sendDocJob'>;
  deadlines: OrderDeadlines;
  backlog(): Promise<DocJobBacklog>;
}

/** Visible messages waiting in each doc-job queue (ApproximateNumberOfMessages). */
export type DocJobBacklog = Record<DocJobQueue, number>;

/** The sweep's backlog, queue by queue (the worker's, and `ops orders stuck`'s). */
export async function docJobsBacklog(sqs: SQSClient, queues: DocJobQueueUrls): Promise<DocJobBacklog> {
  const depths = await Promise.all(
    DOC_JOB_QUEUES.map(async (queue) => {
      const a = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queues[queue], AttributeNames: ['ApproximateNumberOfMessages'] }));
      return [queue, Number(a.Attributes?.ApproximateNumberOfMessages ?? 0)] as const;
    }),
  );
  return Object.fromEntries(depths) as DocJobBacklog;
}

export interface SweepReport {
  requeued: string[];
  failed: string[];
  /** Stuck orders left for later because their doc-job queue has a backlog. */
  deferred: number;
  batchesCompleted: number;
}

/** Candidates per doc-job queue and transaction; the next sweep takes the rest. */
const SWEEP_BATCH = 50;

/** The statuses of an order that is paid for and not yet ended. */
export const UNSETTLED = ['paid', 'queued', 'generating'] as const;
export type UnsettledStatus = (typeof UNSETTLED)[number];

/** An order's last sign of life, as SQL over `orders`: its last update, or a `generating` order's lease expiry if later. */
export const lastMovedAt = `greatest(updated_at, coalesce(generation_lease_until, updated_at))`;

/** Narrows a query on `orders` to the unsettled orders that have not moved for `ms` (their last sign of life is older). */
export function whereNotMovedFor(query: Knex.QueryBuilder, db: Knex, ms: number): Knex.QueryBuilder {
  const stale = db.raw(`now() - ? * interval '1 millisecond'`, [ms]);
  return (
    query
      .whereIn('status', [...UNSETTLED])
      // updated_at alone uses the partial index; the lease expiry is a generating order's last sign of life.
      .where('updated_at', '<', stale)
      .whereRaw(`coalesce(generation_lease_until, updated_at) < ?`, [stale])
  );
}

export interface SweepCandidate {
  status: UnsettledStatus;
  requeues: number;
  /** Its batch, which names its queue (docJobQueueOf). */
  batch_id: string | null;
}

interface StuckRow extends SweepCandidate {
  id: string;
}

/**
 * What a sweep does with an order that has not moved for `stuckAfterMs`, given the `backlog` of
 * the doc-job queues: re-send its doc job, fail it, or leave it for a later sweep.
 */
export type SweepAction = 'requeue' | 'fail' | 'defer';

export function sweepActionFor(row: SweepCandidate, backlog: DocJobBacklog, deadlines: Pick<OrderDeadlines, 'maxRequeues'>): SweepAction {
  // Only its own queue can hold its message back: doc-jobs is served before any batch row.
  const waiting = backlog[docJobQueueOf(row)];
  // Its message may just be waiting behind that backlog.
  if (waiting > 0 && row.status !== 'generating') return 'defer';
  if (row.requeues < deadlines.maxRequeues) return 'requeue';
  // Nor is it failed while that backlog waits.
  return waiting > 0 ? 'defer' : 'fail';
}

/** The reason a sweep writes on an order it fails (the client reads it). */
export const sweepFailureReason = (row: SweepCandidate): string =>
  row.status === 'generating'
    ? `document generation was interrupted and could not be resumed after ${row.requeues + 1} tries; giving up`
    : `document generation never started: its job was lost ${row.requeues + 1} times; giving up`;

export async function sweepStuckOrders(deps: SweepDeps): Promise<SweepReport> {
  const { db, deadlines } = deps;
  const requestId = `sweep-${randomUUID()}`;
  const log = deps.logger.child({ component: 'sweeper', requestId });
  const backlog = await deps.backlog();
  const report: SweepReport = { requeued: [], failed: [], deferred: 0, batchesCompleted: 0 };
  const failedPerBatch = new Map<string, number>();

  await db.transaction(async (trx) => {
    const rows: StuckRow[] = [];
    // Queue by queue: SWEEP_BATCH older batch rows deferred behind their backlog at every sweep
    // would otherwise keep a B2C order, which that backlog does not defer, out of every sweep's claim.
    for (const queue of DOC_JOB_QUEUES) {
      const ofQueue = whereOfDocJobQueue(whereNotMovedFor(trx('orders').select('id', 'status', 'requeues', 'batch_id'), trx, deadlines.stuckAfterMs), queue);
      rows.push(
        ...((await ofQueue
          // A dead attempt's order first, the one a backlog does not defer (sweepActionFor): behind
          // SWEEP_BATCH older paid/queued orders, deferred at every sweep, it was never reached.
          .orderByRaw(`(status = 'generating' and requeues < ?) desc, updated_at`, [deadlines.maxRequeues])
          .limit(SWEEP_BATCH)
          .forUpdate()
          .skipLocked()) as StuckRow[]),
      );
    }

    for (const row of rows) {
      const action = sweepActionFor(row, backlog, deadlines);
      if (action === 'defer') {
        report.deferred += 1;
        continue;
      }
      if (action === 'requeue') {
        const n = await trx('orders')
          .where({ id: row.id })
          .whereIn('status', [...UNSETTLED])
          .update({
            requeues: trx.raw('requeues + 1'),
            status: trx.raw(`CASE WHEN status = 'paid' THEN 'queued' ELSE status END`),
            updated_at: trx.fn.now(),
          });
        if (n > 0) {
          await deps.jobs.sendDocJob(row, { requestId });
          report.requeued.push(row.id);
        }
        continue;
      }
      const reason = sweepFailureReason(row);
      const failed = await trx('orders')
        .where({ id: row.id })
        .whereIn('status', [...UNSETTLED])
        .update({ status: 'failed', error: reason, generation_owner: null, generation_lease_until: null, updated_at: trx.fn.now() })
        .returning('batch_id');
      if (failed.length > 0) {
        if (row.batch_id) failedPerBatch.set(row.batch_id, (failedPerBatch.get(row.batch_id) ?? 0) + 1);
        report.failed.push(row.id);
      }
    }
    // Counted after the orders and batch by batch in id order, not in the rows' order: two sweeps
    // (one per task) holding orders of the same batches would otherwise each lock one batch and
    // wait for the other's. Every other writer takes one order, then its one batch.
    for (const batchId of [...failedPerBatch.keys()].sort()) await countBatchOutcome(trx, batchId, 'failed', failedPerBatch.get(batchId));
  });

  for (const id of report.requeued) log.warn('stuck order: doc job sent again', { orderId: id, step: ORDER_STEPS.requeued });
  for (const id of report.failed) log.error('stuck order failed', { orderId: id, step: ORDER_STEPS.failed });

  const completion = { db, storage: deps.storage, batchBucket: deps.batchBucket, logger: log };
  for (const batchId of new Set([...failedPerBatch.keys(), ...(await findSettledBatches(db, deadlines.stuckAfterMs))])) {
    // One batch that cannot be completed now (its report unreadable, S3 refusing) must not hold
    // back the others, sweep after sweep: it is logged and tried again next time.
    try {
      if (await completeBatchIfDone(completion, batchId)) report.batchesCompleted += 1;
    } catch (err) {
      log.warn('batch completion failed; tried again at the next sweep', { batchId, err });
    }
  }
  return report;
}

export interface SweeperLoop {
  /** Stops the timer and waits for a sweep in progress. */
  stop(): Promise<void>;
}

/** Runs `sweepStuckOrders` now and every `deadlines.sweepEveryMs`, one sweep at a time; errors are logged, never thrown. */
export function startSweeper(deps: SweepDeps): SweeperLoop {
  const log = deps.logger.child({ component: 'sweeper' });
  let running: Promise<void> = Promise.resolve();
  let busy = false;
  let stopped = false;
  const tick = (): void => {
    // One sweep at a time per task: a slow one delays the next instead of piling up.
    if (stopped || busy) return;
    busy = true;
    running = sweepStuckOrders(deps).then(
      (r) => {
        if (r.requeued.length + r.failed.length + r.batchesCompleted > 0 || r.deferred > 0) {
          log.info('sweep', { requeued: r.requeued.length, failed: r.failed.length, deferred: r.deferred, batchesCompleted: r.batchesCompleted });
        }
      },
      (err) => log.warn('sweep failed; retrying at the next tick', { err }),
    ).finally(() => {
      busy = false;
    });
  };
  tick();
  const timer = setInterval(tick, deps.deadlines.sweepEveryMs);
  timer.unref();
  return {
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
