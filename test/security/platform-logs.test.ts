import Stripe from 'stripe';
import { LOCAL_ORDER_TOKEN_SECRET, LOCAL_ORIGIN_SECRET, LOCAL_STRIPE_SECRET_KEY, LOCAL_STRIPE_WEBHOOK_SECRET } from '../../scripts/local/defaults';
import { checkoutCompletedEvent } from '../../scripts/local/stand-ins/stripe';
import { http, newIdempotencyKey, startTestPlatform, TestPlatform } from '../support/functions-platform';
import { until } from '../support/workers-harness';

/**
 * The local platform (the six services, both workers, the SQS/S3 emulator, the Stripe stand-in)
 * at debug level, every line of every process kept: a B2B client gets its API key and uses it,
 * a B2C order is paid by a signed webhook, generated, read by its token and downloaded through
 * its presigned link, and a forged webhook and a wrong token are refused. No line may hold any
 * credential that went through: the bearer ones the clients hold (order token, presigned link,
 * API key), the webhook signature, and the platform's own secrets.
 */
jest.setTimeout(120_000);

let p: TestPlatform;
const lines: string[] = [];
const stripe = new Stripe(LOCAL_STRIPE_SECRET_KEY);

beforeAll(async () => {
  p = await startTestPlatform('sec_logs', {}, { startWorkers: true, logLevel: 'debug', logSink: (line) => void lines.push(line) });
}, 60_000);
afterAll(() => p?.teardown());

test('no log line of a B2B and a B2C journey holds a token, a presigned link, an API key, a signature or a secret', async () => {
  const b2c = p.urls['gateway-b2c'];
  const b2b = p.urls['gateway-b2b'];
  const origin = { 'x-origin-verify': LOCAL_ORIGIN_SECRET };

  const client = await http(p.urls.client, '/clients', { method: 'POST', json: { name: 'sec', email: 'sec@example.test' } });
  const apiKey: string = client.json.apiKey;
  expect(apiKey).toMatch(/^dpk_/);
  // An order no one has: 404 once the key is accepted, 401 for a key that is not the client's.
  const unknown = '/b2b/orders/6f1c2b4e-8a3d-4c5e-9f10-1a2b3c4d5e6f';
  expect((await http(b2b, unknown, { headers: { 'x-api-key': apiKey, ...origin } })).status).toBe(404);
  expect((await http(b2b, unknown, { headers: { authorization: `Bearer ${apiKey}` } })).status).toBe(404);
  expect((await http(b2b, unknown, { headers: { 'x-api-key': `${apiKey.slice(0, -1)}${apiKey.endsWith('A') ? 'B' : 'A'}` } })).status).toBe(401);

  const created = await http(b2c, '/b2c/orders', {
    method: 'POST',
    json: { email: 'sec@example.test', name: 'Sec', theme: 'product-sheet', input: { product: 'Secret kettle' } },
    headers: { 'idempotency-key': newIdempotencyKey(), ...origin },
  });
  expect(created.status).toBe(201);
  const orderId: string = created.json.order.id;
  const token: string = created.json.accessToken;
  const row = await p.db('orders').where({ id: orderId }).first();
  const payload = JSON.stringify(
    checkoutCompletedEvent({ id: row.stripe_session_id, metadata: { orderId }, client_reference_id: orderId, amount_total: row.amount_cents, currency: row.currency }),
  );
  const forged = stripe.webhooks.generateTestHeaderString({ payload, secret: 'whsec_forged_by_someone_else' });
  expect((await http(b2c, '/b2c/stripe/webhook', { method: 'POST', body: payload, headers: { 'content-type': 'application/json', 'stripe-signature': forged } })).status).toBe(400);
  const signature = stripe.webhooks.generateTestHeaderString({ payload, secret: LOCAL_STRIPE_WEBHOOK_SECRET });
  expect((await http(b2c, '/b2c/stripe/webhook', { method: 'POST', body: payload, headers: { 'content-type': 'application/json', 'stripe-signature': signature } })).status).toBe(200);

  await until(async () => (await p.db('orders').where({ id: orderId }).first()).status === 'ready', 60_000, 'the order to be ready');
  const ready = await http(b2c, `/b2c/orders/${orderId}?token=${token}`);
  expect(ready.json.order.status).toBe('ready');
  const link = new URL(ready.json.order.document.url);
  expect((await fetch(link)).status).toBe(200);
  const redirect = await fetch(`${b2c}/b2c/orders/${orderId}/document?token=${token}`, { redirect: 'manual' });
  expect(redirect.status).toBe(303);
  const redirectLink = new URL(redirect.headers.get('location')!);
  expect((await http(b2c, `/b2c/orders/${orderId}?token=${'x'.repeat(43)}`)).status).toBe(404);
  await until(() => lines.some((l) => l.includes('"message done"') && l.includes(orderId)), 10_000, "the consumer's last line");

  const linkSecrets = [link, redirectLink].flatMap((u) => ['X-Amz-Signature', 'X-Amz-Credential', 'X-Amz-Security-Token'].map((n) => u.searchParams.get(n)).filter((v): v is string => !!v && v.length > 8));
  const secrets: Record<string, string> = {
    'order token': token,
    'API key': apiKey,
    'API key secret part': apiKey.slice(-43),
    'webhook signature': /v1=([0-9a-f]{64})/.exec(signature)![1],
    'forged webhook signature': /v1=([0-9a-f]{64})/.exec(forged)![1],
    'Stripe secret key': LOCAL_STRIPE_SECRET_KEY,
    'webhook secret': LOCAL_STRIPE_WEBHOOK_SECRET,
    'order token secret': LOCAL_ORDER_TOKEN_SECRET,
    'origin secret': LOCAL_ORIGIN_SECRET,
    ...Object.fromEntries(linkSecrets.map((v, i) => [`presigned link part ${i}`, v])),
  };
  expect(linkSecrets.length).toBeGreaterThanOrEqual(2);
  const found = Object.entries(secrets).flatMap(([what, value]) => lines.filter((l) => l.includes(value) || l.includes(encodeURIComponent(value))).map((l) => `${what}: ${l}`));
  expect(found).toEqual([]);

  // The lines are there, with what an operator needs: the route's path, its status, the order.
  const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(parsed.filter((l) => l.msg === 'request' && l.path === `/b2c/orders/${orderId}`).map((l) => l.status)).toEqual(expect.arrayContaining([200, 404]));
  expect(parsed.some((l) => l.msg === 'document ready' && l.orderId === orderId)).toBe(true);
});
