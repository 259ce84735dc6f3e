import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_PROMPT } from '../../core/domain/generation-budget';
import { renderPrompt } from '../../core/domain/themes';
import { MAX_FIELD_ISSUES, RETRY_AFTER_SECONDS } from '../../core/errors';
import { ORDER_BODY_LIMIT } from '../../functions/gateway-b2c/app';
import { OPENAPI_PATH } from '../../scripts/openapi/document';
import { http, newIdempotencyKey, startTestPlatform, TestPlatform } from '../support/functions-platform';

/**
 * What gateway-b2c answers an order creation, through the real services, Stripe SDK and
 * stand-in: the answer a caller can act on, whatever the body looked like.
 */
const CLIENT = '6f1c1d1e-0000-4000-8000-0000000000a1';
let p: TestPlatform;
let b2c: string;

beforeAll(async () => {
  p = await startTestPlatform('fn_order_answers');
  b2c = p.urls['gateway-b2c'];
});
afterAll(() => p.teardown());

const orderBody = { email: 'grace@example.test', name: 'Grace', theme: 'cover-letter', input: { name: 'Grace', position: 'Engineer', company: 'Acme' } };
const createOrder = (key: string, body: unknown = orderBody) =>
  http(b2c, '/b2c/orders', { method: 'POST', json: body, headers: { 'idempotency-key': key } });

describe('idempotency', () => {
  test('the same order with its input members in another order is a replay of it, not a 409', async () => {
    const key = newIdempotencyKey();
    const first = await createOrder(key);
    expect(first.status).toBe(201);
    const reordered = { input: { company: 'Acme', position: 'Engineer', name: 'Grace' }, theme: 'cover-letter', name: 'Grace', email: 'grace@example.test' };
    const again = await createOrder(key, reordered);
    expect({ status: again.status, id: again.json.order?.id }).toEqual({ status: 200, id: first.json.order.id });
    expect((await createOrder(key, { ...orderBody, input: { ...orderBody.input, company: 'Other' } })).status).toBe(409);
  });

  test('the checkout session is created with the email lower-cased, as the fingerprint holds it, so a replay in another case sends Stripe the same request', async () => {
    const key = newIdempotencyKey();
    p.stripe.failNext(402, 1);
    expect((await createOrder(key, { ...orderBody, email: 'Grace@Example.TEST' })).status).toBe(402);
    const replayed = await createOrder(key, { ...orderBody, email: 'GRACE@example.test' });
    expect(replayed.status).toBe(200);
    const sessionId = /\/pay\/(cs_test_\w+)/.exec(replayed.json.checkoutUrl)![1];
    expect(p.stripe.sessions.get(sessionId)!.customer_email).toBe('grace@example.test');
  });

  test('an order stored with the fingerprint of the JSON as its client ordered it is still replayed', async () => {
    const key = newIdempotencyKey();
    const input = { position: 'Engineer', name: 'Grace', company: 'Acme' };
    const first = await createOrder(key, { ...orderBody, input });
    expect(first.status).toBe(201);
    const asSent = createHash('sha256').update(JSON.stringify({ email: orderBody.email, name: orderBody.name, theme: orderBody.theme, input })).digest('hex');
    await p.db('orders').where({ id: first.json.order.id }).update({ request_hash: asSent });
    const again = await createOrder(key, { ...orderBody, input });
    expect({ status: again.status, id: again.json.order?.id }).toEqual({ status: 200, id: first.json.order.id });
  });
});

