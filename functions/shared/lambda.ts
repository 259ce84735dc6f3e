import serverless from 'serverless-http';
import type Koa from 'koa';
import { loadConfig } from '../../core/config';
import { serviceUnavailable } from '../../core/errors';
import { createLogger } from '../../core/logger';
import { ClientFactories, ClientName, composeRuntime, ServiceRuntime } from './service-runtime';
import type { ServiceName } from '../../core/contract';

/**
 * A Lambda handler for API Gateway REST proxy events (and the API Gateway-shaped events the
 * internal client sends with Lambda Invoke). The runtime is built during the init phase and
 * reused by every invocation of the execution environment (a failed start is retried: below).
 */
export type ApiGatewayHandler = (event: unknown, context: unknown) => Promise<unknown>;

/** Content types answered base64-encoded, matching the REST API's binaryMediaTypes. */
export const BINARY_MEDIA_TYPES = ['application/pdf', 'application/octet-stream', 'application/zip', 'image/*', 'application/vnd.openxmlformats-officedocument.*'];

/** The serverless-http wrapping every service uses (exported so tests feed events to the same thing). */
export const toLambdaHandler = (app: Koa<any>): ApiGatewayHandler => {
  const handle = serverless(app, { binary: BINARY_MEDIA_TYPES });
  return (event, context) => handle(event as object, context as object);
};

/** Seconds a client is told to wait after a failed start-up before it retries. */
export const STARTUP_RETRY_AFTER_SECONDS = 1;

/** What an invocation answers when its environment could not start: a 503 any client retries. */
function startupFailure(): { statusCode: number; headers: Record<string, string>; body: string; isBase64Encoded: boolean } {
  return {
    statusCode: 503,
    headers: { 'content-type': 'application/json; charset=utf-8', 'retry-after': String(STARTUP_RETRY_AFTER_SECONDS) },
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
 */
export function lambdaHandler<K extends ClientName>(
  service: ServiceName,
  build: (runtime: ServiceRuntime<K>) => Koa<any>,
  clients: ClientFactories<K>,
): ApiGatewayHandler {
  let ready: Promise<ApiGatewayHandler> | undefined;
  const start = (): Promise<ApiGatewayHandler> => {
    const starting = loadConfig().then((config) => toLambdaHandler(build(composeRuntime(service, config, clients))));
    // Registered first, so it runs before any invocation waiting on it sees the failure.
    // (Also keeps a failure at init from being an unhandled rejection.)
    starting.catch(() => {
      if (ready === starting) ready = undefined;
    });
    return starting;
  };
  ready = start();
  const logger = createLogger({ service });
  return async (event, context) => {
    let handle: ApiGatewayHandler;
    try {
      handle = await (ready ??= start());
    } catch (err) {
      logger.error('start-up failed; the next invocation starts again', { err });
      return startupFailure();
    }
    return handle(event, context);
  };
}
