import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import { listen, StandInReply, StandInServer } from './http';
import { STRIPE_SIGNATURE_HEADER } from '../../../core/contract';

/**
 * A local stand-in for the part of the Stripe API the platform uses (Checkout Sessions), good
 * enough for the real `stripe` SDK pointed at it with host/port/protocol. It honours
 * Idempotency-Key like Stripe does, checks the Bearer key, and keeps the sessions it created.
 * A session's `url` is a checkout page a browser can click through: paying there completes the
 * session and sends its signed `checkout.session.completed` to the webhook, as Stripe does.
 * Used by tests and by `npm run dev` (no Stripe account needed locally).
 */
export interface CheckoutSession {
  id: string;
  object: 'checkout.session';
  url: string;
  mode: string;
  status: 'open' | 'complete' | 'expired';
  payment_status: 'unpaid' | 'paid';
  client_reference_id: string | null;
  customer_email: string | null;
  metadata: Record<string, string>;
  amount_total: number;
  currency: string;
  success_url: string;
  cancel_url: string;
  created: number;
  livemode: false;
}

export interface StripeStandIn extends StandInServer {
  sessions: Map<string, CheckoutSession>;
  /** Requests received, in order (method, path, idempotency key). */
  requests: { method: string; path: string; idempotencyKey?: string }[];
  /**
   * The next n requests answer with this status and the error type Stripe gives it (400/404
   * `invalid_request_error`, 402 `card_error`, others `api_error`); `param` names the parameter
   * a 400 is about, as Stripe's does.
   */
  failNext(status: number, times?: number, param?: string): void;
  /** Where the checkout page delivers the events of the sessions paid on it (known once the B2C gateway listens). */
  sendWebhooksTo(url: string, secret: string): void;
}

/** Decodes Stripe's form encoding (`a[b][0][c]=v`) into nested objects and arrays. */
export function decodeForm(body: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const parts = key.split(/\[|\]\[|\]/).filter((p) => p !== '');
    let node: Record<string, unknown> = root;
    parts.forEach((part, i) => {
      if (i === parts.length - 1) node[part] = value;
      else node = (node[part] ??= /^\d+$/.test(parts[i + 1]) ? [] : {}) as Record<string, unknown>;
    });
  }
  return root;
}

const error = (status: number, type: string, message: string, param?: string) => ({ status, json: { error: { type, message, ...(param ? { param } : {}) } } });
const errorTypeOf = (status: number): string => (status === 400 || status === 404 ? 'invalid_request_error' : status === 402 ? 'card_error' : 'api_error');

/** Sends an event to a webhook signed with its secret by the stripe SDK, as Stripe would. */
export async function deliverWebhook(url: string, secret: string, event: object): Promise<{ status: number; body: string }> {
  const payload = JSON.stringify(event);
  const signature = Stripe.webhooks.generateTestHeaderString({ payload, secret });
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', [STRIPE_SIGNATURE_HEADER]: signature }, body: payload });
  return { status: res.status, body: await res.text() };
}

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** No script and no style attribute: the page works under any Content-Security-Policy. */
function checkoutPage(session: CheckoutSession, problem?: string): string {
  const amount = `${(session.amount_total / 100).toFixed(2)} ${session.currency.toUpperCase()}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Checkout (local Stripe stand-in)</title><link rel="icon" href="data:,"></head>
<body>
<h1>Checkout</h1>
<p>Local Stripe stand-in: no card, no money. Paying completes session ${escapeHtml(session.id)} and notifies the platform.</p>
<p>${escapeHtml(session.customer_email ?? '')} pays <strong>${escapeHtml(amount)}</strong>.</p>
${problem ? `<p role="alert">${escapeHtml(problem)}</p>` : ''}
<form method="post"><button type="submit">Pay ${escapeHtml(amount)}</button></form>
<p><a href="${escapeHtml(session.cancel_url)}">Cancel and go back</a></p>
</body></html>`;
}

