import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../functions/core-llm/app';
import type { Runtime } from '../../functions/shared/runtime';
import type { GeminiStandIn } from '../support/stand-ins/gemini';
import { startCoreLlmRuntime } from '../support/core-llm-runtime';
import { http } from '../support/functions-platform';

/**
 * What core-llm answers for a prompt the model cannot be asked, through the real @google/genai
 * SDK against the Gemini stand-in and the real Redis: a prompt that is not text is the caller's
 * mistake, a 400 naming it.
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
const generate = (prompt: string) => http(url, '/generate', { method: 'POST', json: { clientId, prompt } });

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
