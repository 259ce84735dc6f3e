import { execFile } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../build/esbuild-base';
import { BundleResult, bundleFunctionTo } from '../../build/functions';
import { createDb } from '../../core/db';
import { toApiGatewayEvent } from '../../core/internal-client';
import { migrateLatest, seed } from '../../migrations/migrate';
import { themeSeeds } from '../../migrations/seeds/themes';
import { createTestDatabase } from '../support/postgres';
import { startGeminiStandIn, GeminiStandIn } from '../support/stand-ins/gemini';

/**
 * What only the bundle does differently from the sources the other tests run: core-llm's bundle
 * ships @google/genai's web entry beside handler.js (genai.mjs, a lazy chunk), loaded on the first
 * generation, and gateway-b2c ships Stripe the same way (stripe.mjs), loaded on the first payment or webhook.
 * It must reach Gemini through `httpOptions.baseUrl`, and its errors must keep their status for
 * the retry policy (429 → 429 after the retries, a 500 then success → 200). The database
 * services' bundles leave out knex's migrations and schema building and pg's Cloudflare probe,
 * and evaluate `debug` only when DEBUG is set (build/functions.ts, build/esbuild-base.ts): the
 * theme bundle still answers from PostgreSQL, and traces its queries under DEBUG.
 */
const run = promisify(execFile);
const API_KEY = 'gemini-bundle-test-key';
let outDir: string;
let coreLlm: BundleResult;
let gemini: GeminiStandIn;

// Invokes the handler once per event, in order, in one fresh process (one execution environment).
const INVOKE_ALL = `
const { handler } = require(process.argv[1]);
(async () => {
  const results = [];
  for (const event of JSON.parse(process.argv[2])) {
    const r = await handler(event, { awsRequestId: 'bundle' });
    results.push({ statusCode: r.statusCode, headers: r.headers, body: JSON.parse(r.body) });
  }
  const undiciLoaded = process.moduleLoadList.some((m) => m.includes('undici'));
  process.stdout.write(JSON.stringify({ results, undiciLoaded }));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
`;

async function invokeAll(bundle: BundleResult, events: object[], env: Record<string, string>) {
  const { stdout, stderr } = await run(process.execPath, ['-e', INVOKE_ALL, path.join(bundle.outDir, 'handler.js'), JSON.stringify(events)], {
    cwd: os.tmpdir(),
    env: { PATH: process.env.PATH ?? '', NODE_PATH: path.join(REPO_ROOT, 'node_modules'), LOG_LEVEL: 'error', ...env },
  });
  return { ...(JSON.parse(stdout) as { results: { statusCode: number; headers: Record<string, string>; body: any }[]; undiciLoaded: boolean }), stderr };
}

/** A copy of a bundle without its lazy chunk `chunk`: what a cold start that never reads it sees. */
function withoutChunk(bundle: BundleResult, chunk: string): BundleResult {
  const dir = path.join(outDir, `${bundle.name}-without-${chunk}`);
  fs.cpSync(bundle.outDir, dir, { recursive: true });
  fs.rmSync(path.join(dir, chunk));
  return { ...bundle, outDir: dir };
}

const generate = (prompt: string) =>
  toApiGatewayEvent({ method: 'POST', path: '/generate', body: { clientId: '6f1c1d1e-0000-4000-8000-0000000000b1', prompt } }, 'bundle-' + prompt);

beforeAll(async () => {
  outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fn-bundles-'));
  [coreLlm, gemini] = await Promise.all([bundleFunctionTo('core-llm', path.join(outDir, 'core-llm')), startGeminiStandIn({ apiKey: API_KEY })]);
}, 60_000);

afterAll(async () => {
  fs.rmSync(outDir, { recursive: true, force: true });
  await gemini?.close();
});

test('the core-llm bundle generates through the Gemini stand-in with the SDK’s web entry, retrying 5xx and answering 429 after retries', async () => {
  const code = fs.readFileSync(path.join(coreLlm.outDir, 'handler.js'), 'utf8');
  const chunk = fs.readFileSync(path.join(coreLlm.outDir, 'genai.mjs'), 'utf8');
  // The SDK (its API host) is in the chunk, not in what every cold start reads.
  expect(chunk).toContain('generativelanguage.googleapis.com');
  expect(code).not.toContain('generativelanguage.googleapis.com');
  expect(`${code}${chunk}`).not.toMatch(/google-auth-library|gaxios/);
  // The standalone Redis client only (build/esbuild-base.ts): the cluster client's code is not in it.
  expect(code).not.toContain('Failed to refresh slots cache');
  const env = {
    APP_ENV: 'test',
    DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/unused',
    REDIS_URL: 'redis://127.0.0.1:6379',
    REDIS_KEY_PREFIX: `test:fn-bundles:${randomBytes(4).toString('hex')}:`,
    GEMINI_API_KEY: API_KEY,
    GEMINI_BASE_URL: gemini.url,
    GEMINI_MODEL: 'gemini-bundle',
  };
  gemini.failNext(500);
  const {
    results: [retried],
  } = await invokeAll(coreLlm, [generate('Write about kettles.')], env);
  expect(retried).toMatchObject({ statusCode: 200, body: { provider: 'gemini', model: 'gemini-bundle', cached: false } });
  expect(retried.body.text).toContain('Write about kettles.');
  gemini.failNext(429, 4);
  const {
    results: [limited],
  } = await invokeAll(coreLlm, [generate('Write about ferries.')], env);
  expect(limited).toMatchObject({ statusCode: 429, body: { error: { code: 'rate_limited' } } });
  expect(gemini.calls.map((c) => c.apiKey)).toEqual(Array(6).fill(API_KEY));
}, 60_000);

