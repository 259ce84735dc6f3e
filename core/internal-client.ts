import { randomUUID } from 'node:crypto';
import type { AppConfig } from './config';
import { HttpTimeouts, requestHandlerOptions } from './aws-sdk';
import { AppError, badGateway, badRequest, ConfigError } from './errors';
import { DependencyUnavailableError } from './failures';
import type { ServiceName } from './contract';
import { CORE_LLM_TIMEOUT_SECONDS, envStem, LIVE_ALIAS } from './contract';
import { withinRequestDeadline } from './request-deadline';

/**
 * How one service calls another. The same request goes over one of two transports:
 * - `lambda` (AWS): Lambda Invoke of `<function>:live` with an API Gateway REST proxy event,
 *   which serverless-http in the callee handles like any API request;
 * - `http` (local): plain HTTP to SERVICE_URL_<NAME>.
 * Callers see one result shape and one error mapping either way. They call through the typed
 * routes of core/internal-api.ts (`internalApi(client, { requestId })`), which name each path
 * and the types of its request and answer.
 */
export interface InternalRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string>;
  body?: unknown;
  headers?: Record<string, string>;
  /**
   * The call does what a second run would do again (a generation made and paid for, a key
   * issued): the Lambda transport sends it again only when Lambda cannot have run it.
   */
  sendOnce?: boolean;
}

export interface InternalResponse {
  status: number;
  body: unknown;
  /** The callee's Retry-After (seconds), kept on the AppError of a 4xx: a 429's says when to come back. */
  retryAfterSeconds?: number;
}

/** A Retry-After given in seconds (the only form the services answer); anything else is ignored. */
function retryAfterOf(value: string | null | undefined): number | undefined {
  return value && /^\d{1,6}$/.test(value.trim()) ? Number(value.trim()) : undefined;
}

export interface InternalClient {
  /**
   * Returns the JSON body of a 2xx answer. A 4xx answer is rethrown as the same AppError (the
   * callee already said what was wrong); a 5xx or a transport failure becomes a 503, with the
   * callee's Retry-After when it gave one.
   */
  json<T>(service: ServiceName, req: InternalRequest): Promise<T>;
}

export type Transport = (service: ServiceName, req: InternalRequest, requestId: string) => Promise<InternalResponse>;

/**
 * The bounds of one internal call, either transport. `requestMs` outlasts the slowest callee's
 * Lambda timeout (core-llm's) by the invoke's own round trip, so an answer is never cut off, and
 * is short enough that a hung call (lost connection, an endpoint that never answers) ends: the
 * doc-generation worker's heartbeat holds its message for as long as the call waits.
 */
export const INTERNAL_TIMEOUTS: HttpTimeouts = { connectMs: 3_000, requestMs: CORE_LLM_TIMEOUT_SECONDS * 1000 + 5_000 };

/**
 * The wait of one call: `requestMs`, or less inside a request that must answer sooner (a
 * gateway's Lambda has 15 s, the call's own bound is 65 s): the call ends as a 503 in time
 * instead of the invocation being killed mid-wait (API Gateway's bare 502). Outside a request
 * (workers) there is no deadline.
 */
const callSignal = (requestMs: number): AbortSignal => AbortSignal.timeout(withinRequestDeadline(requestMs));

/**
 * The request body as JSON text. A value JSON.stringify cannot take is never a transport
 * failure: nesting too deep for the stack (the services' body reader refuses it first:
 * readRawBody in functions/shared/validation.ts, see core/json-depth.ts) is the
 * caller's input, a 400; a cycle or a BigInt is a bug here, a 500 that says so.
 */
function serialiseBody(service: string, body: unknown): string | undefined {
  if (body === undefined) return undefined;
  try {
    return JSON.stringify(body);
  } catch (err) {
    if (err instanceof RangeError) {
      const reason = /call stack/i.test(err.message) ? 'nested too deeply to forward' : 'too large to forward';
      throw badRequest([{ field: 'body', message: reason }], `request body ${reason} to ${service}`);
    }
    throw new AppError(500, 'internal_error', `request body cannot be serialised for ${service}`);
  }
}

/**
 * The answer's body. A success that says JSON but does not parse is the callee's failure (a 502
 * naming it), not a string handed to a caller expecting an object; an error answer that does
 * not parse stays text, for the status to speak.
 */
function parseBody(service: ServiceName, status: number, text: string, contentType: string | undefined): unknown {
  if (text === '') return undefined;
  if (contentType?.includes('json')) {
    try {
      return JSON.parse(text);
    } catch {
      if (status >= 200 && status < 300) throw badGateway(`service ${service} answered ${status} with a body that is not JSON`);
      return text;
    }
  }
  return text;
}

