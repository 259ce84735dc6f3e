import type { Knex } from 'knex';
import type { GenerationBudgetSettings } from '../../core/domain/generation-budget';
import type { S3Client } from '@aws-sdk/client-s3';
import { ORDER_STEPS } from '../../core/contract';
import type { Logger } from '../../core/logger';
import { findBatch, findTheme } from '../../core/models';
import { BatchJobMessage, JobQueue } from '../../core/queue';
import type { Storage } from '../../core/storage';
import { rejectedRowsKey, releaseDelaySeconds } from '../../core/domain/batches';
import { inputIssues } from '../../core/domain/themes';
import { completeBatchIfDone, RejectedRow } from '../shared/batch-completion';
import { DrainRequested, ReceivedMessage } from '../shared/consumer';
import { parseJobMessage, UnprocessableMessage } from '../shared/messages';
import { readRows, UnreadableSource } from './rows';
import { openSource } from './source';

/**
 * One batch job: the source rows → one `queued` order per good row (unique on
 * batch_id + batch_row, the row's line) → its doc job → progress counters → the rejected-rows
 * report → `processing`. The manifest is written by whoever settles the last row
 * (containers/shared/batch-completion.ts).
 *
 * Rows are committed in chunks. `total_rows` is the checkpoint: it counts the rows whose orders
 * (or rejections) are committed, in the same transaction. A redelivered job skips that many
 * rows, first re-sending the doc jobs of orders still `queued` (their send may not have
 * happened before the stop; a duplicate job is harmless). Between chunks the job yields to a
 * drain, so a SIGTERM never waits for a whole file.
 *
 * The rows' doc jobs go to batch-doc-jobs, which the doc-generation worker serves after the
 * interactive doc-jobs (core/queue.ts docJobQueueOf). One request id for the whole batch: the doc jobs of its rows carry the batch job's (the
 * gateway request that submitted it), and the doc-generation lines of each name its batch and row.
 */
export interface BatchJobDeps {
  db: Knex;
  s3: S3Client;
  storage: Storage;
  queue: JobQueue;
  /** Where the gateway stores batch sources; the rejected-rows report and the manifest go next to them. */
  batchBucket: string;
  logger: Logger;
  chunkSize?: number;
  /** The Gemini quota core-llm budgets: the pace at which the rows' doc jobs are released. */
  budget: GenerationBudgetSettings;
}

export function rowIssue(template: string, fields: unknown): string | undefined {
  const issues = inputIssues(template, fields, 'row');
  if (issues.length === 0) return undefined;
  return issues.map((i) => `${i.field.replace(/^row\./, '')}: ${i.message}`).join('; ');
}

/**
 * The batch's checkpoint or status moved under this delivery: another delivery of its job (a
 * client's retry of a still-pending batch, or the sweeper's re-send) is reading it. That one
 * holds its own message and carries the batch on; this one is done.
 */
class BatchTakenOver extends Error {
  constructor(readonly checkpoint: number) {
    super(`batch moved on under another delivery (checkpoint ${checkpoint})`);
  }
}

interface PendingRow {
  line: number;
  input: Record<string, string>;
}

