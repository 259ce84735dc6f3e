import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../functions/core-llm/app';
import { AppError, MAX_RETRY_AFTER_SECONDS, RETRY_AFTER_SECONDS } from '../../core/errors';
import { DependencyUnavailableError } from '../../core/failures';
import { internalApi } from '../../core/internal-api';
import { createInternalClient, httpTransport } from '../../core/internal-client';
import { geminiProvider, MODEL_QUOTA_RETRY_SECONDS } from '../../functions/core-llm/providers';
import type { Runtime } from '../../functions/shared/runtime';
import type { GeminiStandIn } from '../support/stand-ins/gemini';
import { startCoreLlmRuntime } from '../support/core-llm-runtime';
import { http } from '../support/functions-platform';

/**
 * What core-llm answers when the model refuses, through the real @google/genai SDK against the
 * Gemini stand-in and the real Redis: every refusal a caller may retry says when (Retry-After),
 * since the doc worker turns a 429's into its message's visibility. Gemini's quota refusal names
 * its own delay (RetryInfo.retryDelay): core-llm passes it on, and does not call the model again
 * sooner than it asked, up to MAX_RETRY_AFTER_SECONDS. A request Gemini refuses for what it is
 * (400 INVALID_ARGUMENT) is a 422 no caller retries, whatever its message says, and the same prompt
 * asked again for a while is refused from the cache, without a call; a refusal of the
 * platform's key is a 503. An answer Gemini did not finish (cut at MAX_TOKENS) is a 502 the worker
 * retries, never a document and never cached.
 * A prompt that is not text is the caller's mistake, a 400 naming it.
 */
let gemini: GeminiStandIn;
let runtime: Runtime;
let close: () => Promise<void>;
let server: Server;
let url: string;

beforeAll(async () => {
  ({ gemini, runtime, close } = await startCoreLlmRuntime('llm-errors'));
  server = createServer(createApp(runtime).callback());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await close();
});

const clientId = '6f1c1d1e-0000-4000-8000-0000000000f1';
const generate = (prompt: string, client = clientId) => http(url, '/generate', { method: 'POST', json: { clientId: client, prompt } });
/** Another client for the tests of cut answers: this file's calls would otherwise pass one client's limit of 30 a minute. */
const cutClientId = '6f1c1d1e-0000-4000-8000-0000000000f2';

test("Gemini's quota refusal with a RetryInfo: a 429 with that Retry-After, after one call", async () => {
  gemini.calls.length = 0;
  // One refusal only: a retry would have had its answer.
  gemini.failNext(429, 1, '37.2s');
  const res = await generate('Quota with a delay.');
  expect(res.status).toBe(429);
  expect(res.headers.get('retry-after')).toBe('38');
  expect(gemini.calls).toHaveLength(1);
});

test("a quota refusal whose RetryInfo is within the backoff: called again once that delay has passed, not sooner", async () => {
  gemini.calls.length = 0;
  gemini.failNext(429, 1, '2s');
  const started = Date.now();
  const res = await generate('Quota with a short delay.');
  expect({ status: res.status, calls: gemini.calls.length }).toEqual({ status: 200, calls: 2 });
  expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
});

test('a quota refusal without one, retried to the end: a 429 that still says when (a budget window)', async () => {
  gemini.calls.length = 0;
  gemini.failNext(429, 4);
  const res = await generate('Quota without a delay.');
  expect(res.status).toBe(429);
  expect(res.headers.get('retry-after')).toBe(String(MODEL_QUOTA_RETRY_SECONDS));
  expect(MODEL_QUOTA_RETRY_SECONDS).toBe(10);
  expect(gemini.calls).toHaveLength(4);
});

test('the model unavailable: a 503 with Retry-After', async () => {
  gemini.failNext(503, 4);
  const res = await generate('Model down.');
  expect(res.status).toBe(503);
  expect(res.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS));
});

describe('4xx answers that are not about the request: 408, 499 CANCELLED (Gemini under heavy load), 409 ABORTED', () => {
  test.each([408, 499, 409])('%i once: retried, and the text is answered', async (status) => {
    gemini.calls.length = 0;
    gemini.failNext(status, 1);
    const res = await generate(`A prompt met by a ${status} once.`);
    expect(res.status).toBe(200);
    expect(gemini.calls).toHaveLength(2);
  });

  test.each([408, 499, 409])('%i to the last attempt: a 503 with Retry-After (an outage the worker retries), not a 422', async (status) => {
    gemini.calls.length = 0;
    gemini.failNext(status, 4);
    const res = await generate(`A prompt met by a ${status} every time.`);
    expect({ status: res.status, code: res.json.error.code, retryAfter: res.headers.get('retry-after') }).toEqual({
      status: 503,
      code: 'service_unavailable',
      retryAfter: String(RETRY_AFTER_SECONDS),
    });
    expect(gemini.calls).toHaveLength(4);
  });
});

