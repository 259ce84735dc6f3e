import { spawnSync } from 'node:child_process';
import { createServer, Server } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import Redis from 'ioredis';
import { createApp } from '../../functions/core-llm/app';
import { toApiGatewayEvent } from '../../core/internal-client';
import { toLambdaHandler } from '../../functions/shared/lambda';
import type { Runtime } from '../../functions/shared/runtime';
import type { GeminiStandIn } from '../support/stand-ins/gemini';
import { startCoreLlmRuntime } from '../support/core-llm-runtime';
import { http } from '../support/functions-platform';

/**
 * core-llm's retries (4 attempts of GEMINI_TIMEOUT_MS plus backoff: 80 s and more with the
 * defaults) must fit the invocation: the Lambda timeout is 60 s. The retry loop is bounded by a
 * deadline from the remaining invocation time (context.getRemainingTimeInMillis) or, outside
 * Lambda, a budget, so a slow model is answered 503 before Lambda kills the function.
 * The real app, the real @google/genai SDK and Redis, against the Gemini stand-in.
 */
let gemini: GeminiStandIn;
let runtime: Runtime;
let close: () => Promise<void>;

beforeAll(async () => {
  ({ gemini, runtime, close } = await startCoreLlmRuntime('llm-deadline', { GEMINI_TIMEOUT_MS: '2000' }));
});
afterAll(() => close());
// A test's delays its calls gave up on before using them all are not the next test's.
beforeEach(() => gemini.reset());

const clientId = '6f1c1d1e-0000-4000-8000-0000000000d1';

test('with time enough, retries still happen: a 503 then a 200', async () => {
  const handler = toLambdaHandler(createApp(runtime));
  gemini.failNext(503);
  const started = Date.now();
  const context = { awsRequestId: 'ctx-2', getRemainingTimeInMillis: () => started + 30_000 - Date.now() };
  const event = toApiGatewayEvent({ method: 'POST', path: '/generate', body: { clientId, prompt: 'A model that recovers.' } }, 'req-deadline-2');
  const res = (await handler(event, context)) as { statusCode: number; body: string };
  expect(res.statusCode).toBe(200);
  expect(gemini.calls).toHaveLength(2);
});

test('in Lambda: a model that hangs on every attempt is a 503 before the invocation runs out of time', async () => {
  const handler = toLambdaHandler(createApp(runtime));
  gemini.delayNext(10_000, 4);
  const invocationMs = 6_000;
  const started = Date.now();
  const context = { awsRequestId: 'ctx-1', getRemainingTimeInMillis: () => started + invocationMs - Date.now() };
  const event = toApiGatewayEvent({ method: 'POST', path: '/generate', body: { clientId, prompt: 'A slow model.' } }, 'req-deadline-1');
  const res = (await handler(event, context)) as { statusCode: number; body: string };
  const elapsed = Date.now() - started;
  // Answered with time to spare, not killed at the timeout (4 attempts × 2 s would be 8 s+).
  expect(elapsed).toBeLessThan(invocationMs - 500);
  expect(res.statusCode).toBe(503);
  expect(JSON.parse(res.body).error.message).toMatch(/time/);
  expect(gemini.calls.length).toBeLessThan(4);
}, 20_000);

