import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { AppError } from '../../core/errors';
import type { InternalClient } from '../../core/internal-client';
import type { Logger } from '../../core/logger';
import { CUSTOM_METRICS, ORDER_STEPS } from '../../core/contract';
import { emfCount } from '../../core/metrics';
import { findOrder, findTheme } from '../../core/models';
import { attemptDocumentKey, FAILED_AFTER_RETRIES, GenerationLease, markFailed, markGenerating, markReady, releaseLease, renewLease } from '../../core/domain/orders';
import { DocJobMessage, DocJobOrder, JobQueue } from '../../core/queue';
import type { Storage } from '../../core/storage';
import { MAX_DELAY_SECONDS } from '../../core/domain/batches';
import { renderPrompt } from '../../core/domain/themes';
import { completeBatchIfDone, countBatchOutcome } from '../shared/batch-completion';
import { ReceivedMessage, RetryLater } from '../shared/consumer';
import type { Semaphore } from '../shared/semaphore';
import { OrderBusy, parseJobMessage, UnprocessableMessage } from '../shared/messages';
import { generateMarkdown } from './content';
import type { OrderDeadlines } from './deadlines';
import type { PdfRenderer } from './render/browser';
import { renderDocument } from './render/document';
import type { PandocOptions } from './render/pandoc';

/**
 * One doc job: order → content from core-llm → render per the theme's output format →
 * upload to `<clientId>/<orderId>.<ext>` in the reports bucket → order ready.
 *
 * Each run is one attempt with its own random owner id. Taking the order (`→ generating`)
 * records that owner and a lease, which the attempt renews while it works; a second delivery of
 * the same job (a duplicate message, a redelivery while the first is still running) finds the
 * lease live and does not render: its message comes back when that lease ends (`RetryLater`),
 * and is dropped once the order is final (on its last receive it is dropped at once: the
 * owner's own message carries the order). An attempt whose message the drain deadline releases
 * gives up its lease first (`beforeRelease`), so the next delivery takes the order at once, and
 * ends nothing of the order afterwards.
 * Only the owner moves the order to ready/failed. Each attempt uploads to a key of its own
 * (`attemptDocumentKey`), so an attempt that lost the order during a slow upload writes beside the
 * new owner's document, never over it, and its `markReady` is refused; it confirms it still owns
 * the order before uploading, so that only happens when the lease ends mid-upload. An
 * owner that dies stops renewing; its lease runs out before its message comes back
 * (deadlines.ts), and that delivery retakes the order.
 *
 * Redelivery is safe at every step: the order names exactly one document (`document_key`, set by
 * the owner's guarded UPDATE; an attempt that crashed after its upload leaves an object no order
 * names), every status change is a guarded UPDATE, and a message for an order that is already
 * final only repeats the batch bookkeeping.
 *
 * Over the generation budget is never a failure: the job (`RetryLater` from content.ts, with
 * core-llm's Retry-After) parks its lease until just before its message is back (which then
 * retakes the order at once) and the consumer gives the message back with that visibility,
 * leaving the order `generating`.
 *
 * How the order always ends (`ready` or `failed`, never stuck): here, `ready`, or `failed` on a
 * permanent error or on the last attempt's retryable error. An attempt that dies on the
 * message's last receive (drain deadline, crash, OOM) cannot end it, and the next receive sends
 * the message to the DLQ; so on the last receive the job first hands the order to a delayed
 * message of its own (`handOff`, counted in `orders.requeues`), which retakes the order if this
 * attempt dies and is dropped if it ends the order. Past `maxRequeues` such rounds the next take
 * fails the order instead of rendering. Whatever loses its job some other way, the sweeper
 * (sweeper.ts) re-sends or fails. Durations and limits: deadlines.ts.
 */
export interface DocJobDeps {
  db: Knex;
  storage: Storage;
  internal: InternalClient;
  pdf: PdfRenderer;
  /**
   * Renders at once (WORKER_RENDER_SLOTS, the PDF renderer's pages): a job holds one only while it
   * renders, not while it waits on core-llm, so the task holds more messages than it renders.
   */
  renderSlots: Semaphore;
  pandoc: PandocOptions;
  reportsBucket: string;
  /** Batch manifests live next to the batch sources (the gateway presigns them there). */
  batchBucket: string;
  logger: Logger;
  /** Lease, hand-off delay and retry limit, derived from the doc-jobs queue (deadlines.ts). */
  deadlines: OrderDeadlines;
  /** Sends the hand-off message on a job's last receive. */
  jobs: Pick<JobQueue, 'sendDocJob'>;
}

