import type { Knex } from 'knex';
import { AppError } from '../../functions/shared/errors';
import type { InternalClient } from '../../functions/shared/internal-client';
import type { Logger } from '../../functions/shared/logger';
import { findOrder, findTheme } from '../../functions/shared/models';
import { documentKeyFor, markFailed, markGenerating, markReady } from '../../functions/shared/orders';
import { DocJobMessage } from '../../functions/shared/queue';
import type { Storage } from '../../functions/shared/storage';
import { renderPrompt } from '../../functions/shared/themes';
import { completeBatchIfDone, countBatchOutcome } from '../shared/batch-completion';
import { DrainRequested, ReceivedMessage } from '../shared/consumer';
import { parseJobMessage, UnprocessableMessage } from '../shared/messages';
import { generateMarkdown } from './content';
import type { PdfRenderer } from './render/browser';
import { renderDocument } from './render/document';
import type { PandocOptions } from './render/pandoc';

/**
 * One doc job: order → content from core-llm → render per the theme's output format →
 * upload to `<clientId>/<orderId>.<ext>` in the reports bucket → order ready.
 *
 * Redelivery is safe at every step: the key is deterministic (a second run overwrites the same
 * object, so there is never a second document), every status change is a guarded UPDATE, and
 * a message for an order that is already final only repeats the batch bookkeeping.
 *
 * A drain is never a failure: a job that yields to it (`DrainRequested`, e.g. from the 429 wait
 * in content.ts) is released by the consumer and leaves the order as it was.
 */
export interface DocJobDeps {
  db: Knex;
  storage: Storage;
  internal: InternalClient;
  pdf: PdfRenderer;
  pandoc: PandocOptions;
  reportsBucket: string;
  /** Batch manifests live next to the batch sources (the gateway presigns them there). */
  batchBucket: string;
  logger: Logger;
  /** How long one job waits out core-llm's per-client rate limit before giving the message back. */
  rateLimitWaitMs?: number;
}

const FINAL = new Set(['ready', 'failed']);

/** A client error from core-llm (bad prompt, theme inactive…) will not get better with retries; 429 will. */
const isPermanent = (err: unknown): boolean => err instanceof AppError && err.status >= 400 && err.status < 500 && err.status !== 429;

export async function handleDocJob(deps: DocJobDeps, message: ReceivedMessage, draining: AbortSignal): Promise<void> {
  const { db, logger } = deps;
  const job = parseJobMessage(DocJobMessage, message.body, 'doc job');
  const log = logger.child({ orderId: job.orderId, messageId: message.id, receiveCount: message.receiveCount });

  const order = await findOrder(db, job.orderId);
  if (!order) throw new UnprocessableMessage(`order ${job.orderId} does not exist`);
  if (FINAL.has(order.status)) {
    log.info('order already final; nothing to render', { status: order.status });
    return settleBatch(deps, order.batch_id);
  }
  const taken = await markGenerating(db, order.id);
  if (!taken) {
    const now = await findOrder(db, order.id);
    if (now && FINAL.has(now.status)) return settleBatch(deps, now.batch_id);
    throw new Error(`order ${order.id} is ${now?.status ?? 'gone'}, not ready for generation`);
  }

  try {
    const theme = await findTheme(db, order.theme_id);
    if (!theme) throw new UnprocessableMessage(`theme ${order.theme_id} of order ${order.id} does not exist`);
    const started = Date.now();
    const markdown = await generateMarkdown(
      deps.internal,
      { clientId: order.client_id, orderId: order.id, prompt: renderPrompt(theme.prompt_template, order.input) },
      { signal: draining, maxWaitMs: deps.rateLimitWaitMs ?? 120_000 },
    );
    const generatedMs = Date.now() - started;
    const doc = await renderDocument(
      { format: theme.output_format, themeSlug: theme.slug, themeTitle: theme.title, orderId: order.id, markdown, generatedAt: order.created_at },
      deps.pdf,
      deps.pandoc,
    );
    const key = documentKeyFor(order, doc.ext);
    await deps.storage.put(deps.reportsBucket, key, doc.body, doc.contentType);
    await db.transaction(async (trx) => {
      const ready = await markReady(trx, order.id, key);
      if (ready?.batch_id) await countBatchOutcome(trx, ready.batch_id, 'succeeded');
    });
    log.info('document ready', { format: doc.ext, bytes: doc.body.length, key, generatedMs, totalMs: Date.now() - started });
  } catch (err) {
    // Yielded to a drain (SIGTERM during the rate-limit wait): not a failure, even on the last attempt; the consumer releases the message.
    if (err instanceof DrainRequested) {
      log.info('yielded to drain; message released');
      throw err;
    }
    const permanent = isPermanent(err) || err instanceof UnprocessableMessage;
    if (!permanent && !message.lastAttempt) throw err;
    // Final: the client sees `failed` with a reason; the message still reaches the DLQ when it was a retryable error.
    const reason = permanent ? `document generation rejected: ${(err as Error).message}` : 'document generation failed after repeated attempts';
    await db.transaction(async (trx) => {
      const failed = await markFailed(trx, order.id, reason);
      if (failed?.batch_id) await countBatchOutcome(trx, failed.batch_id, 'failed');
    });
    log.error('order failed', { reason, err });
    if (!permanent) throw err;
  }
  return settleBatch(deps, order.batch_id);
}

async function settleBatch(deps: DocJobDeps, batchId: string | null): Promise<void> {
  if (batchId) await completeBatchIfDone({ db: deps.db, storage: deps.storage, batchBucket: deps.batchBucket, logger: deps.logger }, batchId);
}