test('outside Lambda: the configured budget bounds the retries the same way', async () => {
  const server: Server = createServer(createApp(runtime, undefined, { localBudgetMs: 3_000 }).callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    gemini.delayNext(10_000, 4);
    const started = Date.now();
    const res = await http(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, '/generate', {
      method: 'POST',
      json: { clientId, prompt: 'Another slow model.' },
    });
    expect(res.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(3_500);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
}, 20_000);

/**
 * What a request that met no model is charged: nothing. One too short of time for an attempt is
 * counted (the rate limit, the budget) before the model call, as every request is, so that
 * concurrent ones cannot all pass a check and then all call; the call never sent gives it back.
 * A rate limit of one generation a minute: had the 503 been counted, the client's next request
 * would be refused.
 */
describe('a deadline too close for the model call: a 503 that costs the client nothing', () => {
  let fresh: Awaited<ReturnType<typeof startCoreLlmRuntime>>;
  let admin: Redis;
  beforeEach(async () => {
    fresh = await startCoreLlmRuntime('llm-deadline-charges', { LLM_RATE_LIMIT_PER_MINUTE: '1' });
    admin = new Redis(fresh.runtime.config.redis.url);
  });
  afterEach(async () => {
    admin?.disconnect();
    await fresh?.close();
  });
  /** Every count the runtime's keys hold, by key less its window: the client's rate limit, the budget's requests and tokens. */
  const counts = async () => {
    const prefix = fresh.runtime.config.redis.keyPrefix;
    const keys = (await admin.keys(`${prefix}llm:*`)).filter((k) => /:(rate:[^:]+|req|tok):\d+$/.test(k));
    const values = keys.length > 0 ? await admin.mget(...keys) : [];
    return Object.fromEntries(keys.map((k, i) => [k.slice(prefix.length).replace(/:\d+$/, ''), Number(values[i])]).filter(([, v]) => v !== 0));
  };

  test.each(['interactive', 'batch'] as const)('%s: no model call, nothing left counted, and the client\'s next request is served', async (traffic) => {
    const clientId = '6f1c1d1e-0000-4000-8000-0000000000d2';
    const handler = toLambdaHandler(createApp(fresh.runtime));
    const ask = (remainingMs: number, i: number) =>
      handler(toApiGatewayEvent({ method: 'POST', path: '/generate', body: { clientId, prompt: `Request ${i} (${traffic}).`, traffic } }, `req-close-${i}`), {
        awsRequestId: `ctx-close-${i}`,
        getRemainingTimeInMillis: () => remainingMs,
      }) as Promise<{ statusCode: number; body: string }>;
    // 2.5 s left in the invocation: less the 2 s margin, 0.5 s, under the 1 s an attempt needs.
    const late = await ask(2_500, 1);
    expect({ status: late.statusCode, message: JSON.parse(late.body).error.message }).toEqual({ status: 503, message: expect.stringMatching(/time/) });
    expect(fresh.gemini.calls).toHaveLength(0);
    expect(await counts()).toEqual({});
    expect(await admin.zcard(`${fresh.runtime.config.redis.keyPrefix}llm:{budget}:batch:inflight`)).toBe(0);
    expect((await ask(30_000, 2)).statusCode).toBe(200);
    expect(fresh.gemini.calls).toHaveLength(1);
    // The one call made, counted once (its tokens corrected to the stand-in's 30).
    const lane = traffic === 'interactive' ? { 'llm:{budget}:interactive:req': 1, 'llm:{budget}:interactive:tok': 30 } : { 'llm:{budget}:batch:req': 1, 'llm:{budget}:batch:tok': 30, [`llm:{budget}:client:${clientId}:req`]: 1 };
    const rate = traffic === 'interactive' ? { [`llm:rate:${clientId}`]: 1 } : {};
    expect(await counts()).toEqual({ 'llm:{budget}:req': 1, 'llm:{budget}:tok': 30, ...lane, ...rate });
  });
});

/**
 * The stand-in's scripted delays (above: 10 s answers the app gives up on after 2 s) end with the
 * call they delay: once its caller gave up, or once the stand-in is closed, no timer of it keeps a
 * process alive, so a test run ends when its tests do (not jest's "did not exit one second after
 * the test run has completed"). In a process of its own, whose end is what is proved.
 */
test('the Gemini stand-in holds no timer past its call: the process ends once it is closed', async () => {
  const script = `(async () => {
    const { request } = require('node:http');
    const { startGeminiStandIn } = require(${JSON.stringify(join(__dirname, '../support/stand-ins/gemini.ts'))});
    const standIn = await startGeminiStandIn();
    standIn.delayNext(60000, 2);
    const call = (signal) => new Promise((resolve) => {
      const req = request(standIn.url + '/v1beta/models/m:generateContent', { method: 'POST', agent: false, signal }, (res) => res.resume().on('end', resolve).on('error', resolve));
      req.on('error', resolve);
      req.end(JSON.stringify({ contents: [{ parts: [{ text: 'A slow answer.' }] }] }));
    });
    await call(AbortSignal.timeout(300));
    const pending = call();
    while (standIn.calls.length < 2) await new Promise((r) => setTimeout(r, 10));
    await standIn.close();
    await pending;
    console.log('closed');
  })();`;
  const started = Date.now();
  const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8', timeout: 15_000 });
  expect({ status: child.status, signal: child.signal, stdout: child.stdout.trim(), stderr: child.stderr }).toEqual({ status: 0, signal: null, stdout: 'closed', stderr: '' });
  // Well before the delays' 60 s: the process waited on nothing of the stand-in's once closed.
  expect(Date.now() - started).toBeLessThan(10_000);
}, 20_000);
