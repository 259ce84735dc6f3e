import { createServer, Server } from 'node:http';
import { createServer as createTcpServer, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { readConfig, resolveConfig } from '../../core/config';
import { RETRY_AFTER_SECONDS } from '../../core/errors';
import { createLogger } from '../../core/logger';
import { createApp as b2cApp } from '../../functions/gateway-b2c/app';
import { toLambdaHandler } from '../../functions/shared/lambda';
import { toApiGatewayEvent } from '../../core/internal-client';
import { createRuntime, Runtime } from '../../functions/shared/runtime';

/**
 * What a public client reads when a gateway's internal call fails in AWS: the Lambda transport's
 * failures carry the SDK's message, which for a refused or missing function names the account,
 * the role and the function ARN. The 503 says which service is unreachable and nothing more; the
 * log line of the request keeps the SDK's words for the operator.
 */
const ACCOUNT = '123456789012';
const DENIED =
  `User: arn:aws:sts::${ACCOUNT}:assumed-role/docplatform-prod-gateway-b2c/docplatform-prod-gateway-b2c ` +
  `is not authorized to perform: lambda:InvokeFunction on resource: arn:aws:lambda:eu-west-3:${ACCOUNT}:function:docplatform-prod-theme:live`;

let lambda: Server;
let gateway: Server;
let runtime: Runtime;
let url: string;
const lines: string[] = [];
const credentials = { AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY };

const listen = async (server: Server) => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};

beforeAll(async () => {
  // Lambda's Invoke endpoint as it answers a caller whose role may not invoke the function.
  lambda = createServer((_req, res) => {
    res.writeHead(403, { 'content-type': 'application/json', 'x-amzn-errortype': 'AccessDeniedException', 'x-amzn-requestid': 'stand-in' });
    res.end(JSON.stringify({ Type: 'User', Message: DENIED }));
  });
  const endpoint = await listen(lambda);
  process.env.AWS_ACCESS_KEY_ID = 'stand-in';
  process.env.AWS_SECRET_ACCESS_KEY = 'stand-in';
  const config = await resolveConfig(
    readConfig({ APP_ENV: 'test', LOG_LEVEL: 'error', DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', INTERNAL_TRANSPORT: 'lambda', AWS_ENDPOINT_URL: endpoint, SERVICE_FUNCTION_THEME: 'docplatform-prod-theme' }),
  );
  runtime = createRuntime('gateway-b2c', config, { logger: createLogger({ service: 'gateway-b2c' }, 'error', (line) => lines.push(line)) });
  gateway = createServer(b2cApp(runtime).callback());
  url = await listen(gateway);
});
afterAll(async () => {
  await Promise.all([lambda, gateway].map((s) => new Promise<void>((r) => s.close(() => r()))));
  await runtime.close();
  for (const [name, value] of Object.entries(credentials)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

test('an invoke the function refuses is a 503 naming the service, without the account, role or ARN; the log line keeps them', async () => {
  const res = await fetch(`${url}/b2c/themes`);
  const text = await res.text();
  expect({ status: res.status, retryAfter: res.headers.get('retry-after'), body: JSON.parse(text) }).toEqual({
    status: 503,
    retryAfter: String(RETRY_AFTER_SECONDS),
    body: { error: { code: 'service_unavailable', message: 'service theme unreachable' } },
  });
  expect(text).not.toContain(ACCOUNT);
  const failed = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'request failed');
  expect(failed.err.message).toContain(DENIED);
});

describe('an internal call that never answers, inside a Lambda invocation', () => {
  // The theme service accepts the connection and says nothing; the gateway's Lambda has 3 s left.
  const silent = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('data', () => undefined);
  });
  const sockets = new Set<Socket>();
  let hung: Runtime;
  beforeAll(async () => {
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const config = await resolveConfig(
      readConfig({ APP_ENV: 'test', LOG_LEVEL: 'error', DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', SERVICE_URL_THEME: `http://127.0.0.1:${(silent.address() as AddressInfo).port}` }),
    );
    hung = createRuntime('gateway-b2c', config, { logger: createLogger({ service: 'gateway-b2c' }, 'error', () => undefined) });
  });
  afterAll(async () => {
    sockets.forEach((s) => s.destroy());
    await new Promise<void>((r) => silent.close(() => r()));
    await hung.close();
  });

  test('answers a 503 with Retry-After before the invocation ends, not after the call\'s own 65 s bound', async () => {
    const handler = toLambdaHandler(b2cApp(hung));
    const ends = Date.now() + 3_000;
    const started = Date.now();
    const out = (await handler(toApiGatewayEvent({ method: 'GET', path: '/b2c/themes' }, 'req-deadline'), { getRemainingTimeInMillis: () => ends - Date.now() })) as {
      statusCode: number;
      headers: Record<string, string>;
      body: string;
    };
    expect(Date.now() - started).toBeLessThan(3_000);
    expect({ status: out.statusCode, retryAfter: out.headers['retry-after'], body: JSON.parse(out.body) }).toEqual({
      status: 503,
      retryAfter: String(RETRY_AFTER_SECONDS),
      body: { error: { code: 'service_unavailable', message: 'service theme unreachable' } },
    });
  }, 80_000);
});
