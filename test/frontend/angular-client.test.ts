import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect, createServer, Socket } from 'node:net';
import { join } from 'node:path';
import { chromium, Browser, BrowserContext, Page } from 'playwright-core';
import { readWorkerConfig } from '../../containers/shared/worker-config';
import { DOCUMENT_GONE } from '../../core/domain/order-views';
import { SECURITY_RESPONSE_HEADERS } from '../../modules/edge-behaviour';
import { LOCAL_ORIGIN_SECRET, LOCAL_STATE_DIR } from '../../scripts/local/defaults';
import { frontendSource } from '../../scripts/local/edge/frontend-source';
import { LocalEdge, startLocalEdge } from '../../scripts/local/edge/server';
import { ensureFrontendBuild } from '../../scripts/local/frontend';
import { OPENAPI_PATH } from '../../scripts/openapi/document';
import { runCliProcess } from '../support/cli-process';
import { freePort, REPO } from '../support/local-dev';
import { http, startTestPlatform, TestPlatform } from '../support/functions-platform';
import { startGeminiStandIn, GeminiStandIn } from '../support/stand-ins/gemini';
import { until } from '../support/workers-harness';

/**
 * The reference Angular client (frontend/), built from the repository's own files, driven in
 * Debian's Chromium through the local edge (the CloudFront Function code, the response headers
 * policy, /api/* to the gateways) against the real local platform: services, workers, fauxqs,
 * the Stripe stand-in's checkout page and the Gemini stand-in. Every page must load without a
 * Content-Security-Policy violation or a console error.
 */
const SCREENSHOT = join(LOCAL_STATE_DIR, 'artifacts', 'ready-order.png');
const GEMINI_KEY = 'frontend-test-gemini-key';

let p: TestPlatform;
let gemini: GeminiStandIn;
let edge: LocalEdge;
let browser: Browser;

beforeAll(async () => {
  const started = Date.now();
  const build = await ensureFrontendBuild((line) => process.stdout.write(`${line}\n`));
  process.stdout.write(
    `frontend: install ${build.installSeconds.toFixed(1)} s, build ${build.buildSeconds.toFixed(1)} s ` +
      `(${build.installed || build.built ? 'done now' : 'up to date'}; ${((Date.now() - started) / 1000).toFixed(1)} s in all)\n`,
  );
  const edgePort = await freePort();
  gemini = await startGeminiStandIn({ apiKey: GEMINI_KEY });
  // Stripe sends the buyer back to PUBLIC_BASE_URL: the edge, as CloudFront in AWS.
  p = await startTestPlatform(
    'frontend',
    { GEMINI_API_KEY: GEMINI_KEY, GEMINI_BASE_URL: gemini.url, PUBLIC_BASE_URL: `http://127.0.0.1:${edgePort}` },
    { startWorkers: true },
  );
  edge = await startEdge('folder', edgePort);
  browser = await chromium.launch({ executablePath: readWorkerConfig(process.env).chromiumPath });
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await edge?.close();
  await p?.teardown();
  await gemini?.close();
});

/** The local edge of `npm run dev` in front of this platform, serving the build folder or the local bucket. */
const startEdge = (kind: 'folder' | 'bucket', port: number) =>
  startLocalEdge({
    port,
    frontend: frontendSource(kind, p.emulator.endpoint),
    gateways: { b2c: p.urls['gateway-b2c'], b2b: p.urls['gateway-b2b'] },
    originSecret: LOCAL_ORIGIN_SECRET,
    openApiFile: join(REPO, OPENAPI_PATH),
  });

