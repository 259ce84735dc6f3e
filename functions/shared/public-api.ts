import * as z from '../../core/zod';
import type { withDocumentLink } from '../../core/domain/order-views';
import type { ThemeView } from '../../core/domain/themes';
import type { AppError } from '../../core/errors';
import { idempotencyKeySchema } from '../../core/domain/order-requests';
import { Uuid } from './validation';

/**
 * The public API's route registry: what each route of gateway-b2c and gateway-b2b takes and
 * answers, as the zod schemas the routes validate with (requests) and describe their answers
 * with (responses). `npm run openapi` turns it into the OpenAPI document (docs/api/openapi.json);
 * test/api/openapi.test.ts holds it against the routers, and the gateway tests hold every
 * answer against the document. Only the generator and the tests import the registries: a
 * Lambda bundle carries the request schemas it validates with, not the rest.
 */

/** How a route authenticates: B2B API key, B2C order access token, Stripe's webhook signature. */
export type RouteAuth = 'apiKey' | 'orderToken' | 'stripeSignature';

export interface RouteHeader {
  schema: z.ZodMiniType;
  required: boolean;
  description: string;
}

export interface RouteResponse {
  description: string;
  /** The JSON body; absent for an answer without one (a redirect). */
  body?: z.ZodMiniType;
  headers?: Record<string, { description: string; schema: z.ZodMiniType }>;
}

export interface PublicRoute {
  operationId: string;
  method: 'GET' | 'POST';
  /** The router's path (`:id` parameters). */
  path: string;
  summary: string;
  description?: string;
  tags: string[];
  auth?: RouteAuth;
  pathParams?: Record<string, z.ZodMiniType>;
  query?: z.ZodMiniObject;
  headers?: Record<string, RouteHeader>;
  /** The request body by media type, and its size limit. */
  body?: { content: Partial<Record<'application/json' | 'text/csv', z.ZodMiniType>>; limitBytes: number; required: boolean };
  responses: Record<number, RouteResponse>;
  /** The error statuses this route answers on purpose, each with the AppError body. */
  errors: Record<number, string>;
}

/**
 * An answer's schema, checked at compile time both ways against the type the route builds (as
 * requestSchema does for requests): a member added to the answer and not to the contract, or
 * typed otherwise, fails the type check. Returns the schema.
 */
export const answerSchema =
  <T>() =>
  <S extends z.ZodMiniType>(schema: S & Describes<S, T>): S =>
    schema;

type Describes<S extends z.ZodMiniType, T> = [T] extends [z.output<S>]
  ? [z.output<S>] extends [T]
    ? unknown
    : { 'the schema names a member the route does not build, or types it otherwise': T }
  : { 'the route builds a member the schema does not name, or types it otherwise': T };

/** The body of every error answer (AppError.toJSON in core/errors.ts). */
export const ErrorBody = answerSchema<ReturnType<AppError['toJSON']>>()(z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    fields: z.optional(z.array(z.object({ field: z.string(), message: z.string() }))),
  }),
}));

const Timestamp = z.iso.datetime();

export const Health = z.object({
  status: z.enum(['ok', 'degraded']),
  service: z.string(),
  /** The settings whose secret has no value yet. */
  missing: z.optional(z.array(z.string())),
});

export const PublicTheme = answerSchema<ThemeView>()(z.object({
  id: Uuid,
  slug: z.string(),
  title: z.string(),
  outputFormat: z.enum(['pdf', 'docx', 'html']),
  priceCents: z.number(),
  currency: z.literal('eur'),
  fields: z.array(z.string()),
  active: z.boolean(),
}));

/** A presigned link, valid `expiresInSeconds` from the answer. */
export const TimedLink = z.object({ url: z.url(), expiresInSeconds: z.number() });

/** publicOrder / withDocumentLink (core/domain/order-views.ts). */
export const PublicOrder = answerSchema<Awaited<ReturnType<typeof withDocumentLink>>>()(z.object({
  id: Uuid,
  status: z.enum(['pending', 'paid', 'queued', 'generating', 'ready', 'failed']),
  theme: z.object({ slug: z.optional(z.string()), title: z.optional(z.string()), outputFormat: z.optional(z.string()), id: z.optional(z.string()) }),
  input: z.record(z.string(), z.string()),
  amountCents: z.nullable(z.number()),
  currency: z.nullable(z.string()),
  error: z.nullable(z.string()).check(z.describe('Why the order failed; on a `ready` order without `document`, that S3 no longer holds its document')),
  batchId: z.optional(Uuid),
  batchRow: z.optional(z.nullable(z.number())),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  /** Once the order is ready and S3 holds its document: a link to it. */
  document: z.optional(TimedLink),
}));

export const OrderAnswer = z.object({ order: PublicOrder });

/** The Idempotency-Key header: a retry with the same key and request answers the original, never a second one. */
export const idempotencyHeader = (required: boolean): RouteHeader => ({
  schema: idempotencyKeySchema,
  required,
  description: 'One key per intended request (e.g. a random UUID); a retry with the same key and request answers the original, another request under it is a 409.',
});

export const HEALTH_ROUTE: PublicRoute = {
  operationId: 'health',
  method: 'GET',
  path: '/health',
  summary: 'Whether the API is up, and the settings it still lacks',
  tags: ['health'],
  responses: { 200: { description: 'Up; `degraded` names the settings whose secret has no value yet (only the routes needing one answer 503)', body: Health } },
  errors: {},
};