export function httpTransport(urls: Partial<Record<ServiceName, string>>, timeouts: HttpTimeouts = INTERNAL_TIMEOUTS): Transport {
  return async (service, req, requestId) => {
    const base = urls[service];
    if (!base) throw new ConfigError(`SERVICE_URL_${envStem(service)} is not set`);
    const url = new URL(base + req.path);
    for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v);
    const body = serialiseBody(service, req.body);
    let res: Response;
    try {
      res = await fetch(url, {
        method: req.method,
        headers: { 'content-type': 'application/json', 'x-request-id': requestId, ...req.headers },
        body,
        signal: callSignal(timeouts.requestMs),
      });
    } catch (err) {
      throw new DependencyUnavailableError('service', `service ${service} unreachable: ${(err as Error).message}`, `service ${service} unreachable`);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw new DependencyUnavailableError('service', `service ${service} answer cut short: ${(err as Error).message}`, `service ${service} answer cut short`);
    }
    return {
      status: res.status,
      body: parseBody(service, res.status, text, res.headers.get('content-type') ?? undefined),
      retryAfterSeconds: retryAfterOf(res.headers.get('retry-after')),
    };
  };
}

/** The API Gateway REST proxy event a Lambda-transport call carries. */
export function toApiGatewayEvent(req: InternalRequest, requestId: string, service = 'the callee'): Record<string, unknown> {
  const body = serialiseBody(service, req.body);
  const headers = { 'content-type': 'application/json', 'x-request-id': requestId, ...req.headers };
  const query = req.query && Object.keys(req.query).length > 0 ? req.query : null;
  return {
    resource: '/{proxy+}',
    path: req.path,
    httpMethod: req.method,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: query,
    multiValueQueryStringParameters: query && Object.fromEntries(Object.entries(query).map(([k, v]) => [k, [v]])),
    pathParameters: { proxy: req.path.replace(/^\//, '') },
    stageVariables: null,
    requestContext: {
      requestId,
      resourcePath: '/{proxy+}',
      httpMethod: req.method,
      path: req.path,
      stage: 'internal',
      identity: { sourceIp: '127.0.0.1', userAgent: 'docplatform-internal' },
    },
    body: body ?? null,
    isBase64Encoded: false,
  };
}

/** Attempts of one `sendOnce` Invoke, as the SDK's own default. */
const INVOKE_ATTEMPTS = 3;
/** Failures before any byte reached Lambda: the connection was never made. */
const NEVER_SENT = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

interface RetryToken {
  getRetryCount(): number;
  getRetryDelay(): number;
}
const retryToken = (count: number, delayMs: number): RetryToken => ({ getRetryCount: () => count, getRetryDelay: () => delayMs });

/**
 * The SDK's retry strategy (its RetryStrategyV2) for a `sendOnce` Invoke: sent again only when
 * Lambda cannot have run it, a throttling refusal or a connection never made. The SDK's default
 * also retries a connection reset or a timeout after the request went out, when the function may
 * have run (or still be running): a generation would be made, counted against the client's rate
 * limit and the budget and paid for twice, a key issued twice. The callers' own retries (the doc
 * worker's redelivery) come later, when the first run has finished and is found. Every other
 * call keeps the SDK's retries, which also cover a keep-alive connection Lambda closed while the
 * caller's environment was frozen: reads change nothing, and the order service's writes are
 * guarded transitions or carry an idempotency key.
 */
const notRunRetries = {
  acquireInitialRetryToken: async (): Promise<RetryToken> => retryToken(0, 0),
  refreshRetryTokenForRetry: async (token: RetryToken, info: { errorType: string; error?: unknown }): Promise<RetryToken> => {
    const retries = token.getRetryCount() + 1;
    const { code, cause } = (info.error ?? {}) as { code?: unknown; cause?: { code?: unknown } };
    const neverSent = NEVER_SENT.has(String(code)) || NEVER_SENT.has(String(cause?.code));
    if (retries >= INVOKE_ATTEMPTS || !(info.errorType === 'THROTTLING' || neverSent)) throw info.error;
    // Full jitter over the SDK's throttling base of 1 s, so throttled callers do not come back together.
    return retryToken(retries, Math.round(Math.random() * 1000 * 2 ** (retries - 1)));
  },
  recordSuccess: (): void => undefined,
};

export function lambdaTransport(config: Pick<AppConfig, 'aws' | 'internal'>, timeouts: HttpTimeouts = INTERNAL_TIMEOUTS): Transport {
  type Invoker = { invoke(fn: string, payload: string): Promise<{ payload: string; functionError?: string }> };
  const clients: { retried?: Promise<Invoker>; once?: Promise<Invoker> } = {};
  const getClient = (sendOnce: boolean) => {
    const kind = sendOnce ? 'once' : 'retried';
    return (clients[kind] ??= import('@aws-sdk/client-lambda').then((sdk) => {
      const lambda = new sdk.LambdaClient({
        region: config.aws.region,
        endpoint: config.aws.endpoint,
        requestHandler: requestHandlerOptions(timeouts),
        ...(sendOnce ? { retryStrategy: notRunRetries } : {}),
      });
      return {
        invoke: async (fn: string, payload: string) => {
          // The whole call, SDK retries included, ends at requestMs (or the request's deadline, callSignal).
          const out = await lambda.send(new sdk.InvokeCommand({ FunctionName: fn, Qualifier: LIVE_ALIAS, Payload: Buffer.from(payload) }), {
            abortSignal: callSignal(timeouts.requestMs),
          });
          return { payload: Buffer.from(out.Payload ?? []).toString('utf8'), functionError: out.FunctionError };
        },
      };
    }));
  };
  return async (service, req, requestId) => {
    const fn = config.internal.functions[service];
    if (!fn) throw new ConfigError(`SERVICE_FUNCTION_${envStem(service)} is not set`);
    const event = JSON.stringify(toApiGatewayEvent(req, requestId, service));
    let out: { payload: string; functionError?: string };
    try {
      out = await (await getClient(req.sendOnce === true)).invoke(fn, event);
    } catch (err) {
      // The SDK's words name the account, the role and the function ARN (an AccessDenied, a function not found): logged, never answered.
      throw new DependencyUnavailableError('service', `service ${service} unreachable: ${(err as Error).message}`, `service ${service} unreachable`);
    }
    if (out.functionError) throw new DependencyUnavailableError('service', `service ${service} failed: ${out.functionError}`);
    const result = proxyResultOf(service, out.payload);
    const headers = Object.fromEntries(Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]));
    const text = result.isBase64Encoded ? Buffer.from(result.body ?? '', 'base64').toString('utf8') : (result.body ?? '');
    return { status: result.statusCode, body: parseBody(service, result.statusCode, text, headers['content-type']), retryAfterSeconds: retryAfterOf(headers['retry-after']) };
  };
}

