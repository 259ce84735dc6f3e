import { http, newIdempotencyKey, startTestPlatform, TestPlatform } from '../support/functions-platform';

/**
 * The Stripe stand-in's checkout page, as a browser uses it: the session URL an order gets is a
 * page; paying there sends the signed `checkout.session.completed` to the real B2C webhook and
 * sends the buyer back to the order's success URL.
 */
let p: TestPlatform;

beforeAll(async () => {
  p = await startTestPlatform('local_checkout');
});
afterAll(() => p.teardown());

test('paying on the checkout page marks the order paid and redirects to its success URL; a second visit only redirects', async () => {
  const created = await http(p.urls['gateway-b2c'], '/b2c/orders', {
    method: 'POST',
    json: { email: 'ada@example.test', name: 'Ada', theme: 'product-sheet', input: { product: 'Solar kettle' } },
    headers: { 'idempotency-key': newIdempotencyKey() },
  });
  expect(created.status).toBe(201);
  const { order, checkoutUrl, accessToken } = created.json;
  expect(checkoutUrl.startsWith(`${p.stripe.url}/pay/`)).toBe(true);

  const page = await fetch(checkoutUrl);
  expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  const html = await page.text();
  expect(html).toContain('<form method="post">');
  expect(html).toContain('ada@example.test');

  const paid = await fetch(checkoutUrl, { method: 'POST', redirect: 'manual' });
  expect(paid.status).toBe(303);
  expect(paid.headers.get('location')).toBe(`${p.config.publicBaseUrl}/orders/${order.id}?paid=1`);
  const status = await http(p.urls['gateway-b2c'], `/b2c/orders/${order.id}?token=${accessToken}`);
  expect(['paid', 'queued']).toContain(status.json.order.status);

  const again = await fetch(checkoutUrl, { redirect: 'manual' });
  expect(again.status).toBe(303);
  expect((await fetch(`${p.stripe.url}/pay/cs_test_unknown`)).status).toBe(404);
});