test('JSON answers, errors included, never make Node load undici (the Response global Koa tests bodies against): no 20–40 ms on the first answer', async () => {
  const bad = toApiGatewayEvent({ method: 'POST', path: '/generate', body: { prompt: '' } }, 'bundle-bad');
  // Without genai.mjs beside it: a cold start and its answers never read the Gemini SDK.
  const { results, undiciLoaded } = await invokeAll(withoutChunk(coreLlm, 'genai.mjs'), [toApiGatewayEvent({ method: 'GET', path: '/health' }, 'bundle-health'), bad], {
    APP_ENV: 'test',
    DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/unused',
  });
  expect(results.map((r) => [r.statusCode, r.headers['content-type']])).toEqual([
    [200, 'application/json; charset=utf-8'],
    [400, 'application/json; charset=utf-8'],
  ]);
  expect(results[0].body).toEqual({ status: 'ok', service: 'core-llm' });
  expect(results[1].body.error.fields.map((f: { field: string }) => f.field).sort()).toEqual(['body.clientId', 'body.prompt']);
  expect(undiciLoaded).toBe(false);
}, 30_000);

test('the gateway-b2c bundle loads Stripe (stripe.mjs beside handler.js) on the first webhook, not at a cold start, and verifies signatures with it', async () => {
  const gateway = await bundleFunctionTo('gateway-b2c', path.join(outDir, 'gateway-b2c'));
  const secret = 'whsec_bundle_test';
  const payload = JSON.stringify({ id: 'evt_bundle', object: 'event', type: 'customer.created', data: { object: {} } });
  const t = Math.floor(Date.now() / 1000);
  const signature = `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${payload}`).digest('hex')}`;
  // The event's body is JSON.stringify of the same object: the bytes that were signed.
  const webhook = (sig: string) => toApiGatewayEvent({ method: 'POST', path: '/b2c/stripe/webhook', body: JSON.parse(payload), headers: { 'stripe-signature': sig } }, 'bundle-webhook');
  const env = { APP_ENV: 'test', DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/unused', STRIPE_SECRET_KEY: 'sk_test_bundle', STRIPE_WEBHOOK_SECRET: secret };
  expect(fs.readFileSync(path.join(gateway.outDir, 'handler.js'), 'utf8')).not.toContain('api.stripe.com');
  const cold = await invokeAll(withoutChunk(gateway, 'stripe.mjs'), [toApiGatewayEvent({ method: 'GET', path: '/health' }, 'bundle-health')], env);
  expect(cold.results[0]).toMatchObject({ statusCode: 200, body: { status: 'ok', service: 'gateway-b2c' } });
  const paid = await invokeAll(gateway, [webhook(signature), webhook(`t=${t},v1=${'0'.repeat(64)}`)], env);
  expect(paid.results.map((r) => [r.statusCode, r.body])).toEqual([
    [200, { received: true, handled: false }],
    [400, expect.objectContaining({ error: expect.objectContaining({ fields: [expect.objectContaining({ field: 'header.stripe-signature', message: 'signature verification failed' })] }) })],
  ]);
}, 60_000);

test('the theme bundle, without knex’s migrations and schema building, answers from PostgreSQL with pg’s Node sockets (no undici on Node 20)', async () => {
  const theme = await bundleFunctionTo('theme', path.join(outDir, 'theme'));
  const code = fs.readFileSync(path.join(theme.outDir, 'handler.js'), 'utf8');
  // The migrator's default table and the schema builder's methods are not in the bundle.
  expect(code).not.toMatch(/knex_migrations|createTableIfNotExists/);
  expect(code).toContain('knex/lib/schema/tablebuilder is not bundled');
  const database = await createTestDatabase('fn_bundles');
  const db = createDb({ database: { url: database.url, port: 5432, poolMax: 1 }, secrets: {} });
  try {
    await migrateLatest(db);
    await seed(db);
    const slug = themeSeeds[0].slug;
    const { results, undiciLoaded } = await invokeAll(
      theme,
      [
        toApiGatewayEvent({ method: 'GET', path: '/health' }, 'bundle-health'),
        toApiGatewayEvent({ method: 'GET', path: '/themes' }, 'bundle-themes'),
        toApiGatewayEvent({ method: 'GET', path: `/themes/${slug}` }, 'bundle-theme'),
      ],
      { APP_ENV: 'test', DATABASE_URL: database.url },
    );
    expect(results.map((r) => r.statusCode)).toEqual([200, 200, 200]);
    expect(results[1].body.themes.map((t: { slug: string }) => t.slug)).toEqual(themeSeeds.map((t) => t.slug).sort());
    expect(results[2].body.theme).toMatchObject({ slug, promptTemplate: themeSeeds[0].prompt_template });
    expect(undiciLoaded).toBe(false);
    // `debug` is evaluated only when DEBUG is set (build/esbuild-base.ts), and then logs as itself.
    const traced = await invokeAll(theme, [toApiGatewayEvent({ method: 'GET', path: '/themes' }, 'bundle-debug')], { APP_ENV: 'test', DATABASE_URL: database.url, DEBUG: 'knex:query' });
    expect(traced.results[0].statusCode).toBe(200);
    expect(traced.stderr).toMatch(/knex:query select \* from "themes"/);
  } finally {
    await db.destroy();
    await database.drop();
  }
}, 60_000);
