import serverless from 'serverless-http';
import type Koa from 'koa';
import { loadRuntime, Runtime } from './runtime';
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

export function lambdaHandler(service: ServiceName, build: (runtime: Runtime) => Koa<any>): ApiGatewayHandler {
  const ready = loadRuntime(service).then((runtime) => toLambdaHandler(build(runtime)));
  // Surface a bad configuration on the first invocation, not as an unhandled rejection at init.
  ready.catch(() => undefined);
  return async (event, context) => (await ready)(event, context);
}
