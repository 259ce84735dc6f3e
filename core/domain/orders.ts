import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Db, Order, OrderStatus } from '../models';

/**
 * The order status machine, shared by the services and the workers:
 *   pending → paid → queued → generating → ready | failed
 * Every transition is one guarded UPDATE (`WHERE status IN (…allowed sources)`), so concurrent
 * or redelivered work can never move an order backwards or skip a step. Each transition
 * (`mark…`) returns the updated row, or undefined when the order is not in a state it accepts.
 * Only `queued` and `generating` accept an order already in the target state (`generating`
 * under the lease rule below); `paid`, `ready` and `failed` do not: a call that gets undefined
 * did not move the order.
 *
 * One move goes back, by hand: `failed → queued` (markRetried, `npm run ops -- orders retry`), only
 * for an order failed with FAILED_AFTER_RETRIES, once what was down is back.
 *
 * `generating` has an owner: the attempt that took the order records a random owner id and a
 * lease (`generation_owner`, `generation_lease_until`), renews the lease while it works, and is
 * the only one that can move the order to ready or failed. A second delivery of the same job
 * cannot take the order while the lease is live; once it has expired (the owner crashed, was
 * OOM-killed or stopped), the next delivery retakes it and the old owner is fenced off.
 */
export const TRANSITIONS: Record<Exclude<OrderStatus, 'pending'>, OrderStatus[]> = {
  // Not idempotent: only the caller that moves the order sends its doc job (functions/order/app.ts).
  paid: ['pending'],
  queued: ['paid', 'queued'],
  // A doc job may arrive before the sender has recorded `queued`. `generating → generating` is
  // a retake, allowed only once the owner's lease has expired (markGenerating adds that guard).
  generating: ['paid', 'queued', 'generating'],
  ready: ['generating'],
  failed: ['pending', 'paid', 'queued', 'generating'],
};

/** The lease columns (migration 20261201_002); set together, and only while `generating`. */
export interface GenerationLeaseColumns {
  generation_owner: string | null;
  generation_lease_until: Date | null;
}

/** Doc jobs sent for the order after its first one (migration 20261201_004; containers/doc-generation/sweeper.ts). */
export interface RequeueColumns {
  requeues: number;
}

export type LeasedOrder = Order & GenerationLeaseColumns & RequeueColumns;

/** Who takes an order for generation, and for how long before another attempt may retake it. */
export interface GenerationLease {
  owner: string;
  leaseMs: number;
}

/** Used when a caller takes an order without naming a lease (tests; the worker always names its own): what the worker derives from the doc-jobs queue (half its 180 s visibility timeout). */
const DEFAULT_LEASE_MS = 90_000;

type Guard = (q: Knex.QueryBuilder) => void;

async function transition(db: Db, orderId: string, to: keyof typeof TRANSITIONS, set: Record<string, unknown> = {}, guard?: Guard): Promise<LeasedOrder | undefined> {
  const rows = await db('orders')
    .update({ ...set, status: to, updated_at: db.fn.now() })
    .where({ id: orderId })
    .where((q) => (guard ? guard(q) : q.whereIn('status', TRANSITIONS[to])))
    .returning('*');
  return rows[0] as LeasedOrder | undefined;
}

const leaseUntil = (db: Db, leaseMs: number): Knex.Raw => db.raw(`now() + ? * interval '1 millisecond'`, [Math.max(1, Math.round(leaseMs))]);
const releasedLease = { generation_owner: null, generation_lease_until: null };

/** `generating` and owned by `owner` (whatever the lease says: an owner that was not retaken may still finish). */
const ownedBy =
  (owner: string): Guard =>
  (q) =>
    q.where({ status: 'generating', generation_owner: owner });

/** pending → paid. Undefined when the order is no longer pending: another call already moved it. */
export const markPaid = (db: Db, orderId: string): Promise<Order | undefined> => transition(db, orderId, 'paid');

/** paid → queued, once the doc job is in the queue. */
export const markQueued = (db: Db, orderId: string): Promise<Order | undefined> => transition(db, orderId, 'queued');

/**
 * paid | queued → generating, when a worker takes the job, recording `lease.owner` and a lease
 * of `lease.leaseMs`. A `generating` order is retaken only when its lease has expired (or it has
 * no owner: taken before leases existed), or by its own owner. Undefined: not takeable now
 * (final, not paid yet, or another attempt holds a live lease).
 */
export const markGenerating = (db: Db, orderId: string, lease: GenerationLease = { owner: randomUUID(), leaseMs: DEFAULT_LEASE_MS }): Promise<LeasedOrder | undefined> =>
  transition(db, orderId, 'generating', { error: null, generation_owner: lease.owner, generation_lease_until: leaseUntil(db, lease.leaseMs) }, (q) =>
    q
      .whereIn('status', TRANSITIONS.generating.filter((s) => s !== 'generating'))
      .orWhere((retake) =>
        retake
          .where('status', 'generating')
          .andWhere((free) => free.whereNull('generation_lease_until').orWhere('generation_lease_until', '<=', db.fn.now()).orWhere('generation_owner', lease.owner)),
      ),
  );