const FINAL = new Set(['ready', 'failed']);
/** How often, and how far apart, a delivery that finds its order still `pending` looks again for the payment's commit (2 s in all). */
const PAYMENT_COMMIT_CHECKS = 10;
const PAYMENT_COMMIT_WAIT_MS = 200;
/** A payment slower to commit than that: the message comes back this soon, not after its visibility timeout. */
const PAYMENT_COMMIT_RETRY_SECONDS = 5;

/** A client error from core-llm (bad prompt, theme inactive…) will not get better with retries; 429 will. */
const isPermanent = (err: unknown): boolean => err instanceof AppError && err.status >= 400 && err.status < 500 && err.status !== 429;

export async function handleDocJob(deps: DocJobDeps, message: ReceivedMessage): Promise<void> {
  const { db } = deps;
  const job = parseJobMessage(DocJobMessage, message.body, 'doc job');
  const order = await findOrder(db, job.orderId);
  if (!order) throw new UnprocessableMessage(`order ${job.orderId} does not exist`);
  // The message's logger carries its request id; a batch's orders also name their batch and row.
  const log = message.logger.child({ orderId: job.orderId, ...(order.batch_id ? { batchId: order.batch_id, batchRow: order.batch_row } : {}) });
  if (FINAL.has(order.status)) {
    log.info('order already final; nothing to render', { status: order.status });
    return settleBatch(deps, order.batch_id, log);
  }
  const lease: GenerationLease = { owner: randomUUID(), leaseMs: deps.deadlines.leaseMs };
  let taken = await markGenerating(db, order.id, lease);
  if (!taken) {
    let now = await findOrder(db, order.id);
    // A payment's job is sent before its transaction commits (docs/services.md, Webhook): a delivery
    // that arrives first reads the order `pending`, and `queued` a moment later. It takes the order
    // then, instead of leaving the message for its whole visibility timeout (180 s).
    for (let i = 0; !taken && i < PAYMENT_COMMIT_CHECKS && (now?.status === 'pending' || now?.status === 'paid' || now?.status === 'queued'); i++) {
      if (now.status === 'pending') await new Promise((r) => setTimeout(r, PAYMENT_COMMIT_WAIT_MS));
      taken = await markGenerating(db, order.id, lease);
      if (!taken) now = await findOrder(db, order.id);
    }
  }
  if (!taken) {
    const now = await findOrder(db, order.id);
    if (now && FINAL.has(now.status)) return settleBatch(deps, now.batch_id, log);
    if (now?.status === 'generating') {
      if (message.lastAttempt) {
        log.info('another attempt holds the order; dropping this duplicate delivery on its last receive');
        return;
      }
      // Its owner renews it while it lives: back when it would end, not after a whole visibility timeout.
      const afterSeconds = await leaseSecondsLeft(db, order.id);
      log.info('another attempt holds the order; message comes back when its lease ends', { afterSeconds });
      throw new RetryLater(afterSeconds, `order ${order.id}: another attempt holds its generation lease`);
    }
    if (now?.status === 'pending') throw new RetryLater(PAYMENT_COMMIT_RETRY_SECONDS, `order ${order.id} is still pending: its payment has not committed yet`);
    throw new Error(`order ${order.id} is ${now?.status ?? 'gone'}, not ready for generation`);
  }
  if (taken.requeues > deps.deadlines.maxRequeues) {
    // Only a hand-off message takes an order this far: every earlier round's last attempt was cut short.
    const reason = `document generation was interrupted too often (the worker stopped or crashed during ${taken.requeues} last attempts); giving up`;
    await failOrder(db, order.id, reason, lease.owner);
    log.error('order failed', { step: ORDER_STEPS.failed, reason, requeues: taken.requeues, ...emfCount(CUSTOM_METRICS.documentsFailed) });
    return settleBatch(deps, order.batch_id, log);
  }
  log.info('order taken for generation', { step: ORDER_STEPS.taken, requeues: taken.requeues });
  if (message.lastAttempt) await handOff(deps, order, lease.owner, message.requestId, log);
  const held = holdLease(db, order.id, lease, deps.deadlines.renewEveryMs, log);
  message.beforeRelease(() => held.giveUp());

  try {
    const theme = await findTheme(db, order.theme_id);
    if (!theme) throw new UnprocessableMessage(`theme ${order.theme_id} of order ${order.id} does not exist`);
    const started = Date.now();
    const markdown = await generateMarkdown(deps.internal, {
      clientId: order.client_id,
      orderId: order.id,
      prompt: renderPrompt(theme.prompt_template, order.input),
      traffic: order.batch_id ? 'batch' : 'interactive',
      requestId: message.requestId,
    });
    const generatedMs = Date.now() - started;
    log.info('content generated', { step: ORDER_STEPS.contentGenerated, chars: markdown.length, ms: generatedMs });
    let renderStarted = 0;
    // A B2C order's render goes before batch rows already waiting for a page.
    const doc = await deps.renderSlots.with(() => {
      renderStarted = Date.now();
      return renderDocument(
        { format: theme.output_format, themeSlug: theme.slug, themeTitle: theme.title, orderId: order.id, markdown, generatedAt: order.created_at },
        deps.pdf,
        deps.pandoc,
      );
    }, !order.batch_id);
    log.info('document rendered', { step: ORDER_STEPS.rendered, format: doc.ext, bytes: doc.body.length, ms: Date.now() - renderStarted });
    // This attempt's own key: should it lose the order during a slow upload, its object lands
    // beside the new owner's document instead of over it, and its markReady below is refused.
    const key = attemptDocumentKey(order, lease.owner, doc.ext);
    await held.confirm();
    const uploadStarted = Date.now();
    await deps.storage.put(deps.reportsBucket, key, doc.body, doc.contentType);
    log.info('document uploaded', { step: ORDER_STEPS.uploaded, bucket: deps.reportsBucket, key, ms: Date.now() - uploadStarted });
    const ready = await db.transaction(async (trx) => {
      const row = await markReady(trx, order.id, key, lease.owner);
      if (row?.batch_id) await countBatchOutcome(trx, row.batch_id, 'succeeded');
      return row;
    });
    if (!ready) throw new OrderBusy(order.id, `another attempt took it over before it was marked ready; this attempt's upload (${key}) is not its document`);
    log.info('document ready', { step: ORDER_STEPS.ready, format: doc.ext, bytes: doc.body.length, key, generatedMs, totalMs: Date.now() - started, ...emfCount(CUSTOM_METRICS.documentsProduced) });
  } catch (err) {
    // Given up at the drain deadline: the order is the next delivery's, which takes it at once. A
    // failure now (on the last receive) or a budget refusal (whose parked lease would hold the order
    // from that delivery) must not end or park it.
    if (held.givenUp()) {
      log.info('attempt ended after giving its order up at the drain deadline; the next delivery carries it on', { err });
      throw err;
    }
    // Over the generation budget: not a failure, even on the last attempt (its hand-off message carries the order on).
    if (err instanceof RetryLater) {
      // Waiting for the budget must not use up the message's receives (its last one would count a
      // hand-off against the order's maxRequeues): with one receive left, a fresh message, as delayed, takes over.
      const freshMessage = message.receivesLeft === 1;
      const backInSeconds = freshMessage ? Math.min(MAX_DELAY_SECONDS, err.afterSeconds) : err.afterSeconds;
      // The lease ends just before the message is back (which then takes the order at once), not now:
      // the tail of a big batch waits longer for its window than the sweeper's stuck threshold, and a
      // lease ended now would read as an attempt that died (re-sent, then failed), or be retaken early.
      // No renewal may land after the parking: it would hold the order for a whole lease past its window.
      await held.stopRenewing();
      await releaseLease(db, order.id, lease.owner, Math.max(0, backInSeconds - 1) * 1000).catch((e) => log.warn('lease release failed; it runs out by itself', { err: e }));
      if (freshMessage) {
        await deps.jobs.sendDocJob(order, { delaySeconds: backInSeconds, requestId: message.requestId });
        log.info('over the generation budget with one receive left; a fresh message takes the order on', { afterSeconds: err.afterSeconds });
        return;
      }
      log.info('over the generation budget; message given back', { afterSeconds: err.afterSeconds });
      throw err;
    }
    // Another attempt owns the order now: it ends it, this one touches nothing.
    if (err instanceof OrderBusy) {
      log.warn('lost the order to another attempt', { err });
      throw err;
    }
    const permanent = isPermanent(err) || err instanceof UnprocessableMessage;
    if (!permanent && !message.lastAttempt) throw err;
    // Final: the client sees `failed` with a reason; the message still reaches the DLQ when it was a retryable error.
    const reason = permanent ? `document generation rejected: ${(err as Error).message}` : FAILED_AFTER_RETRIES;
    const failed = await failOrder(db, order.id, reason, lease.owner);
    if (failed) log.error('order failed', { step: ORDER_STEPS.failed, reason, err, ...emfCount(CUSTOM_METRICS.documentsFailed) });
    else log.warn('generation failed after another attempt took the order over; leaving it to that attempt', { err });
    if (!permanent) throw err;
  } finally {
    held.stop();
  }
  return settleBatch(deps, order.batch_id, log);
}

