import Router from '@koa/router';
import type Koa from 'koa';
import { randomUUID } from 'node:crypto';
import * as z from '../../core/zod';
import { AppError, badRequest, conflict, FieldIssue, forbidden, notFound } from '../../core/errors';
import { createServiceApp, logAbout, ServiceState } from '../shared/http';
import type { Batch, Order, Theme } from '../../core/models';
import { findBatch, findOrder } from '../../core/models';
import { MAX_BATCH_ROWS } from '../../core/domain/batches';
import { accessTokenFor, hashToken, orderTokenSecret, reissueAccessToken, requestHash, requestHashes, tokenMatches } from '../../core/domain/order-tokens';
import { markCheckoutRefused, markFailed, markPaid, markQueued } from '../../core/domain/orders';
import type { ServiceRuntime } from '../shared/service-runtime';
import type { Logger } from '../../core/logger';
import { validateInput } from '../../core/domain/themes';
import { plainText } from '../../core/domain/text';
import {
  BatchAccess,
  BatchResponse,
  BatchView,
  CheckoutRefusedRequest,
  CheckoutRefusedResponse,
  CheckoutRequest,
  CreateBatchRequest,
  CreatedB2cOrderResponse,
  CreatedBatchResponse,
  OrderResponse,
  OrderView,
  PaidRequest,
  PaidResponse,
  PaymentFailedRequest,
  ReplayBatchRequest,
  ReplayBatchResponse,
  requestSchema,
} from '../../core/internal-api';
import { parseQuery, readJsonBody, uuidParam } from '../shared/validation';
import { CreateB2cOrder, idempotencyKeySchema } from '../../core/domain/order-requests';
import { ORDER_STEPS } from '../../core/contract';

/** Internal: orders and batches, their creation and their payment (contracts in core/internal-api.ts). */
// Typed by OrderAccess on the caller's side; the refine leaves its own type wider, so it is not checked against it.
const Access = z
  .strictObject({ token: z.optional(z.string().check(z.minLength(1), z.maxLength(200))), clientId: z.optional(z.uuid()) })
  .check(z.refine((q) => (q.token === undefined) !== (q.clientId === undefined), { message: 'give exactly one of token, clientId', path: ['token'] }));
// Text columns: PostgreSQL refuses a NUL in text, which would otherwise be a 500 no retry fixes.
const SessionId = z.string().check(z.minLength(1), z.maxLength(255), plainText);
const Checkout = requestSchema<CheckoutRequest>()(z.object({ sessionId: SessionId, url: z.string().check(z.url(), z.maxLength(2048), plainText) }));
const Paid = requestSchema<PaidRequest>()(
  z.object({ sessionId: SessionId, amountTotal: z.nullable(z.number().check(z.int())), currency: z.nullable(z.string().check(z.maxLength(10))) }),
);
const CheckoutRefused = requestSchema<CheckoutRefusedRequest>()(
  z.object({ idempotencyKey: idempotencyKeySchema, field: z.string().check(z.minLength(1), z.maxLength(200), plainText) }),
);
const PaymentFailed = requestSchema<PaymentFailedRequest>()(z.object({ sessionId: SessionId, reason: z.enum(['payment expired', 'payment failed']) }));
const RequestHash = z.string().check(z.regex(/^[0-9a-f]{64}$/, 'must be a sha256 in hex'));
const CreateBatch = requestSchema<CreateBatchRequest>()(
  z.object({
    batchId: z.uuid(),
    clientId: z.uuid(),
    themeId: z.uuid(),
    sourceKey: z.string().check(z.minLength(1), z.maxLength(1024), plainText),
    idempotencyKey: z.optional(idempotencyKeySchema),
    requestHash: RequestHash,
    submittedRows: z.int().check(z.minimum(1), z.maximum(MAX_BATCH_ROWS)),
  }),
);
const ReplayBatch = requestSchema<ReplayBatchRequest>()(z.object({ clientId: z.uuid(), idempotencyKey: idempotencyKeySchema, requestHash: RequestHash }));
const PG_FOREIGN_KEY_VIOLATION = '23503';
const BATCH_REFERENCES: Record<string, FieldIssue> = {
  batches_client_id_foreign: { field: 'body.clientId', message: 'no such client' },
  batches_theme_id_foreign: { field: 'body.themeId', message: 'no such theme' },
};
/** What a batch failed for its unsent job says; its client got a 503 and submits the batch again. */
const UNSENT_BATCH_ERROR = 'its batch job could not be queued; nothing was processed: submit the batch again';
const ClientAccess = requestSchema<BatchAccess>()(z.strictObject({ clientId: z.uuid() }));