test.each([
  ['a NUL', 'Write about \u0000 kettles.', /U\+0000/],
  ['an unpaired surrogate', 'Write about \ud800 kettles.', /unpaired surrogate/],
])('a prompt with %s: a 400 naming body.prompt, and the model is not called', async (_, prompt, message) => {
  gemini.calls.length = 0;
  const res = await generate(prompt);
  expect(res.status).toBe(400);
  expect(res.json.error.fields).toEqual([{ field: 'body.prompt', message: expect.stringMatching(message) }]);
  expect(gemini.calls).toHaveLength(0);
});

test("a quota refusal naming a day: the Retry-After is capped at MAX_RETRY_AFTER_SECONDS, for the worker's call too", async () => {
  gemini.calls.length = 0;
  gemini.failNext(429, 1, '86400s');
  const res = await generate('Quota for a day.');
  expect(res.status).toBe(429);
  expect(res.headers.get('retry-after')).toBe(String(MAX_RETRY_AFTER_SECONDS));
  expect(MAX_RETRY_AFTER_SECONDS).toBe(3600);
  expect(gemini.calls).toHaveLength(1);
  gemini.failNext(429, 1, '86400s');
  const api = internalApi(createInternalClient(runtime.config, httpTransport({ 'core-llm': url })), { requestId: 'req-quota-day' });
  const err = await api.coreLlm.generate({ clientId, prompt: 'Quota for a day, for the worker.' }).catch((e: unknown) => e);
  expect({ status: (err as AppError).status, retryAfter: (err as AppError).retryAfter }).toEqual({ status: 429, retryAfter: MAX_RETRY_AFTER_SECONDS });
});

