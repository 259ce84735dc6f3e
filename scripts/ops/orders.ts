import type { Knex } from 'knex';
import { createDbWith } from '../../core/db';
import type { Logger } from '../../core/logger';
import type { OrderStatus } from '../../core/models';
import { FAILED_AFTER_RETRIES, markRetried } from '../../core/domain/orders';
import { MAX_REQUEUES, OrderDeadlines } from '../../containers/doc-generation/deadlines';
import { QUEUES } from '../../core/contract';
import { DocJobQueue, docJobQueueOf, JobQueue } from '../../core/queue';
import { DocJobBacklog, lastMovedAt, sweepActionFor, sweepFailureReason, UnsettledStatus, whereNotMovedFor } from '../../containers/doc-generation/sweeper';
import type { Database } from './args';
import { UsageError } from '../../core/cli';
import { idlePage, minutes, namedRows, readOnly, resendJobs, ResendReport } from './stuck';

/**
 * Orders that stopped moving, and their doc jobs sent again.
 *
 * `stuck` is read-only SQL (a READ ONLY transaction) over the orders the sweeper looks at, with
 * the sweeper's own rules (containers/doc-generation/sweeper.ts: `whereNotMovedFor`,
 * `sweepActionFor`, `sweepFailureReason`) and deadlines (deadlines.ts, derived from the doc-jobs
 * queue as the worker derives them), so what it says is what a sweep would do. The sweeper only
 * runs inside a doc-generation task, and the service scales from zero on the queue's depth: an
 * order whose job was lost while the queue is empty waits for the next job of anyone.
 *
 * `requeue` reads the orders and sends a doc job for each that is paid, queued or generating,
 * under one request id for the run (`ops-<uuid>`). Its one write is the order's `updated_at`
 * (`resendJobs`, stuck.ts); the status is the worker's to move, by its own guarded transitions
 * (a live lease still wins, a final order drops the job).
 *
 * `failed` lists the orders the worker failed on a retryable error (FAILED_AFTER_RETRIES: core-llm,
 * Gemini, the database or S3 still failing on the message's last receive), and `retry` takes
 * such an order back to `queued` and sends its job: the one way back from a final state, which
 * a redrive cannot be (a redriven job finds the order final and is dropped). A separate command,
 * not a flag of `requeue`: requeue never moves a status and is harmless on any id, retry undoes
 * an outcome the client has seen, and only for that one reason.
 */
export interface StuckOrder {
  orderId: string;
  status: UnsettledStatus;
  requeues: number;
  /** The request that created it (`orders.request_id`): `npm run ops -- order <it>` tells its story. Null before the column. */
  requestId: string | null;
  batchId: string | null;
  batchRow: number | null;
  updatedAt: string;
  leaseUntil: string | null;
  /** Since its last sign of life (update, or a generating order's lease expiry). */
  idleMinutes: number;
  /** What a sweep would do now: re-send (`requeue`), `fail`, leave it (`defer`, its queue has a backlog), or nothing yet (`wait`: not stuck by its rule). */
  sweeper: 'requeue' | 'fail' | 'defer' | 'wait';
  why: string;
}

export interface StuckReport {
  olderThanMinutes: number;
  sweeper: { stuckAfterMinutes: number; maxRequeues: number; sweepEverySeconds: number };
  /** Visible messages in each doc-job queue, as the sweep reads them: while a queue has some, the sweeper re-sends none of its paid/queued orders and fails none of its orders. */
  docJobsBacklog: DocJobBacklog;
  count: number;
  truncated: boolean;
  orders: StuckOrder[];
}

/** Each job sent went to its order's queue (core/queue.ts docJobQueueOf): doc-jobs, or batch-doc-jobs for a batch's row. */
export type RequeueReport = ResendReport<'orderId', OrderStatus, { queue: string; note?: string }>;

export type SecretReader = (secretId: string) => Promise<string>;

/**
 * The database of the URL given (--database-url or DATABASE_URL). A URL without a user takes the
 * login of the secret (--db-secret, default `docplatform-<env>-db-app`, JSON {username, password}):
 * reach RDS through a tunnel and keep the password off the command line.
 */