/** The attempt's guarded generating → failed, counted on its batch in the same transaction. */
function failOrder(db: Knex, orderId: string, reason: string, owner: string): Promise<unknown> {
  return db.transaction(async (trx) => {
    const row = await markFailed(trx, orderId, reason, owner);
    if (row?.batch_id) await countBatchOutcome(trx, row.batch_id, 'failed');
    return row;
  });
}

/**
 * On a message's last receive, before any work: count one more doc job for the order and send
 * it, delayed, in one transaction (a failed send leaves the count as it was). If this attempt
 * dies, its message goes to the DLQ on its next receive, but the order still has a message that
 * retakes it; if the attempt ends the order, that message finds it final and is dropped. Best
 * effort: when it fails, the sweeper is the backstop.
 */
async function handOff(deps: DocJobDeps, order: DocJobOrder, owner: string, requestId: string, log: Logger): Promise<void> {
  try {
    await deps.db.transaction(async (trx) => {
      const n = await trx('orders').where({ id: order.id, status: 'generating', generation_owner: owner }).update({ requeues: trx.raw('requeues + 1') });
      if (n > 0) await deps.jobs.sendDocJob(order, { delaySeconds: deps.deadlines.successorDelaySeconds, requestId });
    });
    log.info('last receive: hand-off message sent', { delaySeconds: deps.deadlines.successorDelaySeconds });
  } catch (err) {
    log.warn('hand-off message not sent; the sweeper is the backstop', { err });
  }
}

