import { API_ROUTES, ApiRouteSpec, PublicService } from '../core/contract';

/** The public service the REST API sends `method path` to, if any route takes it. */
export function apiRouteOf(method: string, path: string): PublicService | undefined {
  const route = (API_ROUTES as readonly ApiRouteSpec[]).find((r) =>
    r.proxy ? path.startsWith(`/${r.path}/`) && path.length > r.path.length + 2 : path === `/${r.path}` && (r.method === 'ANY' || r.method === method),
  );
  return route?.service as PublicService | undefined;
}

/**
 * What API Gateway answers itself (no function ran), in the services' error body
 * `{"error":{"code","message"}}` (core/errors.ts, which this layer may not import) instead of its
 * `{"message": …}`: over the stage throttle a 429 with Retry-After (the bucket refills every
 * second), any other 4xx (a path it does not route, a WAF block) and 5xx (a function past 29 s)
 * with API Gateway's own message. Plain data, here beside the routes, so the local edge answers
 * what the REST API answers without loading cdktf.
 */
const errorTemplate = (code: string, message: string) => `{"error":{"code":"${code}","message":${message}}}`;
export const GATEWAY_RESPONSES = [
  {
    type: 'THROTTLED',
    statusCode: '429',
    template: errorTemplate('rate_limited', JSON.stringify('too many requests to the API; retry after 1 s')),
    headers: { 'Retry-After': "'1'" },
  },
  { type: 'DEFAULT_4XX', template: errorTemplate('request_refused', '$context.error.messageString') },
  { type: 'DEFAULT_5XX', template: errorTemplate('gateway_error', '$context.error.messageString') },
] as const;

/**
 * What API Gateway answers itself for an error of `type` (its default `status` and `message`),
 * filled in from GATEWAY_RESPONSES as API Gateway picks the response: the one of that type, else
 * DEFAULT_4XX or DEFAULT_5XX by the status; `$context.error.messageString` is the message,
 * JSON-quoted, and a header value is a quoted literal.
 */
export function gatewayAnswer(type: string, status: number, message: string): { status: number; headers: Record<string, string>; body: string } {
  const responses: readonly { type: string; statusCode?: string; template: string; headers?: Record<string, string> }[] = GATEWAY_RESPONSES;
  const response = responses.find((r) => r.type === type) ?? responses.find((r) => r.type === (status >= 500 ? 'DEFAULT_5XX' : 'DEFAULT_4XX'))!;
  const headers = Object.fromEntries(Object.entries(response.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value.replace(/^'|'$/g, '')]));
  return {
    status: response.statusCode ? Number(response.statusCode) : status,
    headers: { 'content-type': 'application/json', ...headers },
    body: response.template.replaceAll('$context.error.messageString', JSON.stringify(message)),
  };
}