export async function openDatabase(args: Database, defaultSecret: string, readSecret: SecretReader): Promise<Knex> {
  const url = new URL(args.url);
  const loginFrom = url.username ? '--database-url' : '--db-secret';
  if (!url.username) {
    const secretId = args.secret ?? defaultSecret;
    let login: { username?: unknown; password?: unknown };
    try {
      login = JSON.parse(await readSecret(secretId));
    } catch (err) {
      const e = err as Error;
      // No credentials is the person's to fix by logging in (the CLI's exit 2 naming them), as on any other AWS call of the tools.
      if (e.name === 'CredentialsProviderError') throw err;
      if (e.name === 'ResourceNotFoundException') {
        throw new UsageError('--db-secret', `no secret ${secretId}: name the login's secret with --db-secret, or give the user and password in --database-url`);
      }
      throw new Error(`cannot read the database login from secret ${secretId}: ${e.message}`);
    }
    if (typeof login.username !== 'string' || typeof login.password !== 'string') throw new Error(`secret ${secretId} is not JSON with username and password`);
    url.username = encodeURIComponent(login.username);
    url.password = encodeURIComponent(login.password);
  }
  const db = createDbWith({ database: { url: url.toString(), port: 5432, poolMax: 2 }, secrets: {} }, { applicationName: 'docplatform-ops', statementTimeoutMs: 30_000 });
  await refusalOf(db, url, loginFrom);
  return db;
}

/**
 * A connection tried first, with the pool's own settings (TLS included) but past core/db's
 * wrapper, which answers every failure "unavailable, please retry" for the services' clients: a
 * database or a login the server does not have is the command's to fix, and retrying never will.
 */
async function refusalOf(db: Knex, url: URL, loginFrom: '--database-url' | '--db-secret'): Promise<void> {
  const client = db.client as { acquireRawConnection(): Promise<unknown>; destroyRawConnection(connection: unknown): Promise<void> };
  let connection: unknown;
  try {
    connection = await client.acquireRawConnection();
  } catch (err) {
    const { code, message } = err as { code?: unknown; message: string };
    if (typeof code !== 'string' || !/^(28|3D)/.test(code)) return;
    await db.destroy();
    const where = `${url.hostname}:${url.port || 5432}`;
    throw new UsageError(code.startsWith('3D') ? '--database-url' : loginFrom, `the server at ${where} refused it: ${message}`);
  }
  await client.destroyRawConnection(connection).catch(() => undefined);
}

interface StuckRow {
  id: string;
  status: UnsettledStatus;
  requeues: number;
  request_id: string | null;
  batch_id: string | null;
  batch_row: number | null;
  updated_at: Date;
  generation_lease_until: Date | null;
  idle_ms: string | number;
}

export async function stuckOrders(db: Knex, deadlines: OrderDeadlines, backlog: DocJobBacklog, olderThanMs: number, limit: number): Promise<StuckReport> {
  const { rows, count } = await readOnly(db, (trx) =>
    idlePage<StuckRow>(
      trx,
      () => whereNotMovedFor(trx('orders'), trx, olderThanMs),
      lastMovedAt,
      ['id', 'status', 'requeues', 'request_id', 'batch_id', 'batch_row', 'updated_at', 'generation_lease_until'],
      limit,
    ),
  );
  const orders = rows.map((r): StuckOrder => {
    const idleMs = Number(r.idle_ms);
    const row = { status: r.status, requeues: r.requeues, batch_id: r.batch_id };
    let sweeper: StuckOrder['sweeper'];
    let why: string;
    if (idleMs < deadlines.stuckAfterMs) {
      sweeper = 'wait';
      why = `not stuck by the sweeper's rule yet: it acts after ${minutes(deadlines.stuckAfterMs)} min without a sign of life (in ${minutes(deadlines.stuckAfterMs - idleMs)} min)`;
    } else {
      sweeper = sweepActionFor(row, backlog, deadlines);
      why =
        sweeper === 'requeue'
          ? `the next sweep sends its doc job again (re-send ${r.requeues + 1} of ${deadlines.maxRequeues})`
          : sweeper === 'fail'
            ? `the next sweep fails it: "${sweepFailureReason(row)}"`
            : `the sweep leaves it while ${QUEUES[docJobQueueOf(row)]} has ${backlog[docJobQueueOf(row)]} visible message(s)${r.requeues < deadlines.maxRequeues ? '' : '; it fails it once the backlog is gone'}`;
    }
    return {
      orderId: r.id,
      status: r.status,
      requeues: r.requeues,
      requestId: r.request_id,
      batchId: r.batch_id,
      batchRow: r.batch_row,
      updatedAt: new Date(r.updated_at).toISOString(),
      leaseUntil: r.generation_lease_until ? new Date(r.generation_lease_until).toISOString() : null,
      idleMinutes: minutes(idleMs),
      sweeper,
      why,
    };
  });
  return {
    olderThanMinutes: minutes(olderThanMs),
    sweeper: { stuckAfterMinutes: minutes(deadlines.stuckAfterMs), maxRequeues: deadlines.maxRequeues, sweepEverySeconds: deadlines.sweepEveryMs / 1000 },
    docJobsBacklog: backlog,
    count,
    truncated: count > orders.length,
    orders,
  };
}

