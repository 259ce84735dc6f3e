import serverless from 'serverless-http';
import type Koa from 'koa';
import { loadConfig } from './config';
import { ClientFactories, ClientName, composeRuntime, ServiceRuntime } from './service-runtime';
import type { ServiceName } from './services';

/**
 * A Lambda handler for API Gateway REST proxy events (and the API Gateway-shaped events the
 * internal client sends with Lambda Invoke). The runtime is built during the init phase and
 * reused by every invocation of the execution environment.
 */
export type ApiGatewayHandler = (event: unknown, context: unknown) => Promise<unknown>;

/** Content types answered base64-encoded, matching the REST API's binaryMediaTypes. */
export const BINARY_MEDIA_TYPES = ['application/pdf', 'application/octet-stream', 'application/zip', 'image/*', 'application/vnd.openxmlformats-officedocument.*'];

/** The serverless-http wrapping every service uses (exported so tests feed events to the same thing). */
export const toLambdaHandler = (app: Koa<any>): ApiGatewayHandler => {
  const handle = serverless(app, { binary: BINARY_MEDIA_TYPES });
  return (event, context) => handle(event as object, context as object);
};

/** `clients`: the factories of the clients this service uses, and only those (they decide what the bundle holds). */
export function lambdaHandler<K extends ClientName>(
  service: ServiceName,
  build: (runtime: ServiceRuntime<K>) => Koa<any>,
  clients: ClientFactories<K>,
): ApiGatewayHandler {
  const ready = loadConfig().then((config) => toLambdaHandler(build(composeRuntime(service, config, clients))));
  // Surface a bad configuration on the first invocation, not as an unhandled rejection at init.
  ready.catch(() => undefined);
  return async (event, context) => (await ready)(event, context);
}
