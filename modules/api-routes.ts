import { API_ROUTES, ApiRouteSpec, PublicService } from '../core/contract';

/** The public service the REST API sends `method path` to, if any route takes it. */
export function apiRouteOf(method: string, path: string): PublicService | undefined {
  const route = (API_ROUTES as readonly ApiRouteSpec[]).find((r) =>
    r.proxy ? path.startsWith(`/${r.path}/`) && path.length > r.path.length + 2 : path === `/${r.path}` && (r.method === 'ANY' || r.method === method),
  );
  return route?.service as PublicService | undefined;
}
