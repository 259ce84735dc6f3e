import { createHash, createHmac, randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { createS3Client } from '../../core/storage';
import { markGenerating, markReady } from '../../core/domain/orders';
import { LOCAL_STRIPE_SECRET_KEY, LOCAL_STRIPE_WEBHOOK_SECRET } from '../../scripts/local/defaults';
import { checkoutAsyncPaymentFailedEvent, checkoutCompletedEvent, checkoutExpiredEvent } from '../../scripts/local/stand-ins/stripe';
import { http, newIdempotencyKey, startTestPlatform, TestPlatform } from '../support/functions-platform';

let p: TestPlatform;
let b2c: string;
const stripe = new Stripe(LOCAL_STRIPE_SECRET_KEY);

beforeAll(async () => {
  p = await startTestPlatform('fn_b2c');
  b2c = p.urls['gateway-b2c'];
});
afterAll(() => p.teardown());

const orderBody = { email: 'ada@example.test', name: 'Ada', theme: 'product-sheet', input: { product: 'Solar kettle' } };
const createOrder = (key: string, body: unknown = orderBody) =>
  http(b2c, '/b2c/orders', { method: 'POST', json: body, headers: { 'idempotency-key': key } });

function signedWebhook(payload: string, secret = LOCAL_STRIPE_WEBHOOK_SECRET) {
  return http(b2c, '/b2c/stripe/webhook', {
    method: 'POST',
    body: payload,
    headers: { 'content-type': 'application/json', 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload, secret }) },
  });
}

test('lists the seeded themes, one per output format at least', async () => {
  const res = await http(b2c, '/b2c/themes');
  expect(res.status).toBe(200);
  const formats = new Set(res.json.themes.map((t: { outputFormat: string }) => t.outputFormat));
  expect(formats).toEqual(new Set(['pdf', 'docx', 'html']));
  expect(res.json.themes[0]).not.toHaveProperty('promptTemplate');
});

test('order creation answers 400 naming every bad field, and writes nothing', async () => {
  const before = await p.counts();
  const res = await http(b2c, '/b2c/orders', {
    method: 'POST',
    json: { email: 'not-an-email', theme: 'Bad Slug', input: 'x' },
    headers: { 'idempotency-key': 'short' },
  });
  expect(res.status).toBe(400);
  const fields = res.json.error.fields.map((f: { field: string }) => f.field);
  expect(fields).toEqual(expect.arrayContaining(['header.idempotency-key', 'body.email', 'body.name', 'body.theme', 'body.input']));
  const unknownField = await createOrder(newIdempotencyKey(), { ...orderBody, input: { product: '', colour: 'red' } });
  expect(unknownField.status).toBe(400);
  expect(unknownField.json.error.fields.map((f: { field: string }) => f.field).sort()).toEqual(['body.input.colour', 'body.input.product']);
  expect(await p.counts()).toEqual(before);
});

test('a NUL or other control character, or an unpaired surrogate, anywhere in an order is a 400 naming the field; nothing is written', async () => {
  const before = await p.counts();
  const fieldsOf = async (body: unknown) => {
    const res = await createOrder(newIdempotencyKey(), body);
    expect({ status: res.status, body: res.json }).toMatchObject({ status: 400, body: { error: { code: 'invalid_request' } } });
    return res.json.error.fields as { field: string; message: string }[];
  };
  // PostgreSQL refuses U+0000 in text and jsonb: before validation caught it, this was a 503 "retry shortly" that no retry fixed.
  expect(await fieldsOf({ ...orderBody, input: { product: 'Solar\u0000kettle' } })).toEqual([
    { field: 'body.input.product', message: 'must not contain control characters (U+0000 at character 6)' },
  ]);
  expect((await fieldsOf({ ...orderBody, name: 'A\u0000da' })).map((f) => f.field)).toEqual(['body.name']);
  expect(await fieldsOf({ ...orderBody, input: { ['prod\u0000uct']: 'Solar kettle' } })).toEqual([
    { field: 'body.input.prod\u0000uct', message: 'key must not contain control characters (U+0000 at character 5)' },
  ]);
  expect((await fieldsOf({ ...orderBody, input: { product: 'x', extra: { deep: ['fine', 'bad\u0000'] } } })).map((f) => f.field)).toEqual([
    'body.input.extra.deep[1]',
  ]);
  expect((await fieldsOf({ ...orderBody, input: { product: 'ring\u0007' } })).map((f) => f.field)).toEqual(['body.input.product']);
  expect(await fieldsOf({ ...orderBody, input: { product: 'half \ud83d pair' } })).toEqual([
    { field: 'body.input.product', message: 'must be valid Unicode (unpaired surrogate at character 6)' },
  ]);
  expect(await p.counts()).toEqual(before);
  // Tab, line feed and carriage return are text.
  const multiline = await createOrder(newIdempotencyKey(), { ...orderBody, input: { product: 'Solar\tkettle\r\nwith lid' } });
  expect(multiline.status).toBe(201);
});

