import Redis from 'ioredis';
import { createApp } from '../../functions/core-llm/app';
import { toApiGatewayEvent } from '../../core/internal-client';
import { toLambdaHandler } from '../../functions/shared/lambda';
import type { Runtime } from '../../functions/shared/runtime';
import { startCoreLlmRuntime } from '../support/core-llm-runtime';

/**
 * core-llm's per-client limit counts the calls that reach the model: a call the generation
 * budget refuses (429, come back later) is not one of them, so a client that waits out a
 * busy budget is not then refused by its own limit. The real app, Redis and the Gemini stand-in;
 * a quota of 6 requests a minute leaves one generation per 10 s budget window (and no interactive
 * share: with one request a window, any share would leave batch rows none, which the config refuses).
 */
let runtime: Runtime;
let close: () => Promise<void>;

beforeAll(async () => {
  ({ runtime, close } = await startCoreLlmRuntime('llm-rate', { GEMINI_REQUESTS_PER_MINUTE: '6', LLM_INTERACTIVE_SHARE_PERCENT: '0', LLM_RATE_LIMIT_PER_MINUTE: '2' }));
});
afterAll(() => close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('calls refused by the generation budget do not count toward the per-client limit', async () => {
  const handler = toLambdaHandler(createApp(runtime));
  const clientId = '6f1c1d1e-0000-4000-8000-0000000000e1';
  let n = 0;
  const generate = async () => {
    n += 1;
    const event = toApiGatewayEvent({ method: 'POST', path: '/generate', body: { clientId, prompt: `Call ${n} at ${Date.now()}.` } }, `req-rate-${n}`);
    const res = (await handler(event, { awsRequestId: `ctx-${n}`, getRemainingTimeInMillis: () => 30_000 })) as { statusCode: number; body: string };
    return { status: res.statusCode, message: (JSON.parse(res.body) as { error?: { message?: string } }).error?.message ?? '' };
  };
  // All in one clock minute (the limit's window) and from the start of a budget window.
  const leftInMinute = 60_000 - (Date.now() % 60_000);
  if (leftInMinute < 30_000) await sleep(leftInMinute + 50);
  await sleep(10_000 - (Date.now() % 10_000) + 50);

  expect((await generate()).status).toBe(200);
  for (let i = 0; i < 3; i++) {
    const refused = await generate();
    expect(refused).toEqual({ status: 429, message: expect.stringContaining('generation budget') });
  }
  // The next budget window: the client's second call to reach the model, within its limit of 2.
  await sleep(10_000 - (Date.now() % 10_000) + 50);
  expect((await generate()).status).toBe(200);
  await sleep(10_000 - (Date.now() % 10_000) + 50);
  const third = await generate();
  expect(third).toEqual({ status: 429, message: expect.stringContaining('rate limit of 2') });
}, 90_000);

test("at the limit, concurrent calls: the ones the limit refuses are not left counted either, so the client keeps the calls it did not make", async () => {
  const handler = toLambdaHandler(createApp(runtime));
  const admin = new Redis(runtime.config.redis.url, { keyPrefix: runtime.config.redis.keyPrefix });
  try {
    const clientId = '6f1c1d1e-0000-4000-8000-0000000000e2';
    let n = 0;
    const generate = async (client: string) => {
      n += 1;
      const event = toApiGatewayEvent({ method: 'POST', path: '/generate', body: { clientId: client, prompt: `Concurrent call ${n} at ${Date.now()}.` } }, `req-rate-c-${n}`);
      const res = (await handler(event, { awsRequestId: `ctx-c-${n}`, getRemainingTimeInMillis: () => 30_000 })) as { statusCode: number; body: string };
      return { status: res.statusCode, message: (JSON.parse(res.body) as { error?: { message?: string } }).error?.message ?? '' };
    };
    // In one clock minute, and at the start of a budget window, which another client's call uses up.
    const leftInMinute = 60_000 - (Date.now() % 60_000);
    if (leftInMinute < 15_000) await sleep(leftInMinute + 50);
    await sleep(10_000 - (Date.now() % 10_000) + 50);
    expect((await generate('6f1c1d1e-0000-4000-8000-0000000000e3')).status).toBe(200);
    // Four at once, over a limit of 2: some are refused by the limit, the others by the budget; none reaches the model.
    const answers = await Promise.all([0, 1, 2, 3].map(() => generate(clientId)));
    expect(answers.map((a) => a.status)).toEqual([429, 429, 429, 429]);
    // How many the limit refuses depends on how the four interleave in Redis (two when each counts before any is given back).
    expect(answers.filter((a) => a.message.includes('rate limit of 2')).length).toBeGreaterThan(0);
    expect(await admin.get(`llm:rate:${clientId}:${Math.floor(Date.now() / 60000)}`)).toBe('0');
  } finally {
    admin.disconnect();
  }
}, 60_000);
