import type { Db, Order, OrderStatus } from './models';

/**
 * The order status machine, shared by the services and the workers:
 *   pending → paid → queued → generating → ready | failed
 * Every transition is one guarded UPDATE (`WHERE status IN (…allowed sources)`), so concurrent
 * or redelivered work can never move an order backwards or skip a step. Each function returns
 * the updated row, or undefined when the order is not in a state the transition accepts.
 * Re-applying a transition to an order already in the target state is accepted (idempotent),
 * except where noted.
 */
export const TRANSITIONS: Record<Exclude<OrderStatus, 'pending'>, OrderStatus[]> = {
  // Not idempotent: only the caller that moves the order sends its doc job (functions/order/app.ts).
  paid: ['pending'],
  queued: ['paid', 'queued'],
  // A doc job may arrive before the sender has recorded `queued`, and may be redelivered.
  generating: ['paid', 'queued', 'generating'],
  ready: ['generating'],
  failed: ['pending', 'paid', 'queued', 'generating'],
};

async function transition(db: Db, orderId: string, to: keyof typeof TRANSITIONS, set: Record<string, unknown> = {}): Promise<Order | undefined> {
  const rows = await db('orders')
    .update({ ...set, status: to, updated_at: db.fn.now() })
    .where({ id: orderId })
    .whereIn('status', TRANSITIONS[to])
    .returning('*');
  return rows[0] as Order | undefined;
}

/** pending → paid. Undefined when the order is no longer pending: another call already moved it. */
export const markPaid = (db: Db, orderId: string): Promise<Order | undefined> => transition(db, orderId, 'paid');

/** paid → queued, once the doc job is in the queue. */
export const markQueued = (db: Db, orderId: string): Promise<Order | undefined> => transition(db, orderId, 'queued');

/** paid | queued → generating, when a worker takes the job (a redelivery keeps it generating). */
export const markGenerating = (db: Db, orderId: string): Promise<Order | undefined> =>
  transition(db, orderId, 'generating', { error: null });

/**
 * generating → ready with the document's key. A second call for a ready order returns
 * undefined: the caller reads the order and sees it is already done.
 */
export const markReady = (db: Db, orderId: string, documentKey: string): Promise<Order | undefined> =>
  transition(db, orderId, 'ready', { document_key: documentKey, error: null });

/** pending (checkout expired/failed) | paid | queued | generating → failed with a message for the client (never a stack trace). */
export const markFailed = (db: Db, orderId: string, error: string): Promise<Order | undefined> =>
  transition(db, orderId, 'failed', { error: error.slice(0, 1000) });

/** The S3 key of an order's document: `<clientId>/<orderId>.<ext>` in the reports bucket. */
export const documentKeyFor = (order: Pick<Order, 'client_id' | 'id'>, format: 'pdf' | 'docx' | 'html'): string =>
  `${order.client_id}/${order.id}.${format}`;