export async function handleBatchJob(deps: BatchJobDeps, message: ReceivedMessage, draining: AbortSignal): Promise<void> {
  const { db } = deps;
  const chunkSize = deps.chunkSize ?? 100;
  const job = parseJobMessage(BatchJobMessage, message.body, 'batch job');
  const log = message.logger.child({ batchId: job.batchId });
  const trace = { requestId: message.requestId };

  const batch = await findBatch(db, job.batchId);
  if (!batch) throw new UnprocessableMessage(`batch ${job.batchId} does not exist`);
  if (batch.status === 'completed' || batch.status === 'failed') return;
  if (batch.status === 'processing') {
    await completeBatchIfDone({ ...deps, logger: log }, batch.id);
    return;
  }
  const theme = await findTheme(db, batch.theme_id);
  if (!theme) throw new UnprocessableMessage(`theme ${batch.theme_id} of batch ${batch.id} does not exist`);

  const fail = async (reason: string): Promise<void> => {
    await db('batches').where({ id: batch.id, status: 'pending' }).update({ status: 'failed', error: reason, updated_at: db.fn.now() });
    log.warn('batch failed', { reason });
  };
  // Released at the pace the Gemini quota can serve them, counted from this run's first doc job:
  // a resumed batch's re-sent rows first, then the rows it goes on to read.
  const releaseStart = Date.now();
  let released = 0;
  const unsent = (await db('orders').where({ batch_id: batch.id, status: 'queued' }).orderBy('batch_row').pluck('id')) as string[];
  if (unsent.length > 0) {
    await deps.queue.sendBatchDocJobs(unsent, trace, unsent.map((_, k) => releaseDelaySeconds(k, deps.budget)));
    released = unsent.length;
    log.info('resumed batch: doc jobs re-sent for queued orders', { orders: unsent.length, skipRows: batch.total_rows });
  }

  let checkpoint = batch.total_rows;
  let consumed = 0;
  let chunk: PendingRow[] = [];
  let chunkRejected = 0;
  const rejected: RejectedRow[] = [];

  const commitChunk = async (): Promise<void> => {
    if (consumed === checkpoint) return;
    const rows = chunk;
    const before = checkpoint;
    const created = await db.transaction(async (trx) => {
      const moved = await trx('batches')
        .where({ id: batch.id, total_rows: before, status: 'pending' })
        .update({ total_rows: consumed, failed: trx.raw('failed + ?', [chunkRejected]), updated_at: trx.fn.now() });
      if (moved !== 1) throw new BatchTakenOver(before);
      if (rows.length === 0) return [] as Array<{ id: string; batch_row: number }>;
      const inserted = await trx('orders')
        .insert(
          rows.map((r) => ({
            client_id: batch.client_id,
            theme_id: batch.theme_id,
            status: 'queued',
            input: r.input,
            batch_id: batch.id,
            batch_row: r.line,
            // The batch job's request id (the batch's creating request, or its replay that sent the job again).
            request_id: message.requestId,
          })),
        )
        .onConflict(['batch_id', 'batch_row'])
        .ignore()
        .returning(['id', 'batch_row']);
      return inserted as Array<{ id: string; batch_row: number }>;
    });
    const ids = created.map((o) => o.id);
    const elapsed = Math.floor((Date.now() - releaseStart) / 1000);
    await deps.queue.sendBatchDocJobs(ids, trace, ids.map((_, k) => Math.max(0, releaseDelaySeconds(released + k, deps.budget) - elapsed)));
    released += ids.length;
    // A batch order's first hop: created queued, its doc job sent under the batch's request id.
    for (const orderId of ids) log.info('order received', { step: ORDER_STEPS.received, orderId });
    checkpoint = consumed;
    chunk = [];
    chunkRejected = 0;
  };

  try {
    const source = await openSource(deps.s3, deps.batchBucket, batch.source_key);
    try {
      for await (const row of readRows(source)) {
        consumed += 1;
        const reason = rowIssue(theme.prompt_template, row.fields);
        if (reason) rejected.push({ line: row.line, reason });
        if (consumed <= checkpoint) continue;
        if (reason) chunkRejected += 1;
        // No issue: exactly the theme's fields, each a non-empty string.
        else chunk.push({ line: row.line, input: row.fields as Record<string, string> });
        if (consumed - checkpoint >= chunkSize) {
          await commitChunk();
          if (draining.aborted) {
            log.info('yielding batch to drain', { rowsCommitted: checkpoint });
            throw new DrainRequested();
          }
        }
      }
    } finally {
      source.destroy();
    }
    await commitChunk();
  } catch (err) {
    if (err instanceof UnreadableSource) return fail(err.message);
    if (err instanceof BatchTakenOver) {
      // Its orders and doc jobs are the other delivery's: nothing of this chunk was committed.
      log.info('batch read by another delivery; this one stops', { checkpoint: err.checkpoint });
      return;
    }
    throw err;
  }

  await deps.storage.put(deps.batchBucket, rejectedRowsKey(batch.client_id, batch.id), JSON.stringify(rejected), 'application/json');
  await db('batches').where({ id: batch.id, status: 'pending' }).update({ status: 'processing', updated_at: db.fn.now() });
  log.info('batch rows read', { rows: consumed, rejected: rejected.length, orders: consumed - rejected.length });
  await completeBatchIfDone({ ...deps, logger: log }, batch.id);
}
