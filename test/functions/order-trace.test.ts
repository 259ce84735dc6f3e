import Stripe from 'stripe';
import { LOCAL_STRIPE_SECRET_KEY, LOCAL_STRIPE_WEBHOOK_SECRET } from '../../scripts/local/defaults';
import { checkoutCompletedEvent } from '../../scripts/local/stand-ins/stripe';
import { http, newIdempotencyKey, startTestPlatform, TestPlatform } from '../support/functions-platform';
import { until } from '../support/workers-harness';

/**
 * The story of one B2C order across the platform (docs/operations.md, "follow one order"): the
 * local platform with its workers, every service's and worker's log lines collected through the
 * logger's sink. The request id of the Stripe webhook that paid the order is on the lines of the
 * gateway, the order service, the doc-generation worker (its queue consumer and its handler) and
 * core-llm; every one of those lines names the order, and so does every line of the request that
 * created it.
 */
type Line = Record<string, unknown> & { service?: string; msg?: string; requestId?: string; orderId?: string };

let p: TestPlatform;
const lines: Line[] = [];
const stripe = new Stripe(LOCAL_STRIPE_SECRET_KEY);

beforeAll(async () => {
  p = await startTestPlatform('fn_trace', {}, { startWorkers: true, logLevel: 'info', logSink: (line) => void lines.push(JSON.parse(line) as Line) });
}, 60_000);
afterAll(() => p?.teardown());

test('one B2C order: the webhook request id follows the order through gateway, order service, queue consumer, worker and core-llm', async () => {
  const b2c = p.urls['gateway-b2c'];
  const created = await http(b2c, '/b2c/orders', {
    method: 'POST',
    json: { email: 'trace@example.test', name: 'Trace', theme: 'product-sheet', input: { product: 'Traced kettle' } },
    headers: { 'idempotency-key': newIdempotencyKey() },
  });
  expect(created.status).toBe(201);
  const orderId: string = created.json.order.id;
  const creationId = created.headers.get('x-request-id');

  const row = await p.db('orders').where({ id: orderId }).first();
  const payload = JSON.stringify(
    checkoutCompletedEvent({ id: row.stripe_session_id, metadata: { orderId }, client_reference_id: orderId, amount_total: row.amount_cents, currency: row.currency }),
  );
  const paid = await http(b2c, '/b2c/stripe/webhook', {
    method: 'POST',
    body: payload,
    headers: { 'content-type': 'application/json', 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload, secret: LOCAL_STRIPE_WEBHOOK_SECRET }) },
  });
  expect(paid.status).toBe(200);
  const webhookId = paid.headers.get('x-request-id');
  expect(webhookId).toBeTruthy();
  expect(webhookId).not.toBe(creationId);

  await until(async () => (await p.db('orders').where({ id: orderId }).first()).status === 'ready', 45_000, 'the order to be ready').catch((err: Error) => {
    throw new Error(`${err.message}; its lines:\n${lines.filter((l) => l.orderId === orderId || l.level !== 'info').map((l) => JSON.stringify(l)).join('\n')}`);
  });
  // The consumer deletes the message after its handler: its "message done" line is the last of the story.
  await until(() => lines.some((l) => l.msg === 'message done' && l.orderId === orderId), 10_000, "the consumer's last line");

  const story = lines.filter((l) => l.requestId === webhookId);
  // Every line under the webhook's id names the order …
  expect(story.filter((l) => l.orderId !== orderId)).toEqual([]);
  // … and the id is on each hop: gateway, order service, the worker's queue loop and handler, core-llm.
  const has = (service: string, what: (l: Line) => boolean) => story.some((l) => l.service === service && what(l));
  expect({
    gateway: has('gateway-b2c', (l) => l.msg === 'request' && l.path === '/b2c/stripe/webhook' && l.status === 200),
    orderService: has('order', (l) => l.msg === 'doc job sent'),
    orderServiceAccess: has('order', (l) => l.msg === 'request' && l.path === `/orders/${orderId}/paid`),
    consumer: has('doc-generation', (l) => l.component === 'consumer' && l.msg === 'message done'),
    worker: has('doc-generation', (l) => l.component === undefined && l.msg === 'document ready'),
    coreLlm: has('core-llm', (l) => l.msg === 'request' && l.path === '/generate' && l.status === 200),
  }).toEqual({ gateway: true, orderService: true, orderServiceAccess: true, consumer: true, worker: true, coreLlm: true });

  // The request that created the order is another request (Stripe's webhook starts its own): its lines name the order too.
  const creation = lines.filter((l) => l.requestId === creationId);
  expect(creation.map((l) => `${l.service} ${l.msg} ${l.path ?? ''}`.trim())).toEqual(
    expect.arrayContaining([`order request /orders/b2c`, `order request /orders/${orderId}/checkout`, 'gateway-b2c request /b2c/orders']),
  );
  expect(creation.filter((l) => l.orderId !== orderId)).toEqual([]);

  // So `filter orderId = …` finds the whole story, and each of its lines carries the request it belongs to.
  const about = lines.filter((l) => l.orderId === orderId);
  expect(about.filter((l) => typeof l.requestId !== 'string')).toEqual([]);
  expect(new Set(about.map((l) => l.requestId))).toEqual(new Set([creationId, webhookId]));
  expect(new Set(about.map((l) => l.service))).toEqual(new Set(['gateway-b2c', 'order', 'doc-generation', 'core-llm']));
}, 90_000);
