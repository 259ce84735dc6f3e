import type { ServiceName } from '../core/contract';

/**
 * The REST API's routes, each to the public service that answers it: `proxy` routes
 * `/<path>/{proxy+}` (every path below), otherwise `/<path>` itself for `method`. The compute
 * stack deploys them (modules/lambda-rest-api.ts); the local edge routes `/api/*` by the same list.
 */
export const API_ROUTES = [
  { path: 'b2c', method: 'ANY', proxy: true, service: 'gateway-b2c' },
  { path: 'b2b', method: 'ANY', proxy: true, service: 'gateway-b2b' },
  { path: 'health', method: 'GET', proxy: false, service: 'gateway-b2c' },
] as const satisfies readonly ApiRouteSpec[];
export interface ApiRouteSpec {
  path: string;
  method: string;
  proxy: boolean;
  service: ServiceName;
}
export type PublicService = (typeof API_ROUTES)[number]['service'];

/** The public service the REST API sends `method path` to, if any route takes it. */
export function apiRouteOf(method: string, path: string): PublicService | undefined {
  const route = (API_ROUTES as readonly ApiRouteSpec[]).find((r) =>
    r.proxy ? path.startsWith(`/${r.path}/`) && path.length > r.path.length + 2 : path === `/${r.path}` && (r.method === 'ANY' || r.method === method),
  );
  return route?.service as PublicService | undefined;
}