interface ProxyResult {
  statusCode: number;
  headers?: Record<string, string>;
  body?: string;
  isBase64Encoded?: boolean;
}

/** The callee's API Gateway proxy result; anything else is the callee's failure, said plainly. */
function proxyResultOf(service: ServiceName, payload: string): ProxyResult {
  let result: unknown;
  try {
    result = JSON.parse(payload);
  } catch {
    result = undefined;
  }
  const r = result as Partial<ProxyResult> | undefined;
  if (typeof r !== 'object' || r === null || typeof r.statusCode !== 'number' || (r.body !== undefined && r.body !== null && typeof r.body !== 'string')) {
    throw badGateway(`service ${service} answered something that is not an API Gateway proxy result`);
  }
  return r as ProxyResult;
}

interface ErrorBody {
  error?: { code?: string; message?: string; fields?: { field: string; message: string }[] };
}

export function createInternalClient(config: Pick<AppConfig, 'aws' | 'internal'>, transport?: Transport): InternalClient {
  const send = transport ?? (config.internal.transport === 'lambda' ? lambdaTransport(config) : httpTransport(config.internal.urls));
  const request = (service: ServiceName, req: InternalRequest) => send(service, req, req.headers?.['x-request-id'] ?? randomUUID());
  return {
    json: async <T>(service: ServiceName, req: InternalRequest): Promise<T> => {
      const res = await request(service, req);
      if (res.status >= 200 && res.status < 300) return res.body as T;
      const err = (res.body as ErrorBody | undefined)?.error;
      if (res.status >= 400 && res.status < 500) {
        throw new AppError(res.status, err?.code ?? 'request_failed', err?.message ?? `service ${service} answered ${res.status}`, err?.fields, res.retryAfterSeconds);
      }
      // The callee's Retry-After goes on: a missing secret's 503 says when it is read again (30 s), not the 5 s of an outage.
      const message = `service ${service} unavailable (${res.status}${err?.message ? `: ${err.message}` : ''})`;
      throw new DependencyUnavailableError('service', message, message, res.retryAfterSeconds);
    },
  };
}