test('same idempotency key gives the same order and one Stripe session; another body with it is a 409', async () => {
  const key = newIdempotencyKey();
  const first = await createOrder(key);
  expect(first.status).toBe(201);
  expect(first.json.checkoutUrl).toMatch(/\/pay\/cs_test_/);
  const [again, concurrent] = await Promise.all([createOrder(key), createOrder(key)]);
  expect(again.status).toBe(200);
  expect(again.json.order.id).toBe(first.json.order.id);
  expect(concurrent.json.order.id).toBe(first.json.order.id);
  expect(again.json.accessToken).toBe(first.json.accessToken);
  expect(await p.db('orders').where({ idempotency_key: key }).count()).toEqual([{ count: '1' }]);
  const sessions = [...p.stripe.sessions.values()].filter((s) => s.metadata.orderId === first.json.order.id);
  expect(sessions).toHaveLength(1);
  expect(sessions[0].amount_total).toBe(700);

  const other = await createOrder(key, { ...orderBody, input: { product: 'Another' } });
  expect(other.status).toBe(409);
});

test("the order stores its creating request's id: the client's valid x-request-id, else the gateway's own; a replay or the paying webhook never changes it", async () => {
  const key = newIdempotencyKey();
  const clientId = `client-req-${randomBytes(6).toString('hex')}`;
  const created = await http(b2c, '/b2c/orders', { method: 'POST', json: orderBody, headers: { 'idempotency-key': key, 'x-request-id': clientId } });
  expect(created.status).toBe(201);
  expect(created.headers.get('x-request-id')).toBe(clientId);
  const orderId = created.json.order.id;
  const stored = async () => (await p.db('orders').where({ id: orderId }).first()).request_id;
  expect(await stored()).toBe(clientId);
  // Ops metadata, not the client's: the public view does not carry it.
  expect(JSON.stringify(created.json)).not.toContain(clientId);

  const replay = await http(b2c, '/b2c/orders', { method: 'POST', json: orderBody, headers: { 'idempotency-key': key, 'x-request-id': 'client-req-replay' } });
  expect(replay.status).toBe(200);
  expect(replay.json.order.id).toBe(orderId);
  const paid = await signedWebhook(await paidEventFor(orderId));
  expect(paid.json).toMatchObject({ handled: true, status: 'queued' });
  expect(paid.headers.get('x-request-id')).not.toBe(clientId);
  expect(await stored()).toBe(clientId);
  await drainDocJobs();

  const malformed = await http(b2c, '/b2c/orders', { method: 'POST', json: orderBody, headers: { 'idempotency-key': newIdempotencyKey(), 'x-request-id': 'two words' } });
  expect(malformed.status).toBe(201);
  const own = malformed.headers.get('x-request-id');
  expect(own).not.toBe('two words');
  expect((await p.db('orders').where({ id: malformed.json.order.id }).first()).request_id).toBe(own);
});

