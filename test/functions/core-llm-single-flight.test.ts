import { createHash } from 'node:crypto';
import Redis from 'ioredis';
import { createApp, REFUSAL_TTL_SECONDS } from '../../functions/core-llm/app';
import { LEASE_MS } from '../../functions/core-llm/single-flight';
import { toApiGatewayEvent } from '../../core/internal-client';
import { toLambdaHandler } from '../../functions/shared/lambda';
import type { Runtime } from '../../functions/shared/runtime';
import type { GeminiStandIn } from '../support/stand-ins/gemini';
import { startCoreLlmRuntime } from '../support/core-llm-runtime';
import { freePort } from '../support/local-dev';

/**
 * Identical prompts asked at the same time (duplicate rows of a B2B batch on concurrent doc
 * workers, a retried job racing its first delivery) are generated once: one caller leads under a
 * lease in Redis, the others are answered its text as a cache hit, counted nowhere. Two runtimes
 * over one Redis key prefix stand for two Lambda execution environments; the real app, the real
 * @google/genai SDK on the Gemini stand-in.
 */
let gemini: GeminiStandIn;
let first: Runtime;
let second: Runtime;
let admin: Redis;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  const a = await startCoreLlmRuntime('llm-single-flight');
  ({ gemini, runtime: first } = a);
  const b = await startCoreLlmRuntime('llm-single-flight', { REDIS_KEY_PREFIX: first.config.redis.keyPrefix, GEMINI_BASE_URL: gemini.url });
  second = b.runtime;
  closers.push(a.close, b.close);
  admin = new Redis(first.config.redis.url, { keyPrefix: first.config.redis.keyPrefix });
});
afterAll(async () => {
  admin?.disconnect();
  for (const close of closers) await close();
});

type Answer = { status: number; retryAfter?: string; json: { text?: string; cached?: boolean; error?: { code?: string; message?: string } } };
let n = 0;
async function generate(runtime: Runtime, clientId: string, prompt: string, traffic: 'interactive' | 'batch' = 'batch'): Promise<Answer> {
  n += 1;
  const event = toApiGatewayEvent({ method: 'POST', path: '/generate', body: { clientId, prompt, traffic } }, `req-flight-${n}`);
  const res = (await toLambdaHandler(createApp(runtime))(event, { awsRequestId: `ctx-${n}`, getRemainingTimeInMillis: () => 30_000 })) as {
    statusCode: number;
    headers?: Record<string, string>;
    body: string;
  };
  return { status: res.statusCode, retryAfter: res.headers?.['retry-after'], json: JSON.parse(res.body) };
}
/** The client's count over every clock minute since `startedMs`: a test may straddle a minute, and its count is under the minute it was taken in. */
async function countedSince(clientId: string, startedMs: number): Promise<number> {
  let total = 0;
  for (let minute = Math.floor(startedMs / 60000); minute <= Math.floor(Date.now() / 60000); minute++) total += Number((await admin.get(`llm:rate:${clientId}:${minute}`)) ?? 0);
  return total;
}
const callsFor = (prompt: string) => gemini.calls.filter((c) => c.prompt === prompt).length;
const hashOf = (runtime: Runtime, prompt: string) => createHash('sha256').update(`${runtime.config.gemini.model}\n${prompt}`).digest('hex');

test('eight identical prompts at once, on two execution environments: one model call, eight equal answers, one count', async () => {
  const clientId = '6f1c1d1e-0000-4000-8000-0000000000f1';
  const started = Date.now();
  const prompt = `A product sheet asked eight times at once (${Date.now()}).`;
  // The leader's generation lasts long enough for every other request to arrive during it.
  gemini.delayNext(1500);
  const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => generate(i % 2 ? second : first, clientId, prompt, 'interactive')));
  expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
  expect(new Set(answers.map((a) => a.json.text)).size).toBe(1);
  expect(answers.filter((a) => a.json.cached === false)).toHaveLength(1);
  expect(callsFor(prompt)).toBe(1);
  // Only the caller that generated is counted against the client's limit, as a cache hit is not.
  expect(await countedSince(clientId, started)).toBe(1);
  // The leader gave its lease back once its answer was cached.
  expect(await admin.exists(`llm:lease:${hashOf(first, prompt)}`)).toBe(0);
}, 30_000);

