import { createServer, IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { toApiGatewayEvent } from '../../core/internal-client';
import { SECRET_RECHECK_WAIT_MS, type ApiGatewayHandler } from './lambda';
import { SECRET_RECHECK_SECONDS } from '../../core/config';

/**
 * A Lambda execution environment whose start-up fails (Secrets Manager down at cold start) must
 * not stay broken: the failed invocation answers a clean 503 with Retry-After, the next one
 * starts again, and invocations that arrive together share one start. The real core-llm handler
 * module, its real config loader and the real Secrets Manager client, against a stand-in
 * Secrets Manager endpoint that fails until told otherwise.
 */
interface SecretsStandIn {
  url: string;
  calls: number;
  /** `empty`: the secret exists without a value (created empty by the data stack, not put yet). */
  mode: 'fail' | 'ok' | 'empty';
  /** Held answers are sent when `release()` is called. */
  hold: boolean;
  release(): void;
  close(): Promise<void>;
}

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-3:000000000000:secret:gemini-key';

async function startSecretsStandIn(): Promise<SecretsStandIn> {
  const held: Array<() => void> = [];
  const state = { calls: 0, mode: 'fail' as 'fail' | 'ok' | 'empty', hold: false };
  const answer = (req: IncomingMessage, res: import('node:http').ServerResponse) => {
    res.setHeader('content-type', 'application/x-amz-json-1.1');
    if (state.mode === 'fail') {
      res.statusCode = 500;
      res.setHeader('x-amzn-errortype', 'InternalServiceError');
      res.end(JSON.stringify({ __type: 'InternalServiceError', message: 'stand-in: Secrets Manager is down' }));
      return;
    }
    expect(req.headers['x-amz-target']).toBe('secretsmanager.GetSecretValue');
    if (state.mode === 'empty') {
      res.statusCode = 400;
      res.setHeader('x-amzn-errortype', 'ResourceNotFoundException');
      res.end(JSON.stringify({ __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT" }));
      return;
    }
    res.end(JSON.stringify({ ARN: SECRET_ARN, Name: 'gemini-key', SecretString: 'stand-in-gemini-key', VersionId: 'v1' }));
  };
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      state.calls += 1;
      if (state.hold) held.push(() => answer(req, res));
      else answer(req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return Object.assign(state, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    release: () => held.splice(0).forEach((send) => send()),
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  }) as SecretsStandIn;
}

let sm: SecretsStandIn;
const saved = { ...process.env };

beforeAll(async () => {
  sm = await startSecretsStandIn();
  Object.assign(process.env, {
    APP_ENV: 'test',
    LOG_LEVEL: 'error',
    AWS_REGION: 'eu-west-3',
    AWS_ENDPOINT_URL: sm.url,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/unused',
    GEMINI_SECRET_ARN: SECRET_ARN,
    AWS_MAX_ATTEMPTS: '1',
  });
  delete process.env.GEMINI_API_KEY;
});
afterAll(async () => {
  process.env = saved;
  await sm.close();
});

interface ProxyResult {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

const health = async (handler: ApiGatewayHandler) =>
  (await handler(toApiGatewayEvent({ method: 'GET', path: '/health' }, `req-${Math.random().toString(36).slice(2)}`), {})) as ProxyResult;

/** A fresh copy of the core-llm handler module: a new execution environment, started at import as in the init phase. */
function freshHandler(): ApiGatewayHandler {
  let handler!: ApiGatewayHandler;
  jest.isolateModules(() => {
    ({ handler } = jest.requireActual('../core-llm/handler') as { handler: ApiGatewayHandler });
  });
  return handler;
}

function captureErrorLogs(): { lines: string[]; restore(): void } {
  const lines: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation(((chunk: string | Uint8Array, ...rest: never[]) => {
    if (String(chunk).includes('"level":"error"')) lines.push(String(chunk));
    return write(chunk, ...rest);
  }) as typeof process.stdout.write);
  return { lines, restore: () => spy.mockRestore() };
}

beforeEach(() => {
  sm.mode = 'fail';
  sm.hold = false;
});

test('a start-up that failed (Secrets Manager down at cold start) is retried by the next invocation, which succeeds', async () => {
  const handler = freshHandler();
  await health(handler).catch((err: unknown) => err);
  const callsAfterFailure = sm.calls;
  expect(callsAfterFailure).toBeGreaterThan(0);

  sm.mode = 'ok';
  const ok = await health(handler);
  expect(ok.statusCode).toBe(200);
  expect(JSON.parse(ok.body)).toEqual({ status: 'ok', service: 'core-llm' });
  expect(sm.calls).toBe(callsAfterFailure + 1);
  // Started: later invocations reuse it and read no secret again.
  expect((await health(handler)).statusCode).toBe(200);
  expect(sm.calls).toBe(callsAfterFailure + 1);
});

test('the failed invocation answers a clean 503 with Retry-After and its request id; the cause is logged under that id, not answered', async () => {
  const logs = captureErrorLogs();
  try {
    const failed = (await freshHandler()(toApiGatewayEvent({ method: 'GET', path: '/health' }, 'req-cold-start-1'), {})) as ProxyResult;
    expect(failed.statusCode).toBe(503);
    // Every answer names its request (the contract's x-request-id), so the caller's report finds the log line.
    expect(failed.headers['x-request-id']).toBe('req-cold-start-1');
    expect(logs.lines.join('')).toContain('"requestId":"req-cold-start-1"');
    expect(failed.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    expect(failed.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(failed.body)).toEqual({ error: { code: 'service_unavailable', message: expect.stringMatching(/starting/) } });
    expect(failed.body).not.toMatch(/GEMINI|arn:|Secrets/);
    expect(logs.lines.join('')).toMatch(/GEMINI_SECRET_ARN/);
  } finally {
    logs.restore();
  }
});

test('invocations that arrive during a start share it, whether it fails or succeeds', async () => {
  sm.hold = true;
  const handler = freshHandler();
  const before = sm.calls;
  const together = Promise.all([health(handler), health(handler), health(handler)]);
  await new Promise((r) => setTimeout(r, 200));
  sm.release();
  expect((await together).map((r) => r.statusCode)).toEqual([503, 503, 503]);
  expect(sm.calls - before).toBe(1);

  sm.mode = 'ok';
  const again = Promise.all([health(handler), health(handler), health(handler)]);
  await new Promise((r) => setTimeout(r, 200));
  sm.release();
  expect((await again).map((r) => r.statusCode)).toEqual([200, 200, 200]);
  expect(sm.calls - before).toBe(2);
});

test('a secret with no value yet does not fail the start-up: /health is 200 degraded naming it, and it is read again at most every SECRET_RECHECK_SECONDS', async () => {
  sm.mode = 'empty';
  const handler = freshHandler();
  const before = sm.calls;
  const degraded = await health(handler);
  expect(degraded.statusCode).toBe(200);
  expect(JSON.parse(degraded.body)).toEqual({ status: 'degraded', service: 'core-llm', missing: ['GEMINI_SECRET_ARN'] });
  expect(sm.calls - before).toBe(1);
  // Within the interval: no new read.
  await health(handler);
  expect(sm.calls - before).toBe(1);

  // The value is put; the first invocation after the interval reads it, in place: no restart.
  sm.mode = 'ok';
  const now = Date.now();
  const clock = jest.spyOn(Date, 'now').mockReturnValue(now + SECRET_RECHECK_SECONDS * 1000 + 1);
  try {
    const ok = await health(handler);
    expect(JSON.parse(ok.body)).toEqual({ status: 'ok', service: 'core-llm' });
    expect(sm.calls - before).toBe(2);
    await health(handler);
    expect(sm.calls - before).toBe(2);
  } finally {
    clock.mockRestore();
  }
});

test('reading the missing secrets again does not hold the invocation past SECRET_RECHECK_WAIT_MS when Secrets Manager does not answer; the read lands later, in place', async () => {
  sm.mode = 'empty';
  const handler = freshHandler();
  expect((await health(handler)).statusCode).toBe(200);
  sm.mode = 'ok';
  sm.hold = true;
  const clock = jest.spyOn(Date, 'now').mockReturnValue(Date.now() + SECRET_RECHECK_SECONDS * 1000 + 1);
  try {
    const started = performance.now();
    const answer = await Promise.race([health(handler), new Promise<'held'>((r) => setTimeout(() => r('held'), 5_000))]);
    // Before, it waited for as long as Secrets Manager held the read (its client has no timeout of its own): up to the Lambda timeout.
    expect(answer).not.toBe('held');
    expect(performance.now() - started).toBeLessThan(SECRET_RECHECK_WAIT_MS + 1_000);
    expect(JSON.parse((answer as ProxyResult).body)).toEqual({ status: 'degraded', service: 'core-llm', missing: ['GEMINI_SECRET_ARN'] });
    sm.hold = false;
    sm.release();
    await new Promise((r) => setTimeout(r, 200));
    expect(JSON.parse((await health(handler)).body)).toEqual({ status: 'ok', service: 'core-llm' });
  } finally {
    sm.hold = false;
    sm.release();
    clock.mockRestore();
  }
});