test('the access token is server-made (not derived from the idempotency key), stored only as a hash, and never sent to Stripe', async () => {
  const key = newIdempotencyKey();
  const created = await createOrder(key);
  expect(created.status).toBe(201);
  const { accessToken } = created.json;
  const orderId = created.json.order.id;
  expect(accessToken).toMatch(/^[A-Za-z0-9_-]{43,}$/);
  // Before: HMAC-SHA256(idempotency key, order id): whoever knew the key and the id had the token.
  expect(accessToken).not.toBe(createHmac('sha256', key).update(`order-access:${orderId}`).digest('base64url'));
  const row = await p.db('orders').where({ id: orderId }).first();
  expect(row.access_token_hash).toBe(createHash('sha256').update(accessToken).digest('hex'));
  expect(JSON.stringify(row)).not.toContain(accessToken);
  // The return URLs reach Stripe, the browser history and Referer headers: the order id only.
  const [session] = [...p.stripe.sessions.values()].filter((s) => s.metadata.orderId === orderId);
  for (const url of [session.success_url, session.cancel_url]) {
    expect(url).not.toContain(accessToken);
    expect(new URL(url).searchParams.has('token')).toBe(false);
    expect(new URL(url).pathname).toBe(`/orders/${orderId}`);
  }
  expect(JSON.stringify(p.stripe.requests)).not.toContain(accessToken);
  // Another order with a key differing by one character has an unrelated token.
  const other = await createOrder(key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A'));
  expect(other.json.accessToken).not.toBe(accessToken);
  expect((await http(b2c, `/b2c/orders/${orderId}?token=${other.json.accessToken}`)).status).toBe(404);
  expect((await http(b2c, `/b2c/orders/${orderId}?token=${accessToken}`)).status).toBe(200);
});

test('an order made before server tokens keeps its token, and a replay of its creation still returns it', async () => {
  const key = newIdempotencyKey();
  const created = await createOrder(key);
  const orderId = created.json.order.id;
  const legacy = createHmac('sha256', key).update(`order-access:${orderId}`).digest('base64url');
  await p.db('orders').where({ id: orderId }).update({ access_token_hash: createHash('sha256').update(legacy).digest('hex') });
  const replay = await createOrder(key);
  expect(replay.status).toBe(200);
  expect(replay.json.accessToken).toBe(legacy);
  expect((await http(b2c, `/b2c/orders/${orderId}?token=${legacy}`)).status).toBe(200);
});

test('a Stripe outage answers 503 with Retry-After and a retry with the same key completes the order', async () => {
  const key = newIdempotencyKey();
  p.stripe.failNext(500, 10);
  const failed = await createOrder(key);
  expect({ status: failed.status, retryAfter: failed.headers.get('retry-after') }).toEqual({ status: 503, retryAfter: '5' });
  p.stripe.failNext(500, 0);
  const retried = await createOrder(key);
  expect(retried.status).toBe(200);
  expect(retried.json.checkoutUrl).toBeTruthy();
});

test('webhook: bad signature is 400 and changes nothing; a signed payment queues the order and sends its doc job', async () => {
  const created = await createOrder(newIdempotencyKey());
  const orderId = created.json.order.id;
  const row = await p.db('orders').where({ id: orderId }).first();
  const payload = JSON.stringify(
    checkoutCompletedEvent({ id: row.stripe_session_id, metadata: { orderId }, client_reference_id: orderId, amount_total: 700, currency: 'eur' }),
  );

  const forged = await signedWebhook(payload, 'whsec_someone_else');
  expect(forged.status).toBe(400);
  expect(forged.json.error.fields[0].field).toBe('header.stripe-signature');
  const unsigned = await http(b2c, '/b2c/stripe/webhook', { method: 'POST', body: payload, headers: { 'content-type': 'application/json' } });
  expect(unsigned.status).toBe(400);
  expect((await p.db('orders').where({ id: orderId }).first()).status).toBe('pending');
  expect(await p.receive('docJobs')).toEqual([]);

  const paid = await signedWebhook(payload);
  expect(paid.status).toBe(200);
  expect(paid.json).toMatchObject({ handled: true, status: 'queued' });
  const replay = await signedWebhook(payload);
  expect(replay.json.status).toBe('queued');
  expect(await p.receive('docJobs')).toEqual([{ v: 1, orderId }]);
});

/** Every message now visible in the doc-jobs queue (receive takes at most 10 at a time). */
async function drainDocJobs(): Promise<unknown[]> {
  const all: unknown[] = [];
  for (;;) {
    const batch = await p.receive('docJobs');
    if (batch.length === 0) return all;
    all.push(...batch);
  }
}

async function paidEventFor(orderId: string) {
  const row = await p.db('orders').where({ id: orderId }).first();
  return JSON.stringify(
    checkoutCompletedEvent({ id: row.stripe_session_id, metadata: { orderId }, client_reference_id: orderId, amount_total: row.amount_cents, currency: row.currency }),
  );
}

test('webhook: eight concurrent identical deliveries send exactly one doc job', async () => {
  await drainDocJobs();
  const created = await createOrder(newIdempotencyKey());
  const orderId = created.json.order.id;
  const payload = await paidEventFor(orderId);
  const answers = await Promise.all(Array.from({ length: 8 }, () => signedWebhook(payload)));
  expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
  for (const a of answers) expect(a.json).toMatchObject({ handled: true, orderId });
  expect(await drainDocJobs()).toEqual([{ v: 1, orderId }]);
  expect((await p.db('orders').where({ id: orderId }).first()).status).toBe('queued');
});

test('webhook: a failed job send leaves the order pending and answers 503; the redelivery queues it with one job', async () => {
  await drainDocJobs();
  const created = await createOrder(newIdempotencyKey());
  const orderId = created.json.order.id;
  const payload = await paidEventFor(orderId);
  const send = jest.spyOn(p.runtimes.order.queue, 'sendDocJob').mockRejectedValueOnce(new Error('SQS unreachable'));
  try {
    const failed = await signedWebhook(payload);
    expect(failed.status).toBe(503);
    expect((await p.db('orders').where({ id: orderId }).first()).status).toBe('pending');
    const retried = await signedWebhook(payload);
    expect(retried.json).toMatchObject({ handled: true, status: 'queued' });
  } finally {
    send.mockRestore();
  }
  expect(await drainDocJobs()).toEqual([{ v: 1, orderId }]);
});

test('webhook: an order left `paid` by a sender that died before its send gets its job from the next delivery, once', async () => {
  await drainDocJobs();
  const created = await createOrder(newIdempotencyKey());
  const orderId = created.json.order.id;
  const payload = await paidEventFor(orderId);
  await p.db('orders').where({ id: orderId }).update({ status: 'paid' });
  const answers = await Promise.all(Array.from({ length: 3 }, () => signedWebhook(payload)));
  for (const a of answers) expect(a.json).toMatchObject({ handled: true, status: 'queued' });
  expect(await drainDocJobs()).toEqual([{ v: 1, orderId }]);
});

test('webhook: an expired or failed checkout ends the pending order as failed with a reason the client sees', async () => {
  const cases = [
    { event: checkoutExpiredEvent, reason: 'payment expired' },
    { event: checkoutAsyncPaymentFailedEvent, reason: 'payment failed' },
  ];
  for (const { event, reason } of cases) {
    const created = await createOrder(newIdempotencyKey());
    const orderId = created.json.order.id;
    const row = await p.db('orders').where({ id: orderId }).first();
    const session = { id: row.stripe_session_id, metadata: { orderId }, client_reference_id: orderId, amount_total: row.amount_cents, currency: row.currency };
    const res = await signedWebhook(JSON.stringify(event(session)));
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ handled: true, orderId, status: 'failed' });
    const seen = await http(b2c, `/b2c/orders/${orderId}?token=${created.json.accessToken}`);
    expect(seen.json.order).toMatchObject({ status: 'failed', error: reason });
    // A late success event for the same session cannot revive it, and sends no job.
    const late = await signedWebhook(JSON.stringify(checkoutCompletedEvent(session)));
    expect(late.json).toMatchObject({ status: 'failed' });
  }
  expect(await drainDocJobs()).toEqual([]);
});