test('a leader that died holding the lease: the lease runs out and one follower generates for all', async () => {
  const clientId = '6f1c1d1e-0000-4000-8000-0000000000f2';
  const prompt = `A product sheet whose first generator was killed (${Date.now()}).`;
  // What a killed leader leaves behind: its lease, which nobody renews any more.
  await admin.set(`llm:lease:${hashOf(first, prompt)}`, 'a-dead-leader', 'PX', LEASE_MS);
  const started = Date.now();
  const answers = await Promise.all(Array.from({ length: 3 }, (_, i) => generate(i % 2 ? second : first, clientId, prompt)));
  expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
  expect(new Set(answers.map((a) => a.json.text)).size).toBe(1);
  expect(callsFor(prompt)).toBe(1);
  expect(Date.now() - started).toBeGreaterThanOrEqual(LEASE_MS - 200);
  expect(Date.now() - started).toBeLessThan(LEASE_MS + 3000);
}, 30_000);

test('a leader slower than the lease keeps renewing it: still one model call', async () => {
  const clientId = '6f1c1d1e-0000-4000-8000-0000000000f3';
  const prompt = `A product sheet that takes longer than a lease (${Date.now()}).`;
  gemini.delayNext(LEASE_MS + 2000);
  const leader = generate(first, clientId, prompt);
  await new Promise((r) => setTimeout(r, 300));
  const followers = await Promise.all([generate(second, clientId, prompt), generate(first, clientId, prompt)]);
  expect([(await leader).status, ...followers.map((a) => a.status)]).toEqual([200, 200, 200]);
  expect(followers.map((a) => a.json.cached)).toEqual([true, true]);
  expect(callsFor(prompt)).toBe(1);
}, 30_000);

test('a leader whose answer fails for the moment (cut at MAX_TOKENS: a 502) hands over: a follower that waited generates', async () => {
  const clientId = '6f1c1d1e-0000-4000-8000-0000000000f4';
  const prompt = `A product sheet whose first answer is cut (${Date.now()}).`;
  gemini.answerCutNext('MAX_TOKENS', 1000);
  const leader = generate(first, clientId, prompt);
  await new Promise((r) => setTimeout(r, 200));
  const follower = generate(second, clientId, prompt);
  expect((await leader).status).toBe(502);
  expect(await follower).toMatchObject({ status: 200, json: { cached: false } });
  expect(callsFor(prompt)).toBe(2);
}, 30_000);

test("the model refusing the leader's prompt (blocked): the followers that waited are answered its refusal, after one model call counted once", async () => {
  const clientId = '6f1c1d1e-0000-4000-8000-0000000000f6';
  const started = Date.now();
  const prompt = `A product sheet the model withholds its answer to (${Date.now()}).`;
  gemini.answerEmptyNext({ finishReason: 'SAFETY' }, 1500);
  const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => generate(i % 2 ? second : first, clientId, prompt, 'interactive')));
  expect(answers.map((a) => [a.status, a.json.error?.message])).toEqual(Array(6).fill([422, expect.stringContaining('finishReason SAFETY')]));
  expect(callsFor(prompt)).toBe(1);
  expect(await countedSince(clientId, started)).toBe(1);
  expect(await admin.exists(`llm:lease:${hashOf(first, prompt)}`)).toBe(0);
  // Asked again (a retry storm, duplicate rows after the wait): refused from the cache, the model not called.
  const again = await generate(second, clientId, prompt, 'interactive');
  expect({ status: again.status, code: again.json.error?.code, message: again.json.error?.message }).toEqual({
    status: 422,
    code: 'model_rejected',
    message: answers[0].json.error?.message,
  });
  expect(callsFor(prompt)).toBe(1);
  // For a while only: once the refusal is gone, the prompt reaches the model again.
  const ttl = await admin.ttl(`llm:refused:${hashOf(first, prompt)}`);
  expect(ttl).toBeGreaterThan(REFUSAL_TTL_SECONDS - 10);
  expect(ttl).toBeLessThanOrEqual(REFUSAL_TTL_SECONDS);
  await admin.del(`llm:refused:${hashOf(first, prompt)}`);
  expect(await generate(first, clientId, prompt, 'interactive')).toMatchObject({ status: 200, json: { cached: false } });
  expect(callsFor(prompt)).toBe(2);
}, 30_000);