/** A fresh browser profile whose page reports every CSP violation, console error and uncaught error into `problems`. */
async function openContext(): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const problems: string[] = [];
  const context = await browser.newContext();
  await context.exposeBinding('reportCspViolation', (source, text: string) => void problems.push(`CSP on ${source.page.url()}: ${text}`));
  await context.addInitScript({
    content: `document.addEventListener('securitypolicyviolation', (e) => window.reportCspViolation(e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline')));`,
  });
  const page = await context.newPage();
  // Not the S3 emulator's own origin: Chromium's PDF viewer showing the document asks it for a /favicon.ico it does not have.
  const s3Origin = new URL(p.emulator.endpoint).origin;
  page.on('console', (msg) => {
    if (msg.type() === 'error' && new URL(page.url()).origin !== s3Origin) problems.push(`console error on ${page.url()}: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`uncaught on ${page.url()}: ${err.message}`));
  return { context, page, problems };
}

const statusOf = (page: Page) => page.locator('[data-test=status]').textContent();

/** Presses the order form's button: the API's status and the idempotency key the page sent. */
async function submitOrder(page: Page): Promise<{ status: number; key: string }> {
  const [answer] = await Promise.all([page.waitForResponse((r) => r.url() === `${edge.url}/api/b2c/orders`), page.click('button[type=submit]')]);
  return { status: answer.status(), key: answer.request().headers()['idempotency-key'] };
}

/** From the themes page to a ready order: the form, the Checkout link, the stand-in's checkout page, back to the order page until ready. */
async function orderAndPay(page: Page, topic: string): Promise<string> {
  await page.locator('[data-theme=market-study] a', { hasText: 'Order' }).click();
  await page.waitForURL(`${edge.url}/order/market-study`);
  await page.fill('input[name=name]', 'Ada Lovelace');
  await page.fill('input[name=email]', 'ada@example.test');
  await page.fill('input[name="input.topic"]', topic);
  await page.fill('input[name="input.country"]', 'Portugal');
  await page.click('button[type=submit]');
  await page.waitForURL(/\/orders\/[0-9a-f-]{36}$/);
  const orderId = new URL(page.url()).pathname.split('/').pop()!;
  await expect(statusOf(page)).resolves.toBe('pending');

  await page.click('text=Pay with Stripe');
  await page.waitForURL(`${p.stripe.url}/pay/**`);
  await page.click('button[type=submit]');
  await page.waitForURL(`${edge.url}/orders/${orderId}?paid=1`);
  await page.locator('[data-test=status]', { hasText: 'ready' }).waitFor({ timeout: 120_000 });
  return orderId;
}

test('order → pay on the checkout page → ready → download; the order page survives a reload and a deep link', async () => {
  const { context, page, problems } = await openContext();
  const shell = await page.goto(`${edge.url}/`);
  expect(shell?.status()).toBe(200);
  expect(shell?.headers()['content-security-policy']).toBe(SECURITY_RESPONSE_HEADERS['content-security-policy']);
  const orderId = await orderAndPay(page, 'Solar kettles');
  // A live region: a screen reader says the status when it changes, without the buyer looking for it.
  await expect(page.getByRole('status').textContent()).resolves.toBe('ready');
  mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  process.stdout.write(`screenshot of the ready order page: ${SCREENSHOT}\n`);

  // The button opens the presigned S3 link the order's status gives. S3 answers it as an
  // attachment (response-content-disposition); fauxqs ignores that parameter, so Chromium opens
  // its PDF viewer instead of saving the file. The document is then fetched again by the browser
  // context from that link.
  const [navigation] = await Promise.all([
    page.waitForResponse((r) => r.request().isNavigationRequest() && new URL(r.url()).pathname.startsWith(`/${p.config.buckets.reports}/`)),
    page.click('text=Download the document'),
  ]);
  expect({ status: navigation.status(), type: navigation.headers()['content-type'] }).toEqual({ status: 200, type: 'application/pdf' });
  const fetched = await context.request.get(navigation.url());
  expect(fetched.headers()['content-type']).toBe('application/pdf');
  const pdf = join(SCREENSHOT, '..', 'ready-order.pdf');
  writeFileSync(pdf, await fetched.body());
  const text = execFileSync('pdftotext', [pdf, '-'], { encoding: 'utf8' });
  expect(text).toContain('Solar kettles');
  expect(text).toContain('Portugal');
  expect(gemini.calls.some((c) => c.prompt.includes('Solar kettles'))).toBe(true);

  await page.goBack();
  await page.waitForURL(`${edge.url}/orders/${orderId}?paid=1`);
  const reloaded = await page.reload();
  expect(reloaded?.headers()['content-type']).toMatch(/^text\/html/);
  await expect(statusOf(page)).resolves.toBe('ready');
  const deepLink = await page.goto(`${edge.url}/orders/${orderId}`);
  expect(deepLink?.status()).toBe(200);
  await expect(statusOf(page)).resolves.toBe('ready');
  await context.close();
  expect(problems).toEqual([]);
}, 180_000);

test('a ready order whose document is no longer stored: the download says so, as the API does, not that the document is not ready', async () => {
  const { context, page, problems } = await openContext();
  await page.goto(`${edge.url}/`);
  const orderId = await orderAndPay(page, 'Vanished tea kettles');
  // What a document deleted out of band leaves: a ready row whose key S3 does not hold.
  await p.db('orders').where({ id: orderId }).update({ document_key: `gone/${orderId}.pdf` });
  await page.click('text=Download the document');
  await page.locator('[role=alert]', { hasText: DOCUMENT_GONE }).waitFor();
  await expect(page.locator('[role=alert]').textContent()).resolves.not.toContain('not ready');
  await context.close();
  expect(problems).toEqual([]);
}, 180_000);

test('the access token never reaches the browser profile\'s history, the download included', async () => {
  const profile = mkdtempSync(join(tmpdir(), 'frontend-profile-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: readWorkerConfig(process.env).chromiumPath, acceptDownloads: true });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${edge.url}/`);
    const orderId = await orderAndPay(page, 'Copper kettles');
    const { accessToken } = JSON.parse((await page.evaluate((key) => (globalThis as unknown as { localStorage: { getItem(k: string): string | null } }).localStorage.getItem(key), `docplatform.order.${orderId}`))!) as { accessToken: string };
    await Promise.all([
      page.waitForResponse((r) => r.request().isNavigationRequest() && new URL(r.url()).pathname.startsWith(`/${p.config.buckets.reports}/`)),
      page.click('text=Download the document'),
    ]);
    // Chromium commits its history a moment after the visit.
    await new Promise((r) => setTimeout(r, 3000));
    await context.close();
    // Chromium's history database, written on close; the order page's own address proves it is the one.
    const history = Buffer.concat(readdirSync(join(profile, 'Default')).filter((f) => f.startsWith('History')).map((f) => readFileSync(join(profile, 'Default', f))));
    expect(history.includes(`/orders/${orderId}`)).toBe(true);
    expect(history.includes(accessToken)).toBe(false);
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}, 180_000);

test('a bad order is shown to the user as the API answered it, field by field, with the focus on the field it names', async () => {
  const { context, page, problems } = await openContext();
  await page.goto(`${edge.url}/order/market-study`);
  await page.fill('input[name=name]', 'Ada');
  await page.fill('input[name=email]', 'not-an-email');
  await page.fill('input[name="input.topic"]', 'Tea');
  const [answer] = await Promise.all([page.waitForResponse((r) => r.url() === `${edge.url}/api/b2c/orders`), page.click('button[type=submit]')]);
  expect(answer.status()).toBe(400);
  const { error } = (await answer.json()) as { error: { message: string; fields: { field: string; message: string }[] } };
  expect(error.fields.map((f) => f.field).sort()).toEqual(['body.email']);
  const alert = await page.locator('[role=alert]').textContent();
  expect(alert).toContain(error.message);
  for (const f of error.fields) expect(alert).toContain(`${f.field}: ${f.message}`);
  expect(page.url()).toBe(`${edge.url}/order/market-study`);
  // The button is disabled while the order is sent, which drops its focus: the keyboard user is
  // put on the field the API named, marked invalid and described by the message.
  const email = page.locator('input[name=email]');
  await page.locator('input[name=email]:focus').waitFor({ timeout: 5_000 });
  await expect(email.getAttribute('aria-invalid')).resolves.toBe('true');
  await expect(page.locator('input[name=name]').getAttribute('aria-invalid')).resolves.toBeNull();
  const describedBy = (await email.getAttribute('aria-describedby'))!;
  await expect(page.locator(`[id="${describedBy}"]`).textContent()).resolves.toBe(alert);
  // Sent again with the email fixed: the theme's own fields are checked next, and the marks and
  // the focus move to the one it names.
  const answerOf = async (): Promise<number> =>
    (await Promise.all([page.waitForResponse((r) => r.url() === `${edge.url}/api/b2c/orders`), page.click('button[type=submit]')]))[0].status();
  await page.fill('input[name=email]', 'ada@example.test');
  await expect(answerOf()).resolves.toBe(400);
  await page.locator('input[name="input.country"]:focus').waitFor({ timeout: 5_000 });
  await expect(page.locator('input[name="input.country"]').getAttribute('aria-invalid')).resolves.toBe('true');
  await expect(email.getAttribute('aria-invalid')).resolves.toBeNull();
  // Complete, it goes through (each 400 took nothing, and the press after it had a fresh key).
  await page.fill('input[name="input.country"]', 'Portugal');
  await expect(answerOf()).resolves.toBe(201);
  await page.waitForURL(/\/orders\/[0-9a-f-]{36}$/);
  await context.close();
  // Chromium reports the 400 itself as a failed resource load; nothing else may be reported.
  expect(problems.filter((line) => !/Failed to load resource: the server responded with a status of 400/.test(line))).toEqual([]);
}, 60_000);

test('an email the payment provider refuses is corrected and sent again: a 4xx gets a new key, a 503 is retried under the same key', async () => {
  const { context, page, problems } = await openContext();
  try {
    await page.goto(`${edge.url}/order/market-study`);
    await page.fill('input[name=name]', 'Ada Lovelace');
    await page.fill('input[name=email]', 'ada@refused.example.test');
    await page.fill('input[name="input.topic"]', 'Sea salt');
    await page.fill('input[name="input.country"]', 'Portugal');
    p.stripe.failNext(400, 1, 'customer_email');
    const refused = await submitOrder(page);
    expect(refused.status).toBe(400);
    await expect(page.locator('[role=alert]').textContent()).resolves.toContain('body.email: refused by the payment provider');
    await page.locator('input[name=email]:focus').waitFor({ timeout: 5_000 });

    await page.fill('input[name=email]', 'ada@example.test');
    // Stripe down for all the SDK's attempts: the order exists, its checkout does not yet.
    p.stripe.failNext(500, 3);
    const unavailable = await submitOrder(page);
    expect(unavailable.status).toBe(503);
    expect(unavailable.key).not.toBe(refused.key);
    const retried = await submitOrder(page);
    expect({ status: retried.status, sameKey: retried.key === unavailable.key }).toEqual({ status: 200, sameKey: true });
    await page.waitForURL(/\/orders\/[0-9a-f-]{36}$/);
    await expect(statusOf(page)).resolves.toBe('pending');
    const orders = await p.db('orders').whereIn('idempotency_key', [refused.key, unavailable.key]).select('idempotency_key');
    expect(orders.map((o: { idempotency_key: string }) => o.idempotency_key)).toEqual([unavailable.key]);
  } finally {
    p.stripe.failNext(500, 0);
    await context.close();
  }
  // Chromium reports the 400 and the 503 themselves as failed resource loads; nothing else may be reported.
  expect(problems.filter((line) => !/Failed to load resource: the server responded with a status of (400|503)/.test(line))).toEqual([]);
}, 60_000);

test('an order edited after a 503 is sent under a new key: the API takes it (201), not a 409 for the key used with another body', async () => {
  const { context, page, problems } = await openContext();
  try {
    await page.goto(`${edge.url}/order/market-study`);
    await page.fill('input[name=name]', 'Grace Hopper');
    await page.fill('input[name=email]', 'grace@example.test');
    await page.fill('input[name="input.topic"]', 'Olive oil');
    await page.fill('input[name="input.country"]', 'Greece');
    p.stripe.failNext(500, 3);
    const unavailable = await submitOrder(page);
    expect(unavailable.status).toBe(503);
    await page.fill('input[name="input.topic"]', 'Feta');
    const edited = await submitOrder(page);
    expect({ status: edited.status, newKey: edited.key !== unavailable.key }).toEqual({ status: 201, newKey: true });
    await page.waitForURL(/\/orders\/[0-9a-f-]{36}$/);
    await expect(statusOf(page)).resolves.toBe('pending');
  } finally {
    p.stripe.failNext(500, 0);
    await context.close();
  }
  expect(problems.filter((line) => !/Failed to load resource: the server responded with a status of 503/.test(line))).toEqual([]);
}, 60_000);

test('a browser that refuses site data is told the order is placed but cannot be followed; once allowed, the same order goes on', async () => {
  const { context, page, problems } = await openContext();
  // What Chromium does with site data blocked for the site: localStorage throws a SecurityError.
  await context.addInitScript({
    content: `(() => {
      const setItem = Storage.prototype.setItem;
      window.__storageBlocked = true;
      Storage.prototype.setItem = function (key, value) {
        if (window.__storageBlocked) throw new DOMException('Access is denied for this document.', 'SecurityError');
        return setItem.call(this, key, value);
      };
    })();`,
  });
  await page.goto(`${edge.url}/order/product-sheet`);
  await page.fill('input[name=name]', 'Ada Lovelace');
  await page.fill('input[name=email]', 'ada@example.test');
  await page.fill('input[name="input.product"]', 'Storm glass');
  const answerOf = async (): Promise<{ status: number; id: string }> => {
    const [answer] = await Promise.all([page.waitForResponse((r) => r.url() === `${edge.url}/api/b2c/orders`), page.click('button[type=submit]')]);
    return { status: answer.status(), id: ((await answer.json()) as { order: { id: string } }).order.id };
  };
  const placed = await answerOf();
  expect(placed.status).toBe(201);
  const alert = page.locator('[role=alert]:focus');
  await alert.waitFor({ timeout: 5_000 });
  await expect(alert.textContent()).resolves.toContain(`Order ${placed.id} is placed`);
  expect(page.url()).toBe(`${edge.url}/order/product-sheet`);
  await page.evaluate(() => void ((globalThis as unknown as { __storageBlocked: boolean }).__storageBlocked = false));
  const again = await answerOf();
  expect(again).toEqual({ status: 200, id: placed.id });
  await page.waitForURL(`${edge.url}/orders/${placed.id}`);
  await expect(statusOf(page)).resolves.toBe('pending');
  // Blocked for reading too (back from Stripe after site data was blocked again): said, not a blank page.
  await context.addInitScript({ content: `Storage.prototype.getItem = function () { throw new DOMException('Access is denied for this document.', 'SecurityError'); };` });
  await page.goto(`${edge.url}/orders/${placed.id}?paid=1`);
  await page.locator('[role=alert]', { hasText: 'does not hold the access token' }).waitFor({ timeout: 5_000 });
  await context.close();
  expect(problems).toEqual([]);
}, 60_000);

test('a theme list that could not be loaded is said with a way to try again (themes page, order form, B2B page), and the retry loads it', async () => {
  const { context, page, problems } = await openContext();
  let unreachable = true;
  // The browser's own connection failure, as when the network or the edge is down: fetch rejects, no answer at all.
  await context.route('**/api/b2c/themes', (route) => (unreachable ? route.abort('connectionrefused') : route.continue()));
  const cases: [string, string, string][] = [
    ['/', 'Try again', '[data-theme=market-study]'],
    ['/order/market-study', 'Try again', 'input[name="input.topic"]'],
    ['/b2b', 'Load the themes again', 'select[name=theme] option[value=market-study]'],
  ];
  for (const [path, button, loaded] of cases) {
    unreachable = true;
    await page.goto(`${edge.url}${path}`);
    await page.locator('[role=alert]', { hasText: 'The API could not be reached.' }).waitFor({ timeout: 10_000 });
    unreachable = false;
    await page.click(`button:has-text("${button}")`);
    await page.locator(loaded).waitFor({ state: 'attached', timeout: 10_000 });
    await expect(page.locator('[role=alert]').count()).resolves.toBe(0);
    await expect(page.locator(`button:has-text("${button}")`).count()).resolves.toBe(0);
  }
  // A list that loaded without the theme is no failure to retry.
  await page.goto(`${edge.url}/order/no-such-theme`);
  await page.locator('[role=alert]', { hasText: 'There is no theme "no-such-theme".' }).waitFor({ timeout: 10_000 });
  await expect(page.locator('button:has-text("Try again")').count()).resolves.toBe(0);
  await context.close();
  expect(problems.filter((line) => !/Failed to load resource: net::ERR_CONNECTION_REFUSED/.test(line))).toEqual([]);
}, 90_000);

test('B2B: a refused upload is said, with the focus on the message (the upload button is disabled while it is sent)', async () => {
  const { context, page, problems } = await openContext();
  await page.goto(`${edge.url}/b2b`);
  await page.fill('input[name=apiKey]', 'not-a-key');
  await page.selectOption('select[name=theme]', 'product-sheet');
  await page.setInputFiles('input[name=csv]', { name: 'products.csv', mimeType: 'text/csv', buffer: Buffer.from('product\nSolar kettle\n') });
  const [answer] = await Promise.all([page.waitForResponse((r) => r.url().startsWith(`${edge.url}/api/b2b/batches`)), page.click('button[type=submit]')]);
  expect(answer.status()).toBe(401);
  const { error } = (await answer.json()) as { error: { message: string } };
  await page.locator('[role=alert]:focus').waitFor({ timeout: 5_000 });
  await expect(page.locator('[role=alert]').textContent()).resolves.toBe(error.message);
  await context.close();
  expect(problems.filter((line) => !/Failed to load resource: the server responded with a status of 401/.test(line))).toEqual([]);
}, 60_000);

test('B2B: a CSV uploaded with an API key is followed until the batch completes', async () => {
  const created = await http(p.urls.client, '/clients', { method: 'POST', json: { name: 'Frontend B2B', email: 'frontend-b2b@example.test' } });
  expect(created.status).toBe(201);
  const { context, page, problems } = await openContext();
  await page.goto(`${edge.url}/b2b`);
  await page.fill('input[name=apiKey]', created.json.apiKey);
  await page.selectOption('select[name=theme]', 'product-sheet');
  await page.setInputFiles('input[name=csv]', { name: 'products.csv', mimeType: 'text/csv', buffer: Buffer.from('product\nSolar kettle\nWind lamp\n') });
  await page.click('button[type=submit]');
  await page.locator('[data-test=batch-status]', { hasText: 'completed' }).waitFor({ timeout: 120_000 });
  await expect(page.locator('[data-test=batch-rows]').textContent()).resolves.toBe('2 succeeded, 0 failed of 2');
  await expect(page.getByRole('status').textContent()).resolves.toBe('completed');
  await expect(page.locator('a', { hasText: 'manifest.json' }).count()).resolves.toBe(1);
  const batchId = (await page.locator('dd').first().textContent())!;
  const batch = await until(async () => (await p.db('batches').where({ id: batchId }).first()) as { status: string } | undefined, 5_000, 'the batch row');
  expect(batch.status).toBe('completed');
  await context.close();
  expect(problems).toEqual([]);
}, 180_000);

/** A TCP relay to `target` that can go down: every connection, open or new, is cut, as an origin that stops answering. */
async function startRelay(target: string): Promise<{ url: string; down(cut: boolean): void; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let cut = false;
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
  };
  const server = createServer((client) => {
    track(client);
    if (cut) return client.destroy();
    const upstream = connect(Number(port), hostname);
    track(upstream);
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    down: (value) => {
      cut = value;
      if (value) for (const s of sockets) s.destroy();
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

test('an API that answers 502 while the order is followed is said and read again: the page still reaches ready', async () => {
  const relay = await startRelay(p.urls['gateway-b2c']);
  // Same port: Stripe sends the buyer back to PUBLIC_BASE_URL.
  const port = edge.port;
  await edge.close();
  edge = await startLocalEdge({
    port,
    frontend: frontendSource('folder', p.emulator.endpoint),
    gateways: { b2c: relay.url, b2b: p.urls['gateway-b2b'] },
    originSecret: LOCAL_ORIGIN_SECRET,
    openApiFile: join(REPO, OPENAPI_PATH),
  });
  const { context, page, problems } = await openContext();
  try {
    await page.goto(`${edge.url}/order/product-sheet`);
    await page.fill('input[name=name]', 'Ada Lovelace');
    await page.fill('input[name=email]', 'ada@example.test');
    await page.fill('input[name="input.product"]', 'Tidal clock');
    await page.click('button[type=submit]');
    await page.waitForURL(/\/orders\/[0-9a-f-]{36}$/);
    await expect(statusOf(page)).resolves.toBe('pending');
    await page.click('text=Pay with Stripe');
    await page.waitForURL(`${p.stripe.url}/pay/**`);
    relay.down(true);
    await page.click('button[type=submit]');
    await page.waitForURL(/\?paid=1$/);
    // API Gateway's 502 for a function that failed, in the contract's error body: its message said on the page, and the status read again.
    await page.locator('[role=alert]', { hasText: 'Internal server error Trying again' }).waitFor({ timeout: 20_000 });
    relay.down(false);
    await page.locator('[data-test=status]', { hasText: 'ready' }).waitFor({ timeout: 60_000 });
    await expect(page.locator('[role=alert]').count()).resolves.toBe(0);
  } finally {
    await context.close();
    await edge.close();
    edge = await startEdge('folder', port);
    await relay.close();
  }
  expect(problems.filter((line) => !/Failed to load resource: the server responded with a status of 502/.test(line))).toEqual([]);
}, 180_000);

test('the same client published to the local bucket (publish:frontend --env local) and served from it: order → ready, deep link', async () => {
  const published = await runCliProcess(join(REPO, 'scripts/release/publish-frontend.ts'), ['--env', 'local'], {
    env: { EMULATOR_PORT: new URL(p.emulator.endpoint).port },
  });
  expect({ code: published.code, stderr: published.stderr }).toMatchObject({ code: 0 });
  // Same port: Stripe sends the buyer back to PUBLIC_BASE_URL.
  const port = edge.port;
  await edge.close();
  edge = await startEdge('bucket', port);

  const { context, page, problems } = await openContext();
  const shell = await page.goto(`${edge.url}/`);
  expect({ status: shell?.status(), cache: shell?.headers()['cache-control'] }).toEqual({ status: 200, cache: 'no-cache' });
  const orderId = await orderAndPay(page, 'Wind lamps');
  const deepLink = await page.goto(`${edge.url}/orders/${orderId}`);
  expect(deepLink?.status()).toBe(200);
  await expect(statusOf(page)).resolves.toBe('ready');
  await context.close();
  expect(problems).toEqual([]);
}, 180_000);