test('webhook: an expiry never fails an order that is already paid', async () => {
  const created = await createOrder(newIdempotencyKey());
  const orderId = created.json.order.id;
  const payload = await paidEventFor(orderId);
  expect((await signedWebhook(payload)).json.status).toBe('queued');
  const row = await p.db('orders').where({ id: orderId }).first();
  const expired = await signedWebhook(
    JSON.stringify(checkoutExpiredEvent({ id: row.stripe_session_id, metadata: { orderId }, client_reference_id: orderId, amount_total: 700, currency: 'eur' })),
  );
  expect(expired.status).toBe(200);
  expect(expired.json).toMatchObject({ status: 'queued' });
  expect((await p.db('orders').where({ id: orderId }).first()).status).toBe('queued');
  await drainDocJobs();
});

test('webhook: a session paid for another amount or currency never pays the order (200 handled:false, no job)', async () => {
  await drainDocJobs();
  for (const paidWith of [{ amount_total: 1, currency: 'eur' }, { amount_total: 700, currency: 'usd' }, { amount_total: 70000, currency: 'eur' }]) {
    const created = await createOrder(newIdempotencyKey());
    const orderId = created.json.order.id;
    const row = await p.db('orders').where({ id: orderId }).first();
    const res = await signedWebhook(JSON.stringify(checkoutCompletedEvent({ id: row.stripe_session_id, metadata: { orderId }, client_reference_id: orderId, ...paidWith })));
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ received: true, handled: false });
    expect((await p.db('orders').where({ id: orderId }).first()).status).toBe('pending');
  }
  expect(await drainDocJobs()).toEqual([]);
});