/** Seconds until the order's lease ends, plus one so that it has ended when the message is back; at least 1. */
async function leaseSecondsLeft(db: Knex, orderId: string): Promise<number> {
  const row = (await db('orders')
    .where({ id: orderId })
    .first(db.raw('ceil(extract(epoch from generation_lease_until - now()))::int as seconds'))) as { seconds: number | null } | undefined;
  return Math.max(0, row?.seconds ?? 0) + 1;
}

interface HeldLease {
  /** Renews now and throws `OrderBusy` when the order is no longer this attempt's. */
  confirm(): Promise<void>;
  /** Stops renewing and ends the lease now (the order stays `generating`): this attempt will not upload. */
  giveUp(): Promise<void>;
  /** True once `giveUp` was called: this attempt ends nothing of the order. */
  givenUp(): boolean;
  /** Stops renewing, once the renewal in flight (if any) has landed: the lease can then be set for good. */
  stopRenewing(): Promise<void>;
  stop(): void;
}

/** Renews the attempt's lease every `everyMs` while it works. */
function holdLease(db: Knex, orderId: string, lease: GenerationLease, everyMs: number, log: Logger): HeldLease {
  let lost = false;
  let givenUp = false;
  const renew = async (): Promise<void> => {
    if (lost) return;
    try {
      if (!(await renewLease(db, orderId, lease))) lost = true;
    } catch (err) {
      log.warn('lease renewal failed; retrying at the next tick', { err });
    }
  };
  let renewing: Promise<void> | undefined;
  // One renewal at a time: a slow one (a busy database) is not joined by more, which could land
  // after the lease was given up or parked.
  const timer = setInterval(() => {
    renewing ??= renew().finally(() => (renewing = undefined));
  }, everyMs);
  timer.unref();
  const stopRenewing = async (): Promise<void> => {
    clearInterval(timer);
    await renewing;
  };
  return {
    confirm: async () => {
      if (!lost && !(await renewLease(db, orderId, lease))) lost = true;
      if (lost) throw new OrderBusy(orderId, 'its lease expired or was given up, and another attempt takes it over');
    },
    giveUp: async () => {
      lost = true;
      givenUp = true;
      // A renewal already sent would extend the lease again after the release.
      await stopRenewing();
      await releaseLease(db, orderId, lease.owner);
      log.info('drain deadline: lease given up; the next delivery takes the order at once');
    },
    givenUp: () => givenUp,
    stopRenewing,
    stop: () => clearInterval(timer),
  };
}

async function settleBatch(deps: DocJobDeps, batchId: string | null, log: Logger): Promise<void> {
  if (batchId) await completeBatchIfDone({ db: deps.db, storage: deps.storage, batchBucket: deps.batchBucket, logger: log }, batchId);
}
