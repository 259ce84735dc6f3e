import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readConfig, resolveConfig } from '../../core/config';
import { internalApi } from '../../core/internal-api';
import { createInternalClient, InternalClient } from '../../core/internal-client';

/**
 * The Lambda transport's retries, through the real @aws-sdk/client-lambda against an Invoke
 * endpoint that misbehaves on purpose. An Invoke that reached Lambda may have run the function
 * even though its answer was lost (the connection reset after the request went out): sent again,
 * a generation would be made, counted against the client's rate limit and the budget and paid
 * for twice, a key issued twice. Those calls (sendOnce) are sent again only after a refusal that
 * ran nothing (throttling); every other call keeps the SDK's retries (a keep-alive connection
 * Lambda closed while the caller was frozen is the common reset).
 */
type Step = 'reset' | 'throttle' | 'answer';
const script: Step[] = [];
const invokes: string[] = [];
let server: Server;
let endpoint: string;
const credentials = { AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY };

const proxyResult = (body: unknown) => JSON.stringify({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), isBase64Encoded: false });

const ANSWERS: Record<string, unknown> = {
  '/generate': { text: '# Doc', cached: false, model: 'm', provider: 'gemini', promptHash: 'h' },
  '/clients/authenticate': { client: { id: '6f1c1d1e-0000-4000-8000-0000000000a1' } },
};

function invoke(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { httpMethod: string; path: string };
    invokes.push(`${event.httpMethod} ${event.path}`);
    const step = script.shift() ?? 'answer';
    // The function ran; its answer never reaches the caller.
    if (step === 'reset') return void req.socket.destroy();
    if (step === 'throttle') {
      res.writeHead(429, { 'content-type': 'application/json', 'x-amzn-errortype': 'TooManyRequestsException', 'x-amzn-requestid': 'stand-in' });
      return void res.end(JSON.stringify({ Type: 'User', message: 'Rate Exceeded.', Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded' }));
    }
    res.writeHead(200, { 'content-type': 'application/json', 'x-amz-executed-version': '1', 'x-amzn-requestid': 'stand-in' });
    res.end(proxyResult(ANSWERS[event.path] ?? { themes: [] }));
  });
}

let client: InternalClient;

beforeAll(async () => {
  server = createServer(invoke);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  process.env.AWS_ACCESS_KEY_ID = 'stand-in';
  process.env.AWS_SECRET_ACCESS_KEY = 'stand-in';
  const config = await resolveConfig(
    readConfig({
      APP_ENV: 'test',
      LOG_LEVEL: 'error',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none',
      INTERNAL_TRANSPORT: 'lambda',
      AWS_ENDPOINT_URL: endpoint,
      SERVICE_FUNCTION_CORE_LLM: 'docplatform-dev-core-llm',
      SERVICE_FUNCTION_THEME: 'docplatform-dev-theme',
      SERVICE_FUNCTION_CLIENT: 'docplatform-dev-client',
    }),
  );
  client = createInternalClient(config);
});
beforeEach(() => {
  script.length = 0;
  invokes.length = 0;
});
afterAll(async () => {
  await new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r())));
  for (const [name, value] of Object.entries(credentials)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

const api = () => internalApi(client, { requestId: 'req-invoke-retry' });
const CLIENT = '6f1c1d1e-0000-4000-8000-0000000000a1';
const GENERATE = { clientId: CLIENT, prompt: 'hello' };

test('a generation whose answer was lost after it reached Lambda is sent once: a 503, not a second run', async () => {
  script.push('reset', 'answer');
  await expect(api().coreLlm.generate(GENERATE)).rejects.toMatchObject({ message: expect.stringContaining('service core-llm unreachable') });
  expect(invokes).toEqual(['POST /generate']);
});

test('a key rotation whose answer was lost is sent once: no second key issued that nobody was shown', async () => {
  script.push('reset', 'answer');
  await expect(api().client.rotateKey(CLIENT, {})).rejects.toMatchObject({ message: expect.stringContaining('service client unreachable') });
  expect(invokes).toEqual([`POST /clients/${CLIENT}/keys`]);
});

test('an authentication whose connection was reset is sent again: it issues nothing', async () => {
  script.push('reset', 'answer');
  await expect(api().client.authenticate({ apiKey: 'dpk_x' })).resolves.toMatchObject({ client: { id: CLIENT } });
  expect(invokes).toEqual(['POST /clients/authenticate', 'POST /clients/authenticate']);
});

test('a generation Lambda refused to run (throttling) is sent again, and answers', async () => {
  script.push('throttle', 'answer');
  await expect(api().coreLlm.generate(GENERATE)).resolves.toMatchObject({ text: '# Doc' });
  expect(invokes).toEqual(['POST /generate', 'POST /generate']);
}, 20_000);

test('a GET whose answer was lost is sent again: it changes nothing', async () => {
  script.push('reset', 'answer');
  await expect(api().theme.list()).resolves.toEqual({ themes: [] });
  expect(invokes).toEqual(['GET /themes', 'GET /themes']);
});
