import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from '../../core/logger';
import { isMissingObject, Storage } from '../../core/storage';
import { batchManifestKey, rejectedRowsKey } from '../../core/domain/batches';

/**
 * How a batch learns it is done, without a coordinator:
 *
 * - the b2b-batch worker raises `total_rows` as it commits rows (orders + rejected rows), counts
 *   rejected rows in `failed`, writes the rejected-rows report, and only then moves the batch
 *   `pending → processing`;
 * - the doc-generation worker counts each batch order's outcome (`succeeded` / `failed`) in the
 *   same transaction as the order's guarded transition to ready/failed, so each order counts
 *   exactly once however often its message is delivered;
 * - after committing, each of them calls `completeBatchIfDone`. Whoever commits last sees
 *   `processing` with `succeeded + failed = total_rows`, writes the manifest (at a key of its own
 *   completion, so a stale or concurrent writer never overwrites another's) and moves the batch
 *   `processing → completed` with `manifest_key` in a guarded UPDATE on the counts it read: the
 *   one whose counts still hold names the manifest. A crash between the two steps is repaired
 *   by the redelivered message, which runs the check again, and otherwise by the doc-generation
 *   sweeper (`findSettledBatches`, containers/doc-generation/sweeper.ts).
 *
 * Every batch order ends `ready` or `failed` and is counted once: by the attempt that ends it,
 * or by the sweeper when it gives up on an order whose doc job was lost (same transaction as
 * its guarded UPDATE, as here), so a batch never stays `processing` because of one stuck row.
 */
export interface RejectedRow {
  line: number;
  reason: string;
}

export interface BatchManifest {
  v: 1;
  batchId: string;
  clientId: string;
  themeId: string;
  completedAt: string;
  totals: { rows: number; documents: number; succeeded: number; failed: number; rejected: number };
  documents: Array<{ line: number; orderId: string; status: string; documentKey: string | null; error: string | null }>;
  rejected: RejectedRow[];
}

export interface BatchCompletionDeps {
  db: Knex;
  storage: Storage;
  /** Manifests and rejected-row reports sit next to the batch source, in the assets bucket (the gateway presigns them there). */
  batchBucket: string;
  logger: Logger;
}

/** The reason a manifest gives each rejected line when the batch's rejected-rows report is gone. */
export const REJECTED_REASON_LOST = 'rejected; its reason is lost (the batch’s rejected-rows report no longer exists)';

/** Counts an order's final outcome (or `orders` of them) on its batch; call inside the transaction that made them final. */
export async function countBatchOutcome(trx: Knex.Transaction, batchId: string, outcome: 'succeeded' | 'failed', orders = 1): Promise<void> {
  await trx('batches')
    .where({ id: batchId })
    .update({ [outcome]: trx.raw('?? + ?', [outcome, orders]), updated_at: trx.fn.now() });
}

/**
 * `processing` batches whose rows are all settled but that are still not completed `olderThanMs`
 * after their last count: their completion was missed (a crash right after the last commit).
 */
export async function findSettledBatches(db: Knex, olderThanMs: number): Promise<string[]> {
  const rows = (await db('batches')
    .where({ status: 'processing' })
    .whereRaw('succeeded + failed >= total_rows')
    .whereRaw(`updated_at < now() - ? * interval '1 millisecond'`, [olderThanMs])
    .select('id')
    .limit(100)) as Array<{ id: string }>;
  return rows.map((r) => r.id);
}

interface BatchRow {
  id: string;
  client_id: string;
  theme_id: string;
  status: string;
  total_rows: number;
  succeeded: number;
  failed: number;
}

/** Writes the manifest and completes the batch when every row is settled; true if it did. */
export async function completeBatchIfDone(deps: BatchCompletionDeps, batchId: string): Promise<boolean> {
  const { db, storage, batchBucket } = deps;
  const batch = (await db('batches').where({ id: batchId }).first()) as BatchRow | undefined;
  if (!batch || batch.status !== 'processing' || batch.succeeded + batch.failed < batch.total_rows) return false;

  const orders = (await db('orders')
    .where({ batch_id: batch.id })
    .orderBy('batch_row')
    .select('id', 'batch_row', 'status', 'document_key', 'error')) as Array<{ id: string; batch_row: number; status: string; document_key: string | null; error: string | null }>;
  const rejected = await readRejectedRows(deps, batch, new Set(orders.map((o) => o.batch_row)));
  const manifest: BatchManifest = {
    v: 1,
    batchId: batch.id,
    clientId: batch.client_id,
    themeId: batch.theme_id,
    completedAt: new Date().toISOString(),
    totals: {
      rows: batch.total_rows,
      documents: orders.length,
      succeeded: orders.filter((o) => o.status === 'ready').length,
      failed: orders.filter((o) => o.status === 'failed').length,
      rejected: rejected.length,
    },
    documents: orders.map((o) => ({ line: o.batch_row, orderId: o.id, status: o.status, documentKey: o.document_key, error: o.error })),
    rejected,
  };
  const key = batchManifestKey(batch.client_id, batch.id, randomUUID());
  await storage.put(batchBucket, key, JSON.stringify(manifest), 'application/json');
  // Only with the counts the manifest was made from: an order retried meanwhile (`orders retry`
  // undoes its count) is on its way again, and its own end completes the batch with a new manifest.
  const moved = await db('batches')
    .where({ id: batch.id, status: 'processing', total_rows: batch.total_rows, succeeded: batch.succeeded, failed: batch.failed })
    .update({ status: 'completed', manifest_key: key, updated_at: db.fn.now() });
  if (moved > 0) deps.logger.info('batch completed', { batchId: batch.id, ...manifest.totals, manifestKey: key });
  return moved > 0;
}

/**
 * The batch's rejected rows, from the report the batch worker wrote before `processing`. Should
 * that report be gone (deleted out of band), retrying cannot bring it back, and the batch would
 * never complete: the rejected lines are then the rows read (lines 1 to `total_rows`) that are no
 * order, each with REJECTED_REASON_LOST. Any other failure (AccessDenied, S3 unreachable) is thrown
 * and tried again.
 */
async function readRejectedRows(deps: BatchCompletionDeps, batch: BatchRow, orderLines: Set<number>): Promise<RejectedRow[]> {
  const key = rejectedRowsKey(batch.client_id, batch.id);
  try {
    return JSON.parse((await deps.storage.get(deps.batchBucket, key)).toString('utf8')) as RejectedRow[];
  } catch (err) {
    if (!isMissingObject(err)) throw err;
    const rejected = Array.from({ length: batch.total_rows }, (_, i) => i + 1)
      .filter((line) => !orderLines.has(line))
      .map((line) => ({ line, reason: REJECTED_REASON_LOST }));
    deps.logger.warn('rejected-rows report missing; the manifest lists the rejected lines without their reasons', { batchId: batch.id, key, rejected: rejected.length });
    return rejected;
  }
}
