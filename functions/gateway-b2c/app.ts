import Router from '@koa/router';
import type Koa from 'koa';
import type Stripe from 'stripe';
import * as z from '../../core/zod';
import { STRIPE_SIGNATURE_HEADER } from '../../core/contract';
import { AppError, badRequest, conflict } from '../../core/errors';
import { createServiceApp, logAbout, ServiceContext, ServiceState } from '../shared/http';
import { beforeRequestDeadline } from '../../core/request-deadline';
import { CreateB2cOrder, idempotencyKeySchema } from '../../core/domain/order-requests';
import type { Logger } from '../../core/logger';
import type { ServiceRuntime } from '../shared/service-runtime';
import { createStripe, stripeFailure, webhookSecret } from '../../core/stripe';
import { cachedValue } from '../../core/ttl-cache';
import { issuesOf, NoQuery, parseQuery, parseWith, readJsonBody, readRawBody, uuidParam } from '../shared/validation';
import { documentGone, documentLink, publicOrder, withDocumentLink } from '../../core/domain/order-views';
import { InternalOrder, internalApi, PaymentFailedRequest } from '../../core/internal-api';

/** Public B2C API: themes, orders paid through Stripe Checkout, and the Stripe webhook. */
export const OrderBody = z.omit(CreateB2cOrder, { idempotencyKey: true });
export const StatusQuery = z.strictObject({ token: z.string().check(z.minLength(20, 'must be the order access token'), z.maxLength(200)) });
/** How long the link the document route redirects to stays valid (it is followed at once). */
export const DOCUMENT_REDIRECT_SECONDS = 60;
export const ORDER_BODY_LIMIT = 64 * 1024;
export const WEBHOOK_BODY_LIMIT = 256 * 1024;
const PAID_EVENTS = new Set(['checkout.session.completed', 'checkout.session.async_payment_succeeded']);
/** Checkout events that end a pending order, with the reason the client sees. */
const UNPAID_EVENTS: Record<string, PaymentFailedRequest['reason']> = {
  'checkout.session.expired': 'payment expired',
  'checkout.session.async_payment_failed': 'payment failed',
};
const OrderId = z.uuid();
/** What the route reads of every event: a signed body that is not shaped so is a 400 naming the member, not a TypeError. */
const SignedEvent = z.object({ type: z.string(), data: z.object({ object: z.record(z.string(), z.unknown()) }) });

