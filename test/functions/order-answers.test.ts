import { createHash } from 'node:crypto';
import { http, newIdempotencyKey, startTestPlatform, TestPlatform } from '../support/functions-platform';

/**
 * What gateway-b2c answers an order creation, through the real services, Stripe SDK and
 * stand-in: the answer a caller can act on, whatever the body looked like.
 */
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