test('webhook: with Adaptive Pricing the amount is checked in the order currency (currency_conversion)', async () => {
  await drainDocJobs();
  const created = await createOrder(newIdempotencyKey());
  const orderId = created.json.order.id;
  const row = await p.db('orders').where({ id: orderId }).first();
  const event = checkoutCompletedEvent({ id: row.stripe_session_id, metadata: { orderId }, client_reference_id: orderId, amount_total: 815, currency: 'usd' });
  const converted = { ...event, data: { object: { ...event.data.object, currency_conversion: { amount_total: 700, amount_subtotal: 700, fx_rate: '1.164', source_currency: 'eur' } } } };
  const res = await signedWebhook(JSON.stringify(converted));
  expect(res.json).toMatchObject({ handled: true, status: 'queued' });
  expect(await drainDocJobs()).toEqual([{ v: 1, orderId }]);
});

test('status by token: a wrong token is a 404; a ready order carries a working presigned link and its document', async () => {
  const created = await createOrder(newIdempotencyKey());
  const { id } = created.json.order;
  const wrong = await http(b2c, `/b2c/orders/${id}?token=${'x'.repeat(43)}`);
  expect(wrong.status).toBe(404);
  const pending = await http(b2c, `/b2c/orders/${id}?token=${created.json.accessToken}`);
  expect(pending.json.order.status).toBe('pending');
  expect(pending.json.order.document).toBeUndefined();

  await p.db('orders').where({ id }).update({ status: 'queued' });
  await markGenerating(p.db, id);
  const row = await p.db('orders').where({ id }).first();
  const key = `${row.client_id}/${id}.html`;
  await p.runtimes['gateway-b2c'].storage.put('reports', key, '<h1>Solar kettle</h1>', 'text/html');
  expect((await markReady(p.db, id, key))?.status).toBe('ready');

  const ready = await http(b2c, `/b2c/orders/${id}?token=${created.json.accessToken}`);
  expect(ready.json.order.status).toBe('ready');
  const download = await fetch(ready.json.order.document.url);
  expect(download.status).toBe(200);
  expect(await download.text()).toBe('<h1>Solar kettle</h1>');
  const direct = await http(b2c, `/b2c/orders/${id}/document?token=${created.json.accessToken}`);
  expect(direct.status).toBe(200);
  expect(direct.headers.get('content-type')).toContain('text/html');
});