describe('the prompt an order makes', () => {
  // Eleven fields of up to MAX_INPUT_VALUE each: more than core-llm's MAX_PROMPT in all.
  const fields = Array.from({ length: 11 }, (_, i) => `f${i}`);
  const template = `Write about ${fields.map((f) => `{{${f}}}`).join(' ')}.`;
  const fixed = template.replace(/\{\{\w+\}\}/g, '').length;
  const inputOf = (promptLength: number) => {
    let left = promptLength - fixed;
    return Object.fromEntries(fields.map((f, i) => {
      const n = Math.ceil(left / (fields.length - i));
      left -= n;
      return [f, 'x'.repeat(n)];
    }));
  };

  beforeAll(async () => {
    await p.db('themes').insert({ slug: 'long-brief', title: 'Long brief', prompt_template: template, output_format: 'html', price_cents: 500, active: true });
  });

  test("longer than core-llm takes is a 400 naming body.input at creation, and nothing is written; at the limit it is taken, and core-llm takes that prompt", async () => {
    const before = await p.counts();
    const over = await createOrder(newIdempotencyKey(), { ...orderBody, theme: 'long-brief', input: inputOf(MAX_PROMPT + 1) });
    expect(over.status).toBe(400);
    expect(over.json.error.fields).toEqual([{ field: 'body.input', message: expect.stringContaining(`at most ${MAX_PROMPT}`) }]);
    expect(await p.counts()).toEqual(before);

    const input = inputOf(MAX_PROMPT);
    const at = await createOrder(newIdempotencyKey(), { ...orderBody, theme: 'long-brief', input });
    expect(at.status).toBe(201);
    const generate = (prompt: string) => http(p.urls['core-llm'], '/generate', { method: 'POST', json: { clientId: CLIENT, prompt } });
    const prompt = renderPrompt(template, input);
    expect(prompt).toHaveLength(MAX_PROMPT);
    expect((await generate(prompt)).status).toBe(200);
    expect((await generate(`${prompt}x`)).status).toBe(400);
  });

  test('a B2B row whose prompt is longer is a 400 naming the row, and no batch is stored', async () => {
    const { apiKey } = (await http(p.urls.client, '/clients', { method: 'POST', json: { name: 'long-rows', email: 'long-rows@example.test' } })).json;
    const before = await p.counts();
    const res = await http(p.urls['gateway-b2b'], '/b2b/batches', {
      method: 'POST',
      headers: { 'x-api-key': apiKey },
      json: { theme: 'long-brief', rows: [inputOf(MAX_PROMPT), inputOf(MAX_PROMPT + 1)] },
    });
    expect(res.status).toBe(400);
    expect(res.json.error.fields).toEqual([{ field: 'rows[1]', message: expect.stringContaining(`at most ${MAX_PROMPT}`) }]);
    expect(await p.counts()).toEqual(before);
  });
});

describe('the size of a 400', () => {
  // Bodies just under the 64 KiB an order may have, each making as many issues, or as long a name, as it can.
  const count = (bytesEach: number) => Math.floor((ORDER_BODY_LIMIT - 400) / bytesEach);
  const bodies: [string, unknown][] = [
    // "\u0001", is 9 bytes; "k12345":"v", 13.
    ['thousands of control characters in one array', { ...orderBody, input: { ...orderBody.input, notes: Array(count(9)).fill('\u0001') } }],
    ['thousands of members the theme does not have', { ...orderBody, input: Object.fromEntries(Array.from({ length: count(13) }, (_, i) => [`k${i}`, 'v'])) }],
    ['one member named by 60 KB', { ...orderBody, input: { ...orderBody.input, ['m'.repeat(60_000)]: 'v' } }],
  ];

  test.each(bodies)('%s: a 400 of at most 16 KiB naming the first issues, and saying how many there were', async (_, body) => {
    expect(Buffer.byteLength(JSON.stringify(body))).toBeLessThan(ORDER_BODY_LIMIT);
    const res = await createOrder(newIdempotencyKey(), body);
    expect(res.status).toBe(400);
    expect(Buffer.byteLength(res.text)).toBeLessThanOrEqual(16 * 1024);
    const fields = res.json.error.fields as { field: string; message: string }[];
    expect(fields.length).toBeGreaterThan(0);
    expect(fields.length).toBeLessThanOrEqual(MAX_FIELD_ISSUES);
    for (const f of fields) expect(f.field.startsWith('body.input')).toBe(true);
  });

  test('past the cap, the message says how many issues were left out', async () => {
    const res = await createOrder(newIdempotencyKey(), bodies[0][1]);
    const total = (bodies[0][1] as { input: { notes: string[] } }).input.notes.length;
    const [, listed, more] = /^invalid (.*) and (\d+) more$/.exec(res.json.error.message) ?? [];
    expect(listed.split(', ').length + Number(more)).toBe(total);
  });
});