const REQUEUABLE: readonly OrderStatus[] = ['paid', 'queued', 'generating'];

/** What `orders requeue` and `orders retry` act on, and with: one object, so no call can swap two of its ids or names. */
export interface OrderJobsRun {
  db: Knex;
  jobs: Pick<JobQueue, 'sendDocJob'>;
  /** The queue names a report shows, by the queue each job goes to. */
  queueNames: Record<DocJobQueue, string>;
  orderIds: string[];
  /** The run's `ops-<uuid>`, on every job sent and log line. */
  requestId: string;
  log: Logger;
}

export async function requeueOrders({ db, jobs, queueNames, orderIds, requestId, log }: OrderJobsRun): Promise<RequeueReport> {
  const rows = await namedRows<{ id: string; status: OrderStatus; batch_id: string | null; requeues: number; generation_lease_until: Date | null; lease_live: boolean | null }>(
    db,
    'orders',
    orderIds,
    (trx) => ['id', 'status', 'batch_id', 'requeues', 'generation_lease_until', trx.raw('generation_lease_until > now() as lease_live')],
    'orderId',
  );
  return resendJobs({
    db,
    table: 'orders',
    key: 'orderId',
    rows,
    ids: orderIds,
    open: REQUEUABLE,
    skipWhy: (row) => (row.status === 'pending' ? 'not paid: its doc job is sent by the payment (Stripe webhook)' : `already ${row.status}: nothing to generate`),
    send: (row) => jobs.sendDocJob(row, { requestId }),
    sent: (row) => {
      // The job is sent all the same: the worker's fail ends the order (and counts it on its batch) at once, where a sweep would only once a task runs.
      const note = row.lease_live
        ? `a live attempt holds it until ${new Date(row.generation_lease_until!).toISOString()}: this job waits for that attempt to end or its lease to run out`
        : row.requeues > MAX_REQUEUES
          ? `${row.requeues} hand-offs, past the ${MAX_REQUEUES} the worker allows: it fails the order on its take ("document generation was interrupted too often"), as a sweep would; a requeue cannot make it`
          : undefined;
      return { queue: queueNames[docJobQueueOf(row)], ...(note ? { note } : {}) };
    },
    job: 'doc job',
    command: 'orders requeue',
    requestId,
    log,
  });
}

export interface FailedOrder {
  orderId: string;
  requestId: string | null;
  batchId: string | null;
  batchRow: number | null;
  /** When it became `failed` (its last update). */
  failedAt: string;
  requeues: number;
}

export interface FailedReport {
  sinceMinutes: number;
  reason: typeof FAILED_AFTER_RETRIES;
  /** Failed with FAILED_AFTER_RETRIES in the window: what `orders retry` takes. */
  count: number;
  truncated: boolean;
  /** Failed in the window for any other reason: `retry` refuses them. */
  otherFailures: number;
  orders: FailedOrder[];
}

/** Read-only: the orders failed with FAILED_AFTER_RETRIES in the last `sinceMs`, latest first. */
export async function failedOrders(db: Knex, sinceMs: number, limit: number): Promise<FailedReport> {
  return readOnly(db, async (trx) => {
    const inWindow = () => trx('orders').where({ status: 'failed' }).whereRaw(`updated_at > now() - ? * interval '1 millisecond'`, [sinceMs]);
    const rows = (await inWindow()
      .where({ error: FAILED_AFTER_RETRIES })
      .select('id', 'request_id', 'batch_id', 'batch_row', 'updated_at', 'requeues')
      .orderBy('updated_at', 'desc')
      .limit(limit)) as { id: string; request_id: string | null; batch_id: string | null; batch_row: number | null; updated_at: Date; requeues: number }[];
    const counts = (await inWindow()
      .select(trx.raw('count(*) filter (where error = ?) as transient', [FAILED_AFTER_RETRIES]), trx.raw('count(*) filter (where error is distinct from ?) as other', [FAILED_AFTER_RETRIES]))
      .first()) as { transient: string; other: string };
    return {
      sinceMinutes: minutes(sinceMs),
      reason: FAILED_AFTER_RETRIES,
      count: Number(counts.transient),
      truncated: Number(counts.transient) > rows.length,
      otherFailures: Number(counts.other),
      orders: rows.map((r) => ({
        orderId: r.id,
        requestId: r.request_id,
        batchId: r.batch_id,
        batchRow: r.batch_row,
        failedAt: new Date(r.updated_at).toISOString(),
        requeues: r.requeues,
      })),
    };
  });
}

