import { Client as PgClient } from 'pg';
import { runCli, UsageError } from '../../core/cli';
import { ENV, serviceUrlVar } from '../../core/contract';
import { createLogger, stderrSink } from '../../core/logger';
import { checkoutCompletedEvent, deliverWebhook } from './stand-ins/stripe';
import { LOCAL_PG_URL, LOCAL_STRIPE_WEBHOOK_SECRET, localPort } from './defaults';

/**
 * `npm run local:pay -- <orderId>`: plays Stripe for a local order. It sends the
 * `checkout.session.completed` event of the order's Checkout session to the B2C webhook,
 * signed with the local webhook secret by the stripe SDK, exactly as Stripe would. Exit 0 the
 * webhook took it, 1 it did not (or the order has no session), 2 no order id or one that names no
 * order (core/cli.ts).
 */
const USAGE = 'usage: npm run local:pay -- <orderId>   (orderId: the UUID returned by POST /b2c/orders)';

async function main(): Promise<number> {
  const orderId = process.argv[2];
  if (!orderId) throw new UsageError('orderId', 'missing');
  if (!/^[0-9a-f-]{36}$/i.test(orderId)) throw new UsageError('orderId', `must be a UUID, got "${orderId}"`);
  const db = new PgClient({ connectionString: LOCAL_PG_URL });
  await db.connect();
  const { rows } = await db.query('SELECT id, stripe_session_id, amount_cents, currency, status FROM orders WHERE id = $1', [orderId]);
  await db.end();
  if (rows.length === 0) throw new UsageError('orderId', `no order ${orderId} in ${new URL(LOCAL_PG_URL).pathname.slice(1)}`);
  const order = rows[0];
  if (!order.stripe_session_id) throw new Error(`order ${orderId} has no Checkout session (status ${order.status})`);

  const event = checkoutCompletedEvent({
    id: order.stripe_session_id,
    metadata: { orderId },
    client_reference_id: orderId,
    amount_total: order.amount_cents,
    currency: order.currency,
  });
  const secret = process.env[ENV.stripeWebhookSecret] ?? LOCAL_STRIPE_WEBHOOK_SECRET;
  const base = process.env[serviceUrlVar('gateway-b2c')] ?? `http://127.0.0.1:${localPort('gateway-b2c')}`;
  const res = await deliverWebhook(`${base}/b2c/stripe/webhook`, secret, event);
  console.log(`webhook answered ${res.status}: ${res.body}`);
  return res.status >= 300 ? 1 : 0;
}

runCli(main, { log: createLogger({ component: 'local:pay' }, 'info', stderrSink), usage: USAGE });