describe('Stripe refusing the checkout session', () => {
  afterEach(() => p.stripe.failNext(500, 0));

  test('a 400 about the customer email: a 400 naming body.email in our words, and the key is released: the same key with the email corrected creates the order', async () => {
    const key = newIdempotencyKey();
    p.stripe.failNext(400, 1, 'customer_email');
    const refused = await createOrder(key, { ...orderBody, email: 'grace@refused.example.test' });
    expect({ status: refused.status, body: refused.json }).toEqual({
      status: 400,
      body: { error: { code: 'invalid_request', message: 'invalid body.email', fields: [{ field: 'body.email', message: 'refused by the payment provider' }] } },
    });
    expect(refused.headers.get('retry-after')).toBeNull();
    // As Stripe does with a request that fails validation, nothing of it stays bound to the key:
    // its order is failed with the reason, and keeps no key.
    const [dropped] = await p.db('orders').join('clients', 'clients.id', 'orders.client_id').where('clients.email', 'grace@refused.example.test').select('orders.*');
    expect({ status: dropped.status, key: dropped.idempotency_key, session: dropped.stripe_session_id, error: dropped.error }).toEqual({
      status: 'failed', key: null, session: null, error: 'the payment provider refused body.email',
    });
    const corrected = await createOrder(key);
    expect({ status: corrected.status, checkout: corrected.json.checkoutUrl }).toEqual({ status: 201, checkout: expect.stringMatching(/\/pay\/cs_test_/) });
    expect(corrected.json.order.id).not.toBe(dropped.id);
    expect(p.stripe.sessions.get(/\/pay\/(cs_test_\w+)/.exec(corrected.json.checkoutUrl)![1])!.customer_email).toBe(orderBody.email);
    const replayed = await createOrder(key);
    expect({ status: replayed.status, id: replayed.json.order?.id }).toEqual({ status: 200, id: corrected.json.order.id });
  });

  test('the order service releases a key only for a pending order under that key without a checkout session; a refused order takes no session', async () => {
    const order = p.urls.order;
    const refuse = (id: string, idempotencyKey: string) => http(order, `/orders/${id}/checkout-refused`, { method: 'POST', json: { idempotencyKey, field: 'body.email' } });
    const key = newIdempotencyKey();
    const created = await createOrder(key);
    expect(created.status).toBe(201);
    const id = created.json.order.id as string;
    // It has its checkout session: the buyer may be paying it.
    expect((await refuse(id, key)).json.released).toBe(false);
    await p.db('orders').where({ id }).update({ status: 'paid' });
    expect((await refuse(id, key)).json.released).toBe(false);
    await p.db('orders').where({ id }).update({ status: 'pending', stripe_session_id: null, checkout_url: null });
    expect((await refuse(id, newIdempotencyKey())).json.released).toBe(false);
    expect(await p.db('orders').where({ id }).first()).toMatchObject({ status: 'pending', idempotency_key: key });
    const released = await refuse(id, key);
    expect({ status: released.status, released: released.json.released, order: released.json.order.status }).toEqual({ status: 200, released: true, order: 'failed' });
    const attach = await http(order, `/orders/${id}/checkout`, { method: 'POST', json: { sessionId: 'cs_test_late', url: 'https://checkout.example.test/late' } });
    expect({ status: attach.status, message: attach.json.error.message }).toEqual({ status: 409, message: 'order is failed; it takes no checkout session' });
    expect(await p.db('orders').where({ id }).first()).toMatchObject({ status: 'failed', idempotency_key: null, stripe_session_id: null });
  });

  test.each([
    ['about another parameter', 400, 'line_items[0][price_data][unit_amount]', 422, 'payment_rejected'],
    ['a card declined', 402, undefined, 402, 'payment_declined'],
  ])("%s: its own 4xx, not a 502 to retry, without Retry-After or Stripe's words", async (_, status, param, expected, code) => {
    p.stripe.failNext(status as number, 1, param as string | undefined);
    const res = await createOrder(newIdempotencyKey());
    expect({ status: res.status, code: res.json.error.code, retryAfter: res.headers.get('retry-after') }).toEqual({ status: expected, code, retryAfter: null });
    expect(res.text).not.toContain('stand-in failure');
    expect(res.text).not.toContain('unit_amount');
  });

  test.each([
    ['down (500 after the SDK retries)', 500],
    ['refusing the platform key (401)', 401],
    ['throttling (429)', 429],
  ])('Stripe %s: a 503 with Retry-After', async (_, status) => {
    p.stripe.failNext(status, 10);
    const res = await createOrder(newIdempotencyKey());
    expect({ status: res.status, code: res.json.error.code, retryAfter: res.headers.get('retry-after') }).toEqual({ status: 503, code: 'service_unavailable', retryAfter: String(RETRY_AFTER_SECONDS) });
    expect(res.text).not.toContain('stand-in failure');
  });
});

test('statusUrl is documented in the contract as a path under the API base (/api on the front end), and followed there it reads the order', async () => {
  const contract = JSON.parse(readFileSync(join(__dirname, '..', '..', OPENAPI_PATH), 'utf8'));
  const statusUrl = contract.components.schemas.CreatedOrder.properties.statusUrl;
  expect(statusUrl.description).toContain('/api/b2c/orders/{id}?token=');
  expect(contract.servers.map((s: { url: string }) => s.url)).toEqual(['/api']);
  const created = await createOrder(newIdempotencyKey());
  expect(created.json.statusUrl).toMatch(new RegExp(statusUrl.pattern));
  // The gateway's base is what /api is on the front end's origin.
  const followed = await http(b2c, created.json.statusUrl);
  expect({ status: followed.status, id: followed.json.order.id }).toEqual({ status: 200, id: created.json.order.id });
});
