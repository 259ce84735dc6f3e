import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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

const clientId = '6f1c1d1e-0000-4000-8000-0000000000d1';

// First: the stand-in's scripted delays below outlive their tests.
test('with time enough, retries still happen: a 503 then a 200', async () => {
  const handler = toLambdaHandler(createApp(runtime));
  gemini.calls.length = 0;
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
  gemini.calls.length = 0;
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
    gemini.calls.length = 0;
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