export async function startStripeStandIn(options: { apiKey?: string; port?: number } = {}): Promise<StripeStandIn> {
  const sessions = new Map<string, CheckoutSession>();
  const replies = new Map<string, { status: number; json: unknown }>();
  const requests: StripeStandIn['requests'] = [];
  let failures: { status: number; times: number; param?: string } | undefined;
  let webhook: { url: string; secret: string } | undefined;

  // The buyer's side: a page, no API key. Paid once, the session stays paid and the page sends the buyer back.
  const pay = async (method: string, session: CheckoutSession | undefined): Promise<StandInReply> => {
    if (!session) return { status: 404, html: '<!doctype html><title>Not found</title><p>No such checkout session.</p>' };
    if (method !== 'POST' || session.status === 'complete') {
      return session.status === 'complete' ? { status: 303, headers: { location: session.success_url } } : { status: 200, html: checkoutPage(session) };
    }
    if (!webhook) return { status: 503, html: checkoutPage(session, 'The stand-in does not know the webhook yet.') };
    const paid: CheckoutSession = { ...session, status: 'complete', payment_status: 'paid' };
    const delivery = await deliverWebhook(webhook.url, webhook.secret, checkoutCompletedEvent(paid));
    if (delivery.status >= 300) return { status: 502, html: checkoutPage(session, `The webhook answered ${delivery.status}: ${delivery.body}`) };
    sessions.set(session.id, paid);
    return { status: 303, headers: { location: session.success_url } };
  };

  const server = await listen(async (req, body) => {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const page = /^\/pay\/([^/]+)$/.exec(url.pathname);
    if (page) return pay(req.method ?? 'GET', sessions.get(page[1]));
    const idempotencyKey = req.headers['idempotency-key'] as string | undefined;
    requests.push({ method: req.method ?? '', path: url.pathname, idempotencyKey });
    if (failures && failures.times > 0) {
      failures.times--;
      return error(failures.status, errorTypeOf(failures.status), 'stand-in failure', failures.param);
    }
    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer sk_') || (options.apiKey && auth !== `Bearer ${options.apiKey}`)) {
      return error(401, 'invalid_request_error', 'Invalid API Key provided');
    }
    if (req.method === 'POST' && url.pathname === '/v1/checkout/sessions') {
      const replayKey = idempotencyKey && `${idempotencyKey}`;
      if (replayKey && replies.has(replayKey)) return { ...replies.get(replayKey)!, headers: { 'idempotent-replayed': 'true' } };
      const p = decodeForm(body.toString('utf8')) as {
        mode?: string;
        client_reference_id?: string;
        customer_email?: string;
        metadata?: Record<string, string>;
        success_url?: string;
        cancel_url?: string;
        line_items?: { quantity?: string; price_data?: { currency?: string; unit_amount?: string } }[];
      };
      if (!p.mode || !p.success_url || !p.line_items?.length) return error(400, 'invalid_request_error', 'Missing required param: mode, success_url or line_items');
      const id = `cs_test_${randomBytes(12).toString('hex')}`;
      const first = p.line_items[0];
      const session: CheckoutSession = {
        id,
        object: 'checkout.session',
        url: `${server.url}/pay/${id}`,
        mode: p.mode,
        status: 'open',
        payment_status: 'unpaid',
        client_reference_id: p.client_reference_id ?? null,
        customer_email: p.customer_email ?? null,
        metadata: p.metadata ?? {},
        amount_total: Number(first.price_data?.unit_amount ?? 0) * Number(first.quantity ?? 1),
        currency: first.price_data?.currency ?? 'eur',
        success_url: p.success_url,
        cancel_url: p.cancel_url ?? p.success_url,
        created: Math.floor(Date.now() / 1000),
        livemode: false,
      };
      sessions.set(id, session);
      const reply = { status: 200, json: session };
      if (replayKey) replies.set(replayKey, reply);
      return reply;
    }
    const match = /^\/v1\/checkout\/sessions\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && match) {
      const session = sessions.get(match[1]);
      return session ? { status: 200, json: session } : error(404, 'invalid_request_error', `No such checkout.session: '${match[1]}'`);
    }
    return error(404, 'invalid_request_error', `Unrecognized request URL (${req.method}: ${url.pathname})`);
  }, options.port);

  return {
    ...server,
    sessions,
    requests,
    failNext: (status, times = 1, param) => {
      failures = { status, times, param };
    },
    sendWebhooksTo: (url, secret) => {
      webhook = { url, secret };
    },
  };
}

type SessionFields = Pick<CheckoutSession, 'id' | 'metadata' | 'client_reference_id' | 'amount_total' | 'currency'> & Partial<CheckoutSession>;

/** A `checkout.session.*` event as the webhook receives it (sign it with `stripe.webhooks.generateTestHeaderString`). */
export function checkoutSessionEvent(type: string, session: SessionFields) {
  return {
    id: `evt_test_${randomBytes(12).toString('hex')}`,
    object: 'event',
    api_version: '2025-01-01',
    created: Math.floor(Date.now() / 1000),
    type,
    livemode: false,
    data: { object: { object: 'checkout.session', ...session } },
  };
}

/** The event Stripe sends when a Checkout session is paid. */
export const checkoutCompletedEvent = (session: SessionFields) =>
  checkoutSessionEvent('checkout.session.completed', { status: 'complete', payment_status: 'paid', ...session });

/** The event Stripe sends when an open Checkout session expires unpaid (24 h by default, or expired through the API). */
export const checkoutExpiredEvent = (session: SessionFields) =>
  checkoutSessionEvent('checkout.session.expired', { status: 'expired' as CheckoutSession['status'], payment_status: 'unpaid', ...session });

/** The event Stripe sends when a delayed payment method (SEPA debit…) finally fails after a completed session. */
export const checkoutAsyncPaymentFailedEvent = (session: SessionFields) =>
  checkoutSessionEvent('checkout.session.async_payment_failed', { status: 'complete', payment_status: 'unpaid', ...session });