export function createApp(runtime: ServiceRuntime<'internal' | 'storage'>): Koa<ServiceState> {
  const router = new Router<ServiceState>();
  let stripe: Promise<Stripe> | undefined;
  const stripeClient = () => (stripe ??= createStripe(runtime.config));
  const api = (requestId: string) => internalApi(runtime.internal, { requestId });

  // The catalogue changes only with a deployment's seeds: each warm environment keeps the active
  // list for THEME_CACHE_TTL_SECONDS instead of asking the theme service on every page view.
  const activeThemes = cachedValue(runtime.config.themeCacheTtlSeconds * 1000, (requestId: string) => api(requestId).theme.list());

  router.get('/b2c/themes', async (ctx) => {
    parseQuery(NoQuery, ctx);
    ctx.body = await activeThemes(ctx.state.requestId);
  });

  router.post('/b2c/orders', async (ctx) => {
    const json = await readJsonBody(ctx, { limit: ORDER_BODY_LIMIT, unsupportedMessage: 'content-type must be application/json' });
    // Header and body are checked together so one 400 names every bad field.
    const key = idempotencyKeySchema.safeParse(ctx.get('idempotency-key'));
    const parsed = OrderBody.safeParse(json);
    const issues = [...(key.success ? [] : issuesOf(key.error, 'header.idempotency-key')), ...(parsed.success ? [] : issuesOf(parsed.error, 'body'))];
    if (!key.success || !parsed.success) throw badRequest(issues);
    const idempotencyKey = key.data;
    const body = parsed.data;
    // Before the order exists: without the Stripe key (its secret not put yet) a 503 names it.
    const stripe = await stripeClient();
    const orders = api(ctx.state.requestId).order;
    const created = await orders.createB2c({ ...body, idempotencyKey }).catch((err: unknown) => {
      // The order service's only conflicts are about the key, which this client sent as a header.
      if (err instanceof AppError && err.status === 409) throw conflict(err.message, [{ field: 'header.idempotency-key', message: err.message }]);
      throw err;
    });
    let order = created.order;
    logAbout(ctx, { orderId: order.id });
    if (order.status === 'pending' && !order.checkoutUrl) {
      const session = await createCheckoutSession(stripe, ctx.state.logger, runtime.config.publicBaseUrl, order, created.email).catch(async (err: unknown) => {
        // A 400 is Stripe refusing what the client sent (stripeFailure names the field): as Stripe keeps
        // no result for a request that fails validation, the order gives its key back, so the client's
        // corrected request under the same key creates its order. Should that call fail, its 503 is the
        // answer: the same request again meets the same refusal and releases the key then.
        if (err instanceof AppError && err.status === 400) await orders.checkoutRefused(order.id, { idempotencyKey, field: err.fields?.[0]?.field ?? 'body' });
        throw err;
      });
      order = (await orders.attachCheckout(order.id, { sessionId: session.id, url: session.url })).order;
    }
    ctx.status = created.created ? 201 : 200;
    ctx.body = {
      order: publicOrder(order),
      accessToken: created.accessToken,
      checkoutUrl: order.checkoutUrl,
      statusUrl: `/b2c/orders/${order.id}?token=${created.accessToken}`,
    };
  });

  router.post('/b2c/stripe/webhook', async (ctx) => {
    const signature = ctx.get(STRIPE_SIGNATURE_HEADER);
    if (!signature) throw badRequest([{ field: `header.${STRIPE_SIGNATURE_HEADER}`, message: 'required' }]);
    const raw = await readRawBody(ctx, WEBHOOK_BODY_LIMIT);
    // Outside the try: a secret not put yet is a 503 naming it (Stripe retries), not a bad signature.
    const [client, secret] = [await stripeClient(), webhookSecret(runtime.config)];
    let event: Stripe.Event;
    try {
      event = client.webhooks.constructEvent(raw, signature, secret);
    } catch (err) {
      // The SDK parses the body only once the signature holds: a SyntaxError is a signed body that is not JSON.
      if (err instanceof SyntaxError) throw badRequest([{ field: 'body', message: 'not JSON' }]);
      throw badRequest([{ field: `header.${STRIPE_SIGNATURE_HEADER}`, message: 'signature verification failed' }]);
    }
    parseWith(SignedEvent, event, 'body');
    const failure = UNPAID_EVENTS[event.type];
    if (!PAID_EVENTS.has(event.type) && !failure) {
      ctx.body = { received: true, handled: false };
      return;
    }
    const session = event.data.object as Stripe.Checkout.Session;
    const orderId = session.metadata?.orderId ?? session.client_reference_id;
    if (!orderId || !OrderId.safeParse(orderId).success || (!failure && session.payment_status !== 'paid')) {
      ctx.body = { received: true, handled: false };
      return;
    }
    // A webhook is a request of its own (Stripe's): its lines, and the doc job it causes, name the order.
    logAbout(ctx, { orderId, eventId: event.id });
    try {
      const orders = api(ctx.state.requestId).order;
      const { order } = failure
        ? await orders.markPaymentFailed(orderId, { sessionId: session.id, reason: failure })
        : await orders.markPaid(orderId, { sessionId: session.id, ...amountPaid(session) });
      ctx.body = { received: true, handled: true, orderId, status: order.status };
    } catch (err) {
      // Unknown order, foreign session or a payment that does not match the order (409
      // payment_mismatch, logged by the order service): a retry cannot fix it, so Stripe must not retry.
      if (err instanceof AppError && (err.status === 404 || err.status === 409)) {
        ctx.state.logger.warn('webhook for an order it cannot settle', { type: event.type, reason: err.message });
        ctx.body = { received: true, handled: false };
        return;
      }
      throw err;
    }
  });

  // Status and document both answer only to the order's access token, checked by the order service.
  const orderByToken = async (ctx: ServiceContext): Promise<InternalOrder> => {
    const id = uuidParam(ctx, 'id');
    logAbout(ctx, { orderId: id });
    const { token } = parseQuery(StatusQuery, ctx);
    const { order } = await api(ctx.state.requestId).order.get(id, { token });
    return order;
  };

  router.get('/b2c/orders/:id', async (ctx) => {
    const order = await orderByToken(ctx);
    ctx.body = { order: await withDocumentLink(runtime.storage, runtime.config.buckets.reports, order, ctx.state.logger) };
  });

  // The document itself: a 303 to a presigned S3 link, so the file never passes through the
  // function (a Lambda response is at most 6 MB, and buffering it costs memory and time). The
  // link lives DOCUMENT_REDIRECT_SECONDS: enough to follow the redirect, not to be passed around.
  router.get('/b2c/orders/:id/document', async (ctx) => {
    const order = await orderByToken(ctx);
    if (order.status !== 'ready' || !order.documentKey) throw new AppError(409, 'not_ready', `the document is not ready (order is ${order.status})`);
    const url = await documentLink(runtime.storage, runtime.config.buckets.reports, order, DOCUMENT_REDIRECT_SECONDS, ctx.state.logger);
    if (!url) throw documentGone(order);
    ctx.set('cache-control', 'no-store');
    ctx.status = 303;
    ctx.redirect(url);
  });

  return createServiceApp('gateway-b2c', runtime.logger, router);
}