describe('Gemini refusing the request for good (400 INVALID_ARGUMENT)', () => {
  test('a 422 model_rejected without Retry-After, after one call; asked again meanwhile, the same refusal without a call', async () => {
    gemini.calls.length = 0;
    gemini.failNext(400);
    const res = await generate('A request the model will never take.');
    expect({ status: res.status, code: res.json.error.code, retryAfter: res.headers.get('retry-after') }).toEqual({ status: 422, code: 'model_rejected', retryAfter: null });
    expect(gemini.calls).toHaveLength(1);
    const again = await generate('A request the model will never take.');
    expect({ status: again.status, body: again.json, retryAfter: again.headers.get('retry-after') }).toEqual({ status: 422, body: res.json, retryAfter: null });
    expect(gemini.calls).toHaveLength(1);
  });

  test.each([
    'Request aborted: generation_config.max_output_tokens must be positive.',
    'Invalid value at \'generation_config.timeout\': not a field of GenerationConfig.',
    'The operation timed out on a value of the request that cannot be read.',
  ])('whose message speaks of a timeout or an abort (%s): still a 422 after one call, not retried as a timeout', async (message) => {
    gemini.calls.length = 0;
    // Refused once only: a retry (as a timeout is) would have had an answer.
    gemini.failNextWithMessage(400, message);
    const res = await generate(`A bad request whose message says: ${message}`);
    expect({ status: res.status, code: res.json.error.code, calls: gemini.calls.length }).toEqual({ status: 422, code: 'model_rejected', calls: 1 });
  });

  test("through the internal client (the doc worker's call): an AppError of 422, which the worker does not retry, not a 503", async () => {
    gemini.failNext(400);
    const api = internalApi(createInternalClient(runtime.config, httpTransport({ 'core-llm': url })), { requestId: 'req-model-rejects' });
    const err = await api.coreLlm.generate({ clientId, prompt: 'Refused through the client.' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect({ status: (err as AppError).status, retryAfter: (err as AppError).retryAfter }).toEqual({ status: 422, retryAfter: undefined });
  });
});

describe('Gemini withholding its answer (200 with no text)', () => {
  test.each([
    [{ finishReason: 'SAFETY' }, 'finishReason SAFETY'],
    [{ finishReason: 'PROHIBITED_CONTENT' }, 'finishReason PROHIBITED_CONTENT'],
    [{ finishReason: 'BLOCKLIST' }, 'finishReason BLOCKLIST'],
    [{ finishReason: 'SPII' }, 'finishReason SPII'],
    [{ finishReason: 'RECITATION' }, 'finishReason RECITATION'],
    [{ finishReason: 'LANGUAGE' }, 'finishReason LANGUAGE'],
    [{ blockReason: 'SAFETY' }, 'blockReason SAFETY'],
  ])('blocked (%o): a 422 model_rejected naming %s, after one call', async (why, named) => {
    gemini.calls.length = 0;
    gemini.answerEmptyNext(why);
    // A prompt of its own: the same one would be refused from the cache, without the call.
    const res = await generate(`A prompt the model withholds its answer to (${named}).`);
    expect({ status: res.status, code: res.json.error.code, retryAfter: res.headers.get('retry-after') }).toEqual({ status: 422, code: 'model_rejected', retryAfter: null });
    expect(res.json.error.message).toContain(named);
    expect(gemini.calls).toHaveLength(1);
  });

  test("blocked, through the internal client (the doc worker's call): an AppError of 422, which the worker does not retry", async () => {
    gemini.answerEmptyNext({ blockReason: 'PROHIBITED_CONTENT' });
    const api = internalApi(createInternalClient(runtime.config, httpTransport({ 'core-llm': url })), { requestId: 'req-model-blocks' });
    const err = await api.coreLlm.generate({ clientId, prompt: 'Blocked through the client.' }).catch((e: unknown) => e);
    expect({ status: (err as AppError).status, message: (err as AppError).message }).toEqual({ status: 422, message: expect.stringContaining('blockReason PROHIBITED_CONTENT') });
  });

  test('empty for another reason (MAX_TOKENS): still a 502, which the worker retries', async () => {
    gemini.answerEmptyNext({ finishReason: 'MAX_TOKENS' });
    const res = await generate('A prompt whose answer ran out of tokens.');
    expect({ status: res.status, code: res.json.error.code }).toEqual({ status: 502, code: 'upstream_error' });
  });
});

describe('an answer Gemini stopped before its end (text with a finishReason other than STOP)', () => {
  test('MAX_TOKENS: a 502 naming it, not kept: the same prompt sent again reaches the model and gets the whole text', async () => {
    gemini.calls.length = 0;
    gemini.answerCutNext('MAX_TOKENS');
    const prompt = 'A prompt whose answer is cut at the output token limit.';
    const cut = await generate(prompt, cutClientId);
    expect({ status: cut.status, code: cut.json.error?.code }).toEqual({ status: 502, code: 'upstream_error' });
    expect(cut.json.error.message).toContain('finishReason MAX_TOKENS');
    expect(gemini.calls).toHaveLength(1);
    const again = await generate(prompt, cutClientId);
    expect({ status: again.status, cached: again.json.cached, calls: gemini.calls.length }).toEqual({ status: 200, cached: false, calls: 2 });
    expect(again.json.text).toMatch(/was asked:\n\n> A prompt whose answer is cut at the output token limit\.\n$/);
    expect((await generate(prompt, cutClientId)).json).toMatchObject({ cached: true, text: again.json.text });
  });

  test("MAX_TOKENS, through the internal client (the doc worker's call): the service failure the worker retries, naming the cut, not a 4xx", async () => {
    gemini.answerCutNext('MAX_TOKENS');
    const api = internalApi(createInternalClient(runtime.config, httpTransport({ 'core-llm': url })), { requestId: 'req-model-cut' });
    const err = await api.coreLlm.generate({ clientId: cutClientId, prompt: 'Cut through the client.' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyUnavailableError);
    expect((err as Error).message).toMatch(/^service core-llm unavailable \(502: .*finishReason MAX_TOKENS/);
  });

  test('stopped by a filter after some text (RECITATION): a 422 model_rejected naming it, as with no text', async () => {
    gemini.calls.length = 0;
    gemini.answerCutNext('RECITATION');
    const res = await generate('A prompt whose answer stops at a recitation.', cutClientId);
    expect({ status: res.status, code: res.json.error?.code, calls: gemini.calls.length }).toEqual({ status: 422, code: 'model_rejected', calls: 1 });
    expect(res.json.error.message).toContain('finishReason RECITATION');
  });
});

test("Gemini refusing the platform's key (400 API key not valid): a 503 with Retry-After, after one call; the answer does not say the key", async () => {
  const app = createApp(runtime, geminiProvider(runtime.config, 'not-the-key'));
  const wrongKey = createServer(app.callback());
  await new Promise<void>((r) => wrongKey.listen(0, '127.0.0.1', r));
  try {
    gemini.calls.length = 0;
    const res = await http(`http://127.0.0.1:${(wrongKey.address() as AddressInfo).port}`, '/generate', { method: 'POST', json: { clientId, prompt: 'With the wrong key.' } });
    expect({ status: res.status, retryAfter: res.headers.get('retry-after') }).toEqual({ status: 503, retryAfter: String(RETRY_AFTER_SECONDS) });
    expect(res.json.error.message).toBe('the model provider is unavailable, retry later');
    expect(gemini.calls).toHaveLength(1);
  } finally {
    wrongKey.closeAllConnections();
    await new Promise<void>((r) => wrongKey.close(() => r()));
  }
});