export interface RetryReport {
  requestId: string;
  /** Back to `queued`, their job sent. `batch`: its count undone (`counted`), or the completed batch reopened (`reopened`). */
  retried: { orderId: string; queue: string; batchId?: string; batch?: 'counted' | 'reopened' }[];
  /** Not failed (any more): nothing to retry. */
  skipped: { orderId: string; status: OrderStatus; why: string }[];
  /** Queued again but their job could not be sent: `orders requeue <id>` sends it (the sweeper would, once a doc-generation task runs). */
  notSent: { orderId: string; error: string }[];
}

/**
 * failed (with FAILED_AFTER_RETRIES) → queued, then the doc job, for each order. Every id is
 * checked before anything changes: one that names no order, or an order failed for another
 * reason, stops the run (exit 2, each named). An order that is not failed is skipped (a second
 * run of the same retry).
 *
 * Each order moves in one transaction, guarded on `status = 'failed' AND error = FAILED_AFTER_RETRIES`
 * (a concurrent retry moves it once), with a fresh start: error cleared, `requeues` back to 0 (the
 * hand-offs of its failed round would otherwise count against the new one, and the worker fails
 * an order past maxRequeues on its take). A batch order's `failed` count on its batch is undone in
 * the same transaction; a batch already `completed` goes back to `processing` without its manifest
 * link, and the worker that ends the order writes a new manifest under a key of its own
 * (manifest-<completion>.json) and completes it again naming that key (batch-completion.ts); the
 * old manifest stays where it was, no longer linked. The job is sent after the commit: sent
 * inside it, a worker could read the order still `failed` and drop the job.
 */
export async function retryOrders({ db, jobs, queueNames, orderIds, requestId, log }: OrderJobsRun): Promise<RetryReport> {
  const byId = await namedRows<{ id: string; status: OrderStatus; error: string | null; batch_id: string | null }>(db, 'orders', orderIds, () => ['id', 'status', 'error', 'batch_id'], 'orderId');
  const refused = [...byId.values()].filter((r) => r.status === 'failed' && r.error !== FAILED_AFTER_RETRIES);
  if (refused.length > 0) {
    const named = refused.map((r) => `order ${r.id} failed with "${r.error ?? ''}"`).join('; ');
    throw new UsageError('orderId', `${named}: not retried, only an order failed with "${FAILED_AFTER_RETRIES}" is (a rejection fails again the same way; an interrupted one needs its story first: npm run ops -- order <id>); nothing done`);
  }
  const report: RetryReport = { requestId, retried: [], skipped: [], notSent: [] };
  for (const orderId of orderIds) {
    const row = byId.get(orderId)!;
    if (row.status !== 'failed') {
      report.skipped.push({ orderId, status: row.status, why: `not failed: ${REQUEUABLE.includes(row.status) ? 'already on its way again (orders stuck shows it if it stopped)' : row.status === 'ready' ? 'its document is made' : 'not paid yet'}` });
      continue;
    }
    const moved = await db.transaction(async (trx) => {
      const order = await markRetried(trx, orderId);
      if (!order?.batch_id) return order && { order };
      const batch = (await trx('batches').where({ id: order.batch_id }).forUpdate().first('status')) as { status: string };
      const reopen = batch.status === 'completed';
      await trx('batches')
        .where({ id: order.batch_id })
        .update({ failed: trx.raw('failed - 1'), updated_at: trx.fn.now(), ...(reopen ? { status: 'processing', manifest_key: null } : {}) });
      return { order, batch: reopen ? ('reopened' as const) : ('counted' as const) };
    });
    if (!moved) {
      const now = (await db('orders').where({ id: orderId }).first('status')) as { status: OrderStatus };
      report.skipped.push({ orderId, status: now.status, why: `moved on since it was read (now ${now.status})` });
      continue;
    }
    log.info('failed order queued again', { orderId, batchId: moved.order.batch_id ?? undefined, batch: moved.batch, requestId });
    try {
      await jobs.sendDocJob(moved.order, { requestId });
    } catch (err) {
      report.notSent.push({ orderId, error: (err as Error).message });
      log.error('failed order queued again, its doc job not sent: run orders requeue for it', { orderId, err });
      continue;
    }
    report.retried.push({ orderId, queue: queueNames[docJobQueueOf(moved.order)], ...(moved.order.batch_id ? { batchId: moved.order.batch_id, batch: moved.batch } : {}) });
  }
  return report;
}