/**
 * What the session was paid, in the currency the order was priced in: with Adaptive Pricing the
 * session's own amount and currency are the customer's, and `currency_conversion` holds ours.
 */
function amountPaid(session: Stripe.Checkout.Session): { amountTotal: number | null; currency: string | null } {
  const converted = session.currency_conversion;
  if (converted) return { amountTotal: converted.amount_total, currency: converted.source_currency };
  return { amountTotal: session.amount_total, currency: session.currency };
}

async function createCheckoutSession(stripe: Stripe, logger: Logger, publicBaseUrl: string, order: InternalOrder, email: string) {
  try {
    // The SDK's own bound (3 attempts of 10 s) outlasts the gateway's 15 s Lambda; the call left behind is
    // harmless: a retry under the same key gets the same session.
    const session = await beforeRequestDeadline(stripe.checkout.sessions.create(
      {
        mode: 'payment',
        client_reference_id: order.id,
        metadata: { orderId: order.id },
        customer_email: email,
        line_items: [
          {
            quantity: 1,
            price_data: { currency: order.currency ?? 'eur', unit_amount: order.amountCents!, product_data: { name: order.theme.title ?? 'Document' } },
          },
        ],
        // The order id only: these URLs reach Stripe, the browser history and Referer headers.
        // The front end keeps the access token it got from POST /b2c/orders.
        success_url: `${publicBaseUrl}/orders/${order.id}?paid=1`,
        cancel_url: `${publicBaseUrl}/orders/${order.id}?cancelled=1`,
      },
      // Stripe's own idempotency: a retried order creation never opens a second session.
      { idempotencyKey: `checkout-${order.id}` },
    ), () => new Error('no answer before the request deadline'));
    if (!session.url) throw new Error('checkout session has no url');
    return { id: session.id, url: session.url };
  } catch (err) {
    const { type, code, param } = err as { type?: string; code?: string; param?: string };
    logger.warn('checkout session failed', { orderId: order.id, stripe: { type, code, param }, err: (err as Error).message });
    throw stripeFailure(err);
  }
}