/** Extends the owner's lease to `leaseMs` from now; false when the order is no longer this owner's (retaken or final). */
export async function renewLease(db: Db, orderId: string, lease: GenerationLease): Promise<boolean> {
  const n = await db('orders')
    .update({ generation_lease_until: leaseUntil(db, lease.leaseMs) })
    .where({ id: orderId, status: 'generating', generation_owner: lease.owner });
  return n > 0;
}

/**
 * Ends the owner's lease now (the order stays `generating`) so the next delivery retakes it at once:
 * a drain, not a failure. With `inMs`, it ends then: a job over the generation budget parks its
 * order until its message is due back, so no other delivery retakes it early and the sweeper reads
 * it as waiting, not stuck.
 */
export async function releaseLease(db: Db, orderId: string, owner: string, inMs = 0): Promise<boolean> {
  const n = await db('orders')
    .update({ generation_lease_until: inMs > 0 ? leaseUntil(db, inMs) : db.fn.now() })
    .where({ id: orderId, status: 'generating', generation_owner: owner });
  return n > 0;
}

/**
 * generating → ready with the document's key. With `owner` (the worker always passes it), only
 * that attempt succeeds. A second call for a ready order returns undefined: the caller reads
 * the order and sees it is already done.
 */
export const markReady = (db: Db, orderId: string, documentKey: string, owner?: string): Promise<LeasedOrder | undefined> =>
  transition(db, orderId, 'ready', { document_key: documentKey, error: null, ...releasedLease }, owner ? ownedBy(owner) : undefined);

/**
 * pending (checkout expired/failed) | paid | queued | generating → failed with a message for the
 * client (never a stack trace). With `owner` (the worker's path), only from `generating` and only
 * for that attempt.
 */
export const markFailed = (db: Db, orderId: string, error: string, owner?: string): Promise<LeasedOrder | undefined> =>
  transition(db, orderId, 'failed', { error: error.slice(0, 1000), ...releasedLease }, owner ? ownedBy(owner) : undefined);

/**
 * pending → failed for an order whose checkout the payment provider refused for what its client
 * sent (the field, e.g. `body.email`), releasing its idempotency key: like Stripe's own keys, a
 * request refused for its input keeps no result under its key, so the client's corrected request
 * under the same key creates its order. Only while the order is pending under that key with no
 * checkout session: an order that has one may be paid, and keeps its key. Undefined: not released.
 */
export const markCheckoutRefused = (db: Db, orderId: string, idempotencyKey: string, field: string): Promise<LeasedOrder | undefined> =>
  transition(db, orderId, 'failed', { error: `the payment provider refused ${field}`, idempotency_key: null, ...releasedLease }, (q) =>
    q.where({ status: 'pending', idempotency_key: idempotencyKey }).whereNull('stripe_session_id'),
  );

/**
 * The reason the doc worker gives an order whose last receive still met a retryable error: the
 * attempts ran out while a dependency (core-llm, Gemini, the database) was down; the order did
 * not prove bad. The only failure markRetried takes back.
 */
export const FAILED_AFTER_RETRIES = 'document generation failed after repeated attempts';

/**
 * failed (with FAILED_AFTER_RETRIES) → queued with a fresh start: error cleared, requeues back to
 * 0 (the hand-offs of the failed round would count against the new one), no lease. Undefined
 * when the order is not failed so (moved on, or failed for another reason).
 */
export const markRetried = (db: Db, orderId: string): Promise<LeasedOrder | undefined> =>
  transition(db, orderId, 'queued', { error: null, requeues: 0, ...releasedLease }, (q) => q.where({ status: 'failed', error: FAILED_AFTER_RETRIES }));

/**
 * The design's key of an order's document, `<clientId>/<orderId>.<ext>` in the reports bucket: where
 * the storage move puts the documents it brings over. The worker writes each attempt's own
 * (`attemptDocumentKey`).
 */
export const documentKeyFor = (order: Pick<Order, 'client_id' | 'id'>, format: 'pdf' | 'docx' | 'html'): string =>
  `${order.client_id}/${order.id}.${format}`;

/**
 * The key one generation attempt (its lease owner id) uploads its document to:
 * `<clientId>/<orderId>/<attempt>/<orderId>.<ext>`. One key per order is not enough: an attempt
 * that lost its lease can still finish a slow upload after the new owner wrote the document, and
 * would overwrite it; S3 cannot refuse that put (a conditional PUT only refuses by the object's
 * state, not by who owns the order). Each attempt writes beside the others, and only the owner's
 * guarded `markReady` makes a key the order's `document_key`. The file name stays
 * `<orderId>.<ext>`, the download name the gateways give the link.
 */
export const attemptDocumentKey = (order: Pick<Order, 'client_id' | 'id'>, attempt: string, format: 'pdf' | 'docx' | 'html'): string =>
  `${order.client_id}/${order.id}/${attempt}/${order.id}.${format}`;