type OrderWithTheme = Order & { theme_slug?: string; theme_title?: string; output_format?: string };

const orderView = (o: OrderWithTheme): OrderView => ({
  id: o.id,
  clientId: o.client_id,
  status: o.status,
  theme: o.theme_slug ? { slug: o.theme_slug, title: o.theme_title, outputFormat: o.output_format } : { id: o.theme_id },
  input: o.input,
  amountCents: o.amount_cents,
  currency: o.currency,
  checkoutUrl: o.checkout_url,
  documentKey: o.document_key,
  error: o.error,
  batchId: o.batch_id,
  batchRow: o.batch_row,
  createdAt: o.created_at,
  updatedAt: o.updated_at,
});

const batchView = (b: Batch): BatchView => ({
  id: b.id,
  clientId: b.client_id,
  themeId: b.theme_id,
  status: b.status,
  totalRows: b.total_rows,
  succeeded: b.succeeded,
  failed: b.failed,
  manifestKey: b.manifest_key,
  error: b.error,
  requestHash: b.request_hash,
  submittedRows: b.submitted_rows,
  createdAt: b.created_at,
  updatedAt: b.updated_at,
});

export function createApp(runtime: ServiceRuntime<'db' | 'queue'>): Koa<ServiceState> {
  const router = new Router<ServiceState>();
  const db = () => runtime.db;

  const loadOrder = async (id: string): Promise<OrderWithTheme | undefined> =>
    db()('orders')
      .select('orders.*', 'themes.slug as theme_slug', 'themes.title as theme_title', 'themes.output_format')
      .join('themes', 'themes.id', 'orders.theme_id')
      .where('orders.id', id)
      .first();

  router.post('/orders/b2c', async (ctx) => {
    const body = await readJsonBody(ctx, { schema: CreateB2cOrder });
    const secret = orderTokenSecret(runtime.config);
    const request = { email: body.email.toLowerCase(), name: body.name, theme: body.theme, input: body.input };
    const fingerprint = requestHash(request);
    const fingerprints = requestHashes(request);
    const sameRequest = (order: Order) => order.request_hash !== null && fingerprints.includes(order.request_hash);
    const otherRequest = () => conflict('this idempotency key was already used for a different order');
    const result = await db().transaction(async (trx) => {
      const existing: Order | undefined = await trx('orders').where({ idempotency_key: body.idempotencyKey }).first();
      if (existing) return { order: existing, created: false };
      const theme: Theme | undefined = await trx('themes').where({ slug: body.theme, active: true }).first();
      if (!theme) throw badRequest([{ field: 'body.theme', message: 'unknown or inactive theme' }]);
      const input = validateInput(theme.prompt_template, body.input);
      const { rows: clients } = await trx.raw<{ rows: { id: string }[] }>(
        `INSERT INTO clients (kind, name, email) VALUES ('b2c', ?, ?)
         ON CONFLICT (lower(email)) WHERE kind = 'b2c' DO UPDATE SET name = EXCLUDED.name RETURNING id`,
        [body.name, body.email],
      );
      const id = randomUUID();
      const inserted = await trx('orders')
        .insert({
          id,
          client_id: clients[0].id,
          theme_id: theme.id,
          status: 'pending',
          input,
          idempotency_key: body.idempotencyKey,
          request_hash: fingerprint,
          // The gateway's request id (the client's valid x-request-id): the order's correlation id, kept with it.
          request_id: ctx.state.requestId,
          access_token_hash: hashToken(accessTokenFor(secret, id)),
          amount_cents: theme.price_cents,
          currency: 'eur',
        })
        .onConflict('idempotency_key')
        .ignore()
        .returning('*');
      if (inserted.length === 1) return { order: inserted[0] as Order, created: true };
      // A concurrent request with the same key won the insert: answer with its order. Another
      // request is refused here, inside the transaction, so that its client upsert is undone:
      // it would otherwise rename the winner's client, or leave a client of its own.
      const winner = (await trx('orders').where({ idempotency_key: body.idempotencyKey }).first()) as Order;
      logAbout(ctx, { orderId: winner.id });
      if (!sameRequest(winner)) throw otherRequest();
      return { order: winner, created: false };
    });
    logAbout(ctx, { orderId: result.order.id });
    if (!sameRequest(result.order)) throw otherRequest();
    const accessToken = reissueAccessToken(secret, body.idempotencyKey, result.order.id, result.order.access_token_hash);
    if (!accessToken) throw conflict('the access token of this order cannot be issued again; use the one returned when it was created');
    if (result.created) ctx.state.logger.info('order received', { step: ORDER_STEPS.received, theme: body.theme });
    ctx.status = result.created ? 201 : 200;
    ctx.body = { order: orderView((await loadOrder(result.order.id))!), accessToken, created: result.created, email: request.email } satisfies CreatedB2cOrderResponse;
  });

  router.get('/orders/:id', async (ctx) => {
    const id = uuidParam(ctx, 'id');
    logAbout(ctx, { orderId: id });
    const access = parseQuery(Access, ctx);
    const order = await loadOrder(id);
    if (!order) throw notFound('order not found');
    if (access.token !== undefined && !tokenMatches(access.token, order.access_token_hash)) throw notFound('order not found');
    if (access.clientId !== undefined && order.client_id !== access.clientId) throw forbidden('this order belongs to another client');
    ctx.body = { order: orderView(order) } satisfies OrderResponse;
  });

  router.post('/orders/:id/checkout', async (ctx) => {
    const id = uuidParam(ctx, 'id');
    logAbout(ctx, { orderId: id });
    const body = await readJsonBody(ctx, { schema: Checkout });
    const updated = await db()('orders')
      .update({ stripe_session_id: body.sessionId, checkout_url: body.url, updated_at: db().fn.now() })
      // Only while pending: a session attached to an order its refused checkout failed would be
      // one its buyer could pay for an order that is never made.
      .where({ id, status: 'pending' })
      .andWhere((q) => q.whereNull('stripe_session_id').orWhere('stripe_session_id', body.sessionId))
      .returning('id');
    if (updated.length === 0) {
      const current = await findOrder(db(), id);
      if (!current) throw notFound('order not found');
      // Its own session again is a replay, answered as the order now is (it may be paid since).
      if (current.stripe_session_id !== body.sessionId) {
        throw conflict(current.status === 'pending' ? 'order already has another checkout session' : `order is ${current.status}; it takes no checkout session`);
      }
    }
    ctx.body = { order: orderView((await loadOrder(id))!) } satisfies OrderResponse;
  });

  // The gateway's call when the payment provider refused the checkout for what the client sent.
  router.post('/orders/:id/checkout-refused', async (ctx) => {
    const id = uuidParam(ctx, 'id');
    logAbout(ctx, { orderId: id });
    const { idempotencyKey, field } = await readJsonBody(ctx, { schema: CheckoutRefused });
    const released = await markCheckoutRefused(db(), id, idempotencyKey, field);
    if (released) ctx.state.logger.warn('order failed', { step: ORDER_STEPS.failed, reason: released.error, keyReleased: true });
    const order = await loadOrder(id);
    if (!order) throw notFound('order not found');
    ctx.body = { order: orderView(order), released: released !== undefined } satisfies CheckoutRefusedResponse;
  });

  // pending → paid, the doc job and paid → queued happen in one transaction holding the order's
  // row lock, so concurrent or repeated webhooks are serialised and only the one that moved the
  // order sends its job. The job is sent before the commit: if the send fails, or the process
  // dies before the commit, the order is still `pending` and Stripe's retry (the webhook did
  // not answer 2xx) pays it again; a job sent by a rolled-back call is one duplicate the worker
  // tolerates (it takes only paid/queued orders and retries the message until then).
  router.post('/orders/:id/paid', async (ctx) => {
    const id = uuidParam(ctx, 'id');
    logAbout(ctx, { orderId: id });
    const log = ctx.state.logger;
    const { sessionId, amountTotal, currency } = await readJsonBody(ctx, { schema: Paid });
    const sent = await db().transaction(async (trx) => {
      const current: Order | undefined = await trx('orders').where({ id }).forUpdate().first();
      if (!current) throw notFound('order not found');
      if (current.stripe_session_id !== sessionId) throw conflict('checkout session does not belong to this order');
      // The price was fixed on the order at creation (the theme's price_cents, in eur) and the
      // session created from it; a payment of anything else is an anomaly for a human (refund
      // or fulfil by hand), never a paid order. The order stays pending.
      if (amountTotal === null || amountTotal !== current.amount_cents || currency?.toLowerCase() !== current.currency?.toLowerCase()) {
        log.warn('payment does not match the order; not paid', {
          sessionId,
          paid: { amountCents: amountTotal, currency },
          expected: { amountCents: current.amount_cents, currency: current.currency },
        });
        throw new AppError(409, 'payment_mismatch', 'the session was paid for another amount or currency than the order');
      }
      // A committed `paid` means a sender died between its commit and its send (code before this
      // transaction existed): the call that finds it under the lock sends the job once more.
      const moved = current.status === 'paid' ? current : await markPaid(trx, id);
      if (!moved) {
        // Stripe never pays an expired session; if it ever did, someone must refund or restart it.
        if (current.status === 'failed') log.warn('paid event for a failed order; left failed', { error: current.error });
        return false;
      }
      // The job carries this request's id: the worker's lines and its core-llm call go on under it.
      await runtime.queue.sendDocJob(current, { requestId: ctx.state.requestId });
      await markQueued(trx, id);
      // Before the commit: a worker takes the order only once it is committed, so this hop's line
      // always comes before the worker's `taken` (after the commit, a worker quick to receive the
      // job logged first). A commit that fails after it leaves the line of a job sent, which it was.
      log.info('doc job sent', { step: ORDER_STEPS.paid });
      return true;
    });
    ctx.body = { order: orderView((await loadOrder(id))!), jobSent: sent } satisfies PaidResponse;
  });

  // The checkout session expired or its delayed payment failed: a pending order ends `failed`
  // with the reason. Only a pending order: a paid one is never failed by a payment event.
  router.post('/orders/:id/payment-failed', async (ctx) => {
    const id = uuidParam(ctx, 'id');
    logAbout(ctx, { orderId: id });
    const { sessionId, reason } = await readJsonBody(ctx, { schema: PaymentFailed });
    await db().transaction(async (trx) => {
      const current: Order | undefined = await trx('orders').where({ id }).forUpdate().first();
      if (!current) throw notFound('order not found');
      if (current.stripe_session_id !== sessionId) throw conflict('checkout session does not belong to this order');
      if (current.status === 'pending') {
        await markFailed(trx, id, reason);
        ctx.state.logger.warn('order failed', { step: ORDER_STEPS.failed, reason });
      }
      else ctx.state.logger.info('payment event for an order no longer pending; unchanged', { status: current.status, reason });
    });
    ctx.body = { order: orderView((await loadOrder(id))!) } satisfies OrderResponse;
  });

  // Batches are idempotent per (client, Idempotency-Key), bound to the request's fingerprint
  // (`requestHash`); the gateway answers a fingerprint that differs with a 409. A batch still
  // `pending` when its own request comes again gets its job again: its first send may have failed
  // (that request then answered 503), and the worker tolerates a duplicate.
  const batchByKey = async (clientId: string, idempotencyKey: string): Promise<Batch | undefined> =>
    db()('batches').where({ client_id: clientId, idempotency_key: idempotencyKey }).first();
  const resendIfPending = async (batch: Batch, requestHash: string, requestId: string): Promise<void> => {
    if (batch.status === 'pending' && batch.request_hash === requestHash) await runtime.queue.sendBatchJob(batch.id, { requestId });
  };

  // A batch without an Idempotency-Key whose job SQS did not take ends `failed` before the 503:
  // the client's retry is a new batch (a new id), and this one would stay `pending` beside it for
  // ever, no job anywhere. Failed, not deleted: the application role deletes no row (migration
  // 005), and a final batch is one a stray job leaves alone (the worker drops a job whose batch is
  // failed). Guarded on the worker not having started it: a send that failed after SQS took the
  // message (a reset connection) may already be read, and a batch with a checkpoint is alive, so
  // it is answered as created. With a key the batch stays `pending`: the retry of its request
  // sends its job again (resendIfPending). True when the batch turns out to be started.
  const startedDespiteFailedSend = async (batch: Batch, log: Logger, err: unknown): Promise<boolean> => {
    if (batch.idempotency_key !== null) return false;
    const failed = await db()('batches')
      .where({ id: batch.id, status: 'pending', total_rows: 0 })
      .update({ status: 'failed', error: UNSENT_BATCH_ERROR, updated_at: db().fn.now() });
    if (failed === 1) {
      log.warn('batch job not sent; batch failed for the client to submit again', { err });
      return false;
    }
    log.warn('batch job send failed, but the worker has started the batch: it was sent', { err });
    return true;
  };

  router.post('/batches', async (ctx) => {
    const body = await readJsonBody(ctx, { schema: CreateBatch });
    logAbout(ctx, { batchId: body.batchId });
    const inserted = await db()('batches')
      .insert({
        id: body.batchId,
        client_id: body.clientId,
        theme_id: body.themeId,
        status: 'pending',
        // total_rows counts rows the b2b-batch worker has read (its checkpoint), so it starts at 0.
        total_rows: 0,
        source_key: body.sourceKey,
        idempotency_key: body.idempotencyKey ?? null,
        request_hash: body.requestHash,
        submitted_rows: body.submittedRows,
      })
      // Any unique constraint: concurrent attempts of one request carry the same (derived) id and key.
      .onConflict()
      .ignore()
      .returning('*')
      .catch((err: { code?: string; constraint?: string }) => {
        // A client or theme that does not exist is the caller's mistake, named like any other field.
        const issue = err.code === PG_FOREIGN_KEY_VIOLATION ? BATCH_REFERENCES[err.constraint ?? ''] : undefined;
        throw issue ? badRequest([issue]) : err;
      });
    if (inserted.length === 1) {
      const batch = inserted[0] as Batch;
      try {
        await runtime.queue.sendBatchJob(batch.id, { requestId: ctx.state.requestId });
      } catch (err) {
        if (!(await startedDespiteFailedSend(batch, ctx.state.logger, err))) throw err;
      }
      ctx.status = 201;
      ctx.body = { batch: batchView(batch), created: true } satisfies CreatedBatchResponse;
      return;
    }
    const existing = body.idempotencyKey ? await batchByKey(body.clientId, body.idempotencyKey) : undefined;
    if (!existing) throw conflict(`batch ${body.batchId} already exists`);
    logAbout(ctx, { batchId: existing.id });
    await resendIfPending(existing, body.requestHash, ctx.state.requestId);
    ctx.body = { batch: batchView(existing), created: false } satisfies CreatedBatchResponse;
  });

  // The batch an Idempotency-Key already created, if any: asked before anything of a new request is stored.
  router.post('/batches/replay', async (ctx) => {
    const body = await readJsonBody(ctx, { schema: ReplayBatch });
    const existing = await batchByKey(body.clientId, body.idempotencyKey);
    if (existing) {
      logAbout(ctx, { batchId: existing.id });
      await resendIfPending(existing, body.requestHash, ctx.state.requestId);
    }
    ctx.body = { batch: existing ? batchView(existing) : null } satisfies ReplayBatchResponse;
  });

  router.get('/batches/:id', async (ctx) => {
    const id = uuidParam(ctx, 'id');
    logAbout(ctx, { batchId: id });
    const { clientId } = parseQuery(ClientAccess, ctx);
    const batch = await findBatch(db(), id);
    if (!batch) throw notFound('batch not found');
    if (batch.client_id !== clientId) throw forbidden('this batch belongs to another client');
    ctx.body = { batch: batchView(batch) } satisfies BatchResponse;
  });

  return createServiceApp('order', runtime.logger, router);
}
