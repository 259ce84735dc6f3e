import serverless from 'serverless-http';
import type Koa from 'koa';
import { AppConfig, loadConfig, recheckSecrets, SECRET_RECHECK_SECONDS, secretsManagerFetcher } from '../../core/config';
import { serviceUnavailable } from '../../core/errors';
import { withinTime } from '../../core/time-limit';
import { createLogger } from '../../core/logger';
import { ClientFactories, ClientName, composeRuntime, ServiceRuntime } from './service-runtime';
import { chooseRequestId, reportMissingSettings } from './http';
import { BINARY_MEDIA_TYPES, type ServiceName } from '../../core/contract';

/**
 * A Lambda handler for API Gateway REST proxy events (and the API Gateway-shaped events the
 * internal client sends with Lambda Invoke). The runtime is built during the init phase and
 * reused by every invocation of the execution environment (a failed start is retried: below).
 */
export type ApiGatewayHandler = (event: unknown, context: unknown) => Promise<unknown>;

/** The serverless-http wrapping every service uses (exported so tests feed events to the same thing). */
export const toLambdaHandler = (app: Koa<any>): ApiGatewayHandler => {
  // Answered base64-encoded: the content types the REST API passes as binary (its binaryMediaTypes).
  const handle = serverless(app, { binary: BINARY_MEDIA_TYPES });
  return (event, context) => handle(event as object, context as object);
};

/**
 * How long an invocation waits for the missing secrets it reads again: the Secrets Manager client
 * has no timeout of its own, and a read that hangs must not hold requests that need none of them
 * (`/health`, the theme list) until the Lambda timeout.
 */
export const SECRET_RECHECK_WAIT_MS = 1000;

/** Seconds a client is told to wait after a failed start-up before it retries. */
export const STARTUP_RETRY_AFTER_SECONDS = 1;

/** The id the app would have given this event's request (its x-request-id header is named in any case). */
function requestIdOfEvent(event: unknown): string {
  const { headers, requestContext } = (event ?? {}) as { headers?: Record<string, unknown> | null; requestContext?: { requestId?: unknown } | null };
  const header = Object.entries(headers ?? {}).find(([name]) => name.toLowerCase() === 'x-request-id')?.[1];
  const fromEvent = requestContext?.requestId;
  return chooseRequestId(typeof header === 'string' ? header : undefined, typeof fromEvent === 'string' ? fromEvent : undefined);
}

/** What an invocation answers when its environment could not start: a 503 any client retries, naming its request as every answer does. */
function startupFailure(requestId: string): { statusCode: number; headers: Record<string, string>; body: string; isBase64Encoded: boolean } {
  return {
    statusCode: 503,
    headers: { 'content-type': 'application/json; charset=utf-8', 'retry-after': String(STARTUP_RETRY_AFTER_SECONDS), 'x-request-id': requestId },
    body: JSON.stringify(serviceUnavailable('the service is starting; retry shortly').toJSON()),
    isBase64Encoded: false,
  };
}

/**
 * `clients`: the factories of the clients this service uses, and only those (they decide what the bundle holds).
 *
 * The start-up (config, secrets from Secrets Manager, the app) begins at import, in the init
 * phase, and is shared by every invocation of the environment, concurrent ones included. A
 * start-up that fails is forgotten: that invocation answers a 503 with Retry-After (its cause is
 * logged, never answered) and the next invocation starts again, so a transient Secrets Manager
 * failure at cold start does not leave a warm environment broken for its lifetime.
 *
 * A secret that has no value yet (created empty, not put) does not fail the start-up: `/health`
 * answers `{status: "degraded", missing: [...]}` and only the routes that need it answer a 503
 * naming it. While something is missing, an invocation at least SECRET_RECHECK_SECONDS after the
 * last read reads those secrets again, so a value put by hand is used without a deploy.
 */
export function lambdaHandler<K extends ClientName>(
  service: ServiceName,
  build: (runtime: ServiceRuntime<K>) => Koa<any>,
  clients: ClientFactories<K>,
): ApiGatewayHandler {
  interface Started {
    handle: ApiGatewayHandler;
    config: AppConfig;
    checkedAt: number;
  }
  let ready: Promise<Started> | undefined;
  const start = (): Promise<Started> => {
    const starting = loadConfig().then((config) => {
      const app = build(composeRuntime(service, config, clients));
      reportMissingSettings(app, () => config.missing);
      if (config.missing.length > 0) logger.warn('secrets have no value yet: the routes that need them answer 503', { missing: config.missing });
      return { handle: toLambdaHandler(app), config, checkedAt: Date.now() };
    });
    // Registered first, so it runs before any invocation waiting on it sees the failure.
    // (Also keeps a failure at init from being an unhandled rejection.)
    starting.catch(() => {
      if (ready === starting) ready = undefined;
    });
    return starting;
  };
  const logger = createLogger({ service });
  ready = start();
  let fetchSecret: ReturnType<typeof secretsManagerFetcher> | undefined;
  let rechecking: Promise<void> | undefined;
  const recheck = (started: Started): Promise<void> => {
    if (rechecking || started.config.missing.length === 0 || Date.now() - started.checkedAt < SECRET_RECHECK_SECONDS * 1000) return Promise.resolve();
    started.checkedAt = Date.now();
    const before = [...started.config.missing];
    rechecking = recheckSecrets(started.config, (fetchSecret ??= secretsManagerFetcher(started.config)))
      .then(
        (still) => {
          if (still.length < before.length) logger.info('secrets read again', { found: before.filter((v) => !still.includes(v)), missing: still });
        },
        (err: unknown) => logger.warn('reading the missing secrets again failed; next try later', { err, missing: before }),
      )
      .finally(() => {
        rechecking = undefined;
      });
    return rechecking;
  };
  return async (event, context) => {
    let started: Started;
    try {
      started = await (ready ??= start());
    } catch (err) {
      const requestId = requestIdOfEvent(event);
      logger.error('start-up failed; the next invocation starts again', { err, requestId });
      return startupFailure(requestId);
    }
    // A read that outlasts the wait goes on and lands in place for the invocations after this one.
    await withinTime(recheck(started), SECRET_RECHECK_WAIT_MS, () => new Error('no answer')).catch(() =>
      logger.warn('reading the missing secrets again is slow; this request goes on without them', { missing: started.config.missing }),
    );
    return started.handle(event, context);
  };
}
