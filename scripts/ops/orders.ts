import type { Knex } from 'knex';
import { createDbWith } from '../../core/db';
import type { Logger } from '../../core/logger';
import type { OrderStatus } from '../../core/models';
import { OrderDeadlines } from '../../containers/doc-generation/deadlines';
import { DocJobQueue, docJobQueueOf, JobQueue } from '../../core/queue';
import { lastMovedAt, sweepActionFor, sweepFailureReason, UnsettledStatus, whereNotMovedFor } from '../../containers/doc-generation/sweeper';
import type { DatabaseArgs } from './args';
import { UsageError } from '../../core/cli';

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
 * (below); the status is the worker's to move, by its own guarded transitions (a live lease
 * still wins, a final order drops the job).
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
  /** What a sweep would do now: re-send (`requeue`), `fail`, leave it (`defer`, a backlog waits), or nothing yet (`wait`: not stuck by its rule). */
  sweeper: 'requeue' | 'fail' | 'defer' | 'wait';
  why: string;
}

export interface StuckReport {
  olderThanMinutes: number;
  sweeper: { stuckAfterMinutes: number; maxRequeues: number; sweepEverySeconds: number };
  /** Visible messages in doc-jobs and batch-doc-jobs together: while there are some, the sweeper re-sends no paid/queued order and fails nothing. */
  docJobsBacklog: number;
  count: number;
  truncated: boolean;
  orders: StuckOrder[];
}

export interface RequeueReport {
  requestId: string;
  /** Each job went to its order's queue (core/queue.ts docJobQueueOf): doc-jobs, or batch-doc-jobs for a batch's row. */
  sent: { orderId: string; status: OrderStatus; queue: string; note?: string }[];
  skipped: { orderId: string; status: OrderStatus; why: string }[];
}

const minutes = (ms: number): number => Math.round((ms / 60_000) * 10) / 10;

export type SecretReader = (secretId: string) => Promise<string>;

/**
 * The database of the URL given (--database-url or DATABASE_URL). A URL without a user takes the
 * login of the secret (--db-secret, default `docplatform-<env>-db-app`, JSON {username, password}):
 * reach RDS through a tunnel and keep the password off the command line.
 */
export async function openDatabase(args: DatabaseArgs, defaultSecret: string, readSecret: SecretReader): Promise<Knex> {
  if (!args.url) throw new UsageError('--database-url', 'required (or set DATABASE_URL): postgres://[user:password@]host:port/database');
  const url = new URL(args.url);
  if (!url.username) {
    const secretId = args.secret ?? defaultSecret;
    let login: { username?: unknown; password?: unknown };
    try {
      login = JSON.parse(await readSecret(secretId));
    } catch (err) {
      throw new Error(`cannot read the database login from secret ${secretId}: ${(err as Error).message}`);
    }
    if (typeof login.username !== 'string' || typeof login.password !== 'string') throw new Error(`secret ${secretId} is not JSON with username and password`);
    url.username = encodeURIComponent(login.username);
    url.password = encodeURIComponent(login.password);
  }
  return createDbWith({ database: { url: url.toString(), port: 5432, poolMax: 2 }, secrets: {} }, { applicationName: 'docplatform-ops', statementTimeoutMs: 30_000 });
}

const readOnly = <T>(db: Knex, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> =>
  db.transaction(async (trx) => {
    await trx.raw('SET TRANSACTION READ ONLY');
    return work(trx);
  });

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

export async function stuckOrders(db: Knex, deadlines: OrderDeadlines, backlog: number, olderThanMs: number, limit: number): Promise<StuckReport> {
  const { rows, count } = await readOnly(db, async (trx) => {
    const base = () => whereNotMovedFor(trx('orders'), trx, olderThanMs);
    const found = (await base()
      .select('id', 'status', 'requeues', 'request_id', 'batch_id', 'batch_row', 'updated_at', 'generation_lease_until')
      .select(trx.raw(`extract(epoch from now() - ${lastMovedAt}) * 1000 as idle_ms`))
      .orderByRaw(`${lastMovedAt} asc`)
      .limit(limit)) as StuckRow[];
    const [{ n }] = (await base().count<{ n: string }[]>('* as n')) as { n: string }[];
    return { rows: found, count: Number(n) };
  });
  const orders = rows.map((r): StuckOrder => {
    const idleMs = Number(r.idle_ms);
    const row = { status: r.status, requeues: r.requeues };
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
            : `the sweep leaves it while doc-jobs and batch-doc-jobs have ${backlog} visible message(s)${r.requeues < deadlines.maxRequeues ? '' : '; it fails it once the backlog is gone'}`;
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

const REQUEUABLE = new Set<OrderStatus>(['paid', 'queued', 'generating']);

/** An id that names no order is a mistake in the command: nothing is sent for any of them (exit 2). */
function refuseUnknown(orderIds: string[], found: Map<string, unknown>): void {
  const unknown = orderIds.filter((id) => !found.has(id));
  if (unknown.length > 0) throw new UsageError('orderId', `no order ${unknown.join(', ')}: nothing done (check the id${unknown.length > 1 ? 's' : ''})`);
}

export async function requeueOrders(
  db: Knex,
  jobs: Pick<JobQueue, 'sendDocJob'>,
  queueNames: Record<DocJobQueue, string>,
  orderIds: string[],
  requestId: string,
  log: Logger,
): Promise<RequeueReport> {
  const rows = await readOnly(db, async (trx) =>
    (await trx('orders').whereIn('id', orderIds).select('id', 'status', 'batch_id', 'generation_lease_until', trx.raw('generation_lease_until > now() as lease_live'))) as {
      id: string;
      status: OrderStatus;
      batch_id: string | null;
      generation_lease_until: Date | null;
      lease_live: boolean | null;
    }[],
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  refuseUnknown(orderIds, byId);
  const report: RequeueReport = { requestId, sent: [], skipped: [] };
  for (const orderId of orderIds) {
    const row = byId.get(orderId)!;
    if (!REQUEUABLE.has(row.status)) {
      const why = row.status === 'pending' ? 'not paid: its doc job is sent by the payment (Stripe webhook)' : `already ${row.status}: nothing to generate`;
      report.skipped.push({ orderId, status: row.status, why });
      continue;
    }
    await jobs.sendDocJob(row, { requestId });
    // A re-send restarts the order's idle clock, as the sweeper's own do: otherwise a sweep that
    // runs before a worker takes this job sees the order still stuck and sends a second one.
    await db('orders').where({ id: orderId }).whereIn('status', [...REQUEUABLE]).update({ updated_at: db.fn.now() });
    const note = row.lease_live
      ? `a live attempt holds it until ${new Date(row.generation_lease_until!).toISOString()}: this job waits for that attempt to end or its lease to run out`
      : undefined;
    report.sent.push({ orderId, status: row.status, queue: queueNames[docJobQueueOf(row)], ...(note ? { note } : {}) });
    log.info('doc job sent again', { orderId, status: row.status, requestId });
  }
  return report;
}
