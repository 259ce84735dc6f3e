import Koa from 'koa';
import Router, { RouterContext } from '@koa/router';
import { randomUUID } from 'node:crypto';
import { AppError, methodNotAllowed, notFound } from '../../core/errors';
import { classifyError } from '../../core/failures';
import type { Logger } from '../../core/logger';
import { API_GATEWAY_TIMEOUT_MS, PUBLIC_SERVICES, type ServiceName, UUID_PATTERN } from '../../core/contract';
import { ORDER_ID_HEADER, REQUEST_ID_PATTERN } from '../../core/internal-api';
import { withRequestDeadline } from '../../core/request-deadline';

/**
 * The Koa shell every service shares: request id, JSON access log, one error mapping
 * (AppError → its status, infrastructure down → 503 with Retry-After, anything else → 500 without details),
 * `GET /health`, and JSON 404/405 for unknown routes and wrong methods.
 */
export interface ServiceState {
  requestId: string;
  logger: Logger;
}

export type ServiceContext = RouterContext<ServiceState>;
export type ServiceRouter = Router<ServiceState>;

/** Adds fields (the order, the batch) to every later line of this request, its access line included. */
export function logAbout(ctx: { state: ServiceState }, fields: Record<string, unknown>): void {
  ctx.state.logger = ctx.state.logger.child(fields);
}

interface ApiGatewayRequest {
  apiGateway?: { event?: { requestContext?: { requestId?: string; requestTimeEpoch?: number } }; context?: { getRemainingTimeInMillis?: () => number } };
}

/** Kept back from a Lambda invocation's remaining time: the 503 of a wait that ran out still leaves before the timeout. */
export const ANSWER_MARGIN_MS = 1000;

/**
 * Epoch ms `marginMs` before this Lambda invocation times out, from its context (the one reader
 * of the remaining time), or before API Gateway gives up on the request if that comes first: a
 * cold start runs before the invocation's clock starts but after API Gateway's. Undefined outside
 * Lambda, where the caller's own bound applies. The internal client's events carry no arrival
 * time: an internal call has only its invocation's timeout.
 */
export function lambdaDeadline(ctx: Koa.Context, marginMs: number): number | undefined {
  const { event, context } = (ctx.req as ApiGatewayRequest).apiGateway ?? {};
  const remaining = context?.getRemainingTimeInMillis?.();
  if (typeof remaining !== 'number' || !Number.isFinite(remaining)) return undefined;
  const arrived = event?.requestContext?.requestTimeEpoch;
  const now = Date.now();
  const invocationEnds = now + remaining;
  // An arrival API Gateway can no longer be waiting on is not its request: a test event (the Lambda
  // console's sample says 2015) would otherwise leave every wait no time at all.
  const apiEnds = typeof arrived === 'number' && Number.isFinite(arrived) ? arrived + API_GATEWAY_TIMEOUT_MS : undefined;
  return (apiEnds !== undefined && apiEnds > now ? Math.min(invocationEnds, apiEnds) : invocationEnds) - marginMs;
}

/** The request's id: the caller's x-request-id, else API Gateway's request id, else a new UUID (the Lambda adapter's answers use it too). */
export function chooseRequestId(header: string | undefined, fromEvent: string | undefined): string {
  if (header && REQUEST_ID_PATTERN.test(header)) return header;
  return fromEvent && REQUEST_ID_PATTERN.test(fromEvent) ? fromEvent : randomUUID();
}

const requestIdOf = (ctx: Koa.Context): string => chooseRequestId(ctx.get('x-request-id'), (ctx.req as ApiGatewayRequest).apiGateway?.event?.requestContext?.requestId);

const isJsonValue = (val: unknown): val is object =>
  typeof val === 'object' && val !== null && (Array.isArray(val) || Object.getPrototypeOf(val) === Object.prototype);

/**
 * JSON bodies are handed to Koa already serialised. Koa 3's body setter tests every object
 * against the globals ReadableStream, Blob and Response, and Node loads its bundled undici on
 * the first read of `Response`: 20–40 ms that every cold start would pay on its first answer,
 * for types these services never answer with. Same bytes and headers either way.
 */
function serialiseJsonBodies(app: Koa<ServiceState>): void {
  const koaBody = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(app.response), 'body')!;
  Object.defineProperty(app.response, 'body', {
    ...koaBody,
    set(this: Koa.Response, val: unknown) {
      if (!isJsonValue(val)) return koaBody.set!.call(this, val);
      // The full type, which is what 'json' resolves to: a bare extension would make mime-types fill its tables (build/functions.ts).
      if (!/\bjson\b/i.test(this.type)) this.type = 'application/json; charset=utf-8';
      koaBody.set!.call(this, JSON.stringify(val));
    },
  });
}

const MISSING_SETTINGS = Symbol('missingSettings');

/**
 * Names on `/health` the settings whose secret has no value yet (the Lambda adapter passes the
 * config's `missing`): the service is up, `{status: "degraded", missing}` with a 200, and only
 * the routes that need one answer 503. Without a call, or with nothing missing: `{status: "ok"}`.
 */
export function reportMissingSettings(app: Koa<any>, missing: () => readonly string[]): void {
  (app.context as unknown as Record<symbol, unknown>)[MISSING_SETTINGS] = missing;
}

export function createServiceApp(service: ServiceName, logger: Logger, router: ServiceRouter = new Router<ServiceState>()): Koa<ServiceState> {
  const app = new Koa<ServiceState>({ proxy: true });
  app.silent = true;
  serialiseJsonBodies(app);

  app.use(async (ctx, next) => {
    const started = process.hrtime.bigint();
    const requestId = requestIdOf(ctx);
    ctx.state.requestId = requestId;
    // An outside caller's x-order-id names nothing in a public service's lines.
    const orderId = PUBLIC_SERVICES.has(service) ? '' : ctx.get(ORDER_ID_HEADER);
    ctx.state.logger = logger.child(UUID_PATTERN.test(orderId) ? { requestId, orderId } : { requestId });
    ctx.set('x-request-id', requestId);
    try {
      // Outside Lambda there is no deadline: the waits' own caps apply.
      const deadline = lambdaDeadline(ctx, ANSWER_MARGIN_MS);
      await (deadline === undefined ? next() : withRequestDeadline(deadline, next));
      if (ctx.status === 405 || ctx.status === 501) {
        const allowed = (ctx.response.get('allow') || '').split(/,\s*/).filter(Boolean);
        throw methodNotAllowed(allowed);
      }
      if (ctx.status === 404 && ctx.body === undefined) throw notFound(`no route for ${ctx.method} ${ctx.path}`);
    } catch (err) {
      const appError: AppError = classifyError(err);
      if (appError.status >= 500) ctx.state.logger.error('request failed', { err, status: appError.status });
      ctx.status = appError.status;
      // Every 503 (database, cache, queue, storage, another service unavailable) says when to retry.
      if (appError.retryAfter !== undefined) ctx.set('retry-after', String(appError.retryAfter));
      ctx.body = appError.toJSON();
    }
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    ctx.state.logger.info('request', { method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(ms * 10) / 10 });
  });

  router.get('/health', (ctx) => {
    const missing = (ctx as unknown as Record<symbol, (() => readonly string[]) | undefined>)[MISSING_SETTINGS]?.() ?? [];
    ctx.body = missing.length > 0 ? { status: 'degraded', service, missing: [...missing] } : { status: 'ok', service };
  });
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