test("the model's quota refusing the leader (429): the followers that waited are answered that 429 with what is left of its Retry-After, after one model call", async () => {
  const clientId = '6f1c1d1e-0000-4000-8000-0000000000f7';
  const started = Date.now();
  const prompt = `A product sheet asked while the model's quota is used up (${Date.now()}).`;
  // Past the backoff, so not retried: the leader's 429 says 30 s, and any call sooner is refused the same.
  gemini.failNext(429, 1, '30s', 1500);
  const leader = generate(first, clientId, prompt, 'interactive');
  await new Promise((r) => setTimeout(r, 300));
  const answers = await Promise.all([leader, ...Array.from({ length: 5 }, (_, i) => generate(i % 2 ? second : first, clientId, prompt, 'interactive'))]);
  expect(answers.map((a) => [a.status, a.json.error?.code])).toEqual(Array(6).fill([429, 'rate_limited']));
  expect(callsFor(prompt)).toBe(1);
  expect(answers[0].retryAfter).toBe('30');
  // What is left of the leader's 30 s when each is answered (within a poll of it; a loaded machine may take seconds), never more.
  for (const a of answers.slice(1)) expect(Number(a.retryAfter)).toBeGreaterThanOrEqual(25);
  for (const a of answers.slice(1)) expect(Number(a.retryAfter)).toBeLessThanOrEqual(30);
  expect(await countedSince(clientId, started)).toBe(1);
  expect(await admin.exists(`llm:lease:${hashOf(first, prompt)}`)).toBe(0);
  // Asked again meanwhile: the same 429 without a call.
  const again = await generate(second, clientId, prompt, 'interactive');
  expect({ status: again.status, message: again.json.error?.message }).toEqual({ status: 429, message: answers[0].json.error?.message });
  expect(Number(again.retryAfter)).toBeLessThanOrEqual(30);
  expect(callsFor(prompt)).toBe(1);
  // Until its Retry-After only: once the quota's delay has passed, the prompt reaches the model again.
  const key = `llm:throttled:${hashOf(first, prompt)}`;
  expect(await admin.pttl(key)).toBeGreaterThan(25_000);
  expect(await admin.pttl(key)).toBeLessThanOrEqual(30_000);
  await admin.del(key);
  expect(await generate(first, clientId, prompt, 'interactive')).toMatchObject({ status: 200, json: { cached: false } });
  expect(callsFor(prompt)).toBe(2);
}, 30_000);

test('Redis down: no single-flight, each request generates, none fails', async () => {
  const port = await freePort();
  const down = await startCoreLlmRuntime('llm-single-flight-down', { REDIS_URL: `redis://127.0.0.1:${port}` });
  try {
    const clientId = '6f1c1d1e-0000-4000-8000-0000000000f5';
    const prompt = 'A product sheet asked four times without a cache.';
    const event = (i: number) => toApiGatewayEvent({ method: 'POST', path: '/generate', body: { clientId, prompt, traffic: 'batch' } }, `req-down-${i}`);
    const handler = toLambdaHandler(createApp(down.runtime));
    const answers = (await Promise.all([0, 1, 2, 3].map((i) => handler(event(i), { awsRequestId: `down-${i}`, getRemainingTimeInMillis: () => 30_000 })))) as { statusCode: number }[];
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 200, 200]);
    expect(down.gemini.calls.filter((c) => c.prompt === prompt)).toHaveLength(4);
  } finally {
    await down.close();
  }
}, 30_000);