test('the document route redirects to a short-lived presigned link: a document over the 6 MB Lambda response limit is served, never read by the gateway', async () => {
  const created = await createOrder(newIdempotencyKey());
  const { id } = created.json.order;
  await p.db('orders').where({ id }).update({ status: 'queued' });
  await markGenerating(p.db, id);
  const row = await p.db('orders').where({ id }).first();
  const key = `${row.client_id}/${id}.pdf`;
  const pdf = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(7 * 1024 * 1024)]);
  const storage = p.runtimes['gateway-b2c'].storage;
  await storage.put('reports', key, pdf, 'application/pdf');
  await markReady(p.db, id, key);

  const get = jest.spyOn(storage, 'get');
  try {
    const res = await fetch(`${b2c}/b2c/orders/${id}/document?token=${created.json.accessToken}`, { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(Number(res.headers.get('content-length') ?? 0)).toBeLessThan(1024);
    const location = new URL(res.headers.get('location')!);
    expect(location.origin).toBe(new URL(p.emulator.endpoint).origin);
    expect(location.searchParams.get('X-Amz-Expires')).toBe('60');
    expect(location.href).not.toContain(created.json.accessToken);
    // S3 answers the download as an attachment with the order's file name (fauxqs ignores the override).
    expect(location.searchParams.get('response-content-disposition')).toBe(`attachment; filename="${id}.pdf"`);
    const download = await fetch(location);
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(pdf)).toBe(true);
    expect(get).not.toHaveBeenCalled();
  } finally {
    get.mockRestore();
  }
  // Not ready, or a wrong token: still a 409 / 404, no link.
  const wrong = await fetch(`${b2c}/b2c/orders/${id}/document?token=${'x'.repeat(43)}`, { redirect: 'manual' });
  expect(wrong.status).toBe(404);
});

test('a ready order whose document is not in S3 (deleted, or never uploaded) answers 410 JSON on the document route and no link in its status; the row stays ready, and a restored object is served again', async () => {
  const created = await createOrder(newIdempotencyKey());
  const { id } = created.json.order;
  const token = created.json.accessToken;
  await p.db('orders').where({ id }).update({ status: 'queued' });
  await markGenerating(p.db, id);
  const row = await p.db('orders').where({ id }).first();
  const key = `${row.client_id}/${id}/1/${id}.html`;
  expect((await markReady(p.db, id, key))?.status).toBe('ready');

  const gone = async () => {
    const res = await fetch(`${b2c}/b2c/orders/${id}/document?token=${token}`, { redirect: 'manual' });
    expect(res.status).toBe(410);
    expect(res.headers.get('location')).toBeNull();
    expect(((await res.json()) as { error: unknown }).error).toMatchObject({ code: 'document_gone', message: expect.stringContaining(id) });
    const status = await http(b2c, `/b2c/orders/${id}?token=${token}`);
    expect(status.status).toBe(200);
    expect(status.json.order).toMatchObject({ status: 'ready', error: expect.stringContaining('no longer stored') });
    expect(status.json.order.document).toBeUndefined();
    expect((await p.db('orders').where({ id }).first()).status).toBe('ready');
  };
  // Never uploaded although the row says ready.
  await gone();

  const s3 = createS3Client(p.config);
  await p.runtimes['gateway-b2c'].storage.put('reports', key, '<h1>Solar kettle</h1>', 'text/html');
  const served = await fetch(`${b2c}/b2c/orders/${id}/document?token=${token}`, { redirect: 'manual' });
  expect(served.status).toBe(303);
  // Deleted out of band.
  try {
    await s3.send(new DeleteObjectCommand({ Bucket: 'reports', Key: key }));
  } finally {
    s3.destroy();
  }
  await gone();
  // Restored (a noncurrent version brought back): the same row serves it again.
  await p.runtimes['gateway-b2c'].storage.put('reports', key, '<h1>Solar kettle</h1>', 'text/html');
  const status = await http(b2c, `/b2c/orders/${id}?token=${token}`);
  expect(status.json.order.error).toBeNull();
  expect((await fetch(status.json.order.document.url)).status).toBe(200);
});

test('unknown routes 404, wrong methods 405, oversize bodies 413, all as JSON', async () => {
  expect((await http(b2c, '/nope')).json.error.code).toBe('not_found');
  const wrongMethod = await http(b2c, '/b2c/themes', { method: 'DELETE' });
  expect(wrongMethod.status).toBe(405);
  expect(wrongMethod.headers.get('allow')).toContain('GET');
  const big = await http(b2c, '/b2c/orders', {
    method: 'POST',
    json: { ...orderBody, input: { product: 'x'.repeat(70 * 1024) } },
    headers: { 'idempotency-key': newIdempotencyKey() },
  });
  expect(big.status).toBe(413);
  expect(big.json.error.code).toBe('payload_too_large');
});
