import type * as z from './zod';
import type { ServiceName } from './contract';
import type { ThemeView } from './domain/themes';
import type { ApiKeyView } from './domain/api-keys';
import type { InternalClient, InternalRequest } from './internal-client';
import type { BatchStatus, ClientKind, OrderStatus } from './models';

/**
 * The contracts of the internal services, named once: for each route a gateway or worker calls,
 * its request and its response, and a typed call over the internal client. Callers write
 * `internalApi(client, { requestId }).order.markPaid(id, body)`, never a path or a response
 * type; each handler builds its answer `satisfies` the same response type and reads its body
 * with a schema checked against the same request type (`requestSchema`), so a change on one
 * side fails type-checking on the other.
 *
 * A response type is the body its handler builds; JSON turns the Dates in it into ISO strings,
 * so a caller receives `Json<Response>` (`InternalOrder` is `Json<OrderView>`).
 *
 * Types and one thin call layer over `InternalClient.json` (which keeps the one error mapping:
 * a 4xx is rethrown as the callee's AppError, a 5xx or a transport failure is a 503).
 */

/** What a value of T becomes through JSON.stringify and JSON.parse: a Date arrives as its ISO string. */
export type Json<T> = T extends Date
  ? string
  : T extends readonly (infer U)[]
    ? Json<U>[]
    : T extends object
      ? { [K in keyof T]: Json<T[K]> }
      : T;

/**
 * A service's schema for a request of type `Req`, checked at compile time both ways: every `Req`
 * a caller may send is valid input (the schema requires nothing the contract leaves out), and
 * the schema reads it into a `Req` (it drops nothing the contract names). Returns the schema.
 *   const Paid = requestSchema<PaidRequest>()(z.object({ … }));
 */
export const requestSchema =
  <Req>() =>
  <S extends z.ZodMiniType>(schema: S & AgreesWith<S, Req>): S =>
    schema;

type AgreesWith<S extends z.ZodMiniType, Req> = [Req] extends [z.input<S>]
  ? [z.output<S>] extends [Req]
    ? unknown
    : { 'the schema does not read back every field of the request type, or reads one as another type': Req }
  : { 'the schema requires a field the request type does not give, or another type': Req };

// ---- theme ---------------------------------------------------------------------------------

/** GET /themes?active=true|false|all (default true). */
export interface ThemeListQuery {
  active?: 'true' | 'false' | 'all';
}
export interface ThemeListResponse {
  themes: ThemeView[];
}

/** GET /themes/:ref (id or slug): the theme with its prompt template. */
export interface ThemeDetail extends ThemeView {
  promptTemplate: string;
}
export interface ThemeResponse {
  theme: ThemeDetail;
}

// ---- order: orders -------------------------------------------------------------------------

/** An order as the order service answers it. */
export interface OrderView {
  id: string;
  clientId: string;
  status: OrderStatus;
  /** The theme's slug, title and format, or only its id when it could not be joined. */
  theme: { slug?: string; title?: string; outputFormat?: string; id?: string };
  input: Record<string, string>;
  amountCents: number | null;
  currency: string | null;
  checkoutUrl: string | null;
  documentKey: string | null;
  error: string | null;
  batchId: string | null;
  batchRow: number | null;
  createdAt: Date;
  updatedAt: Date;
}
/** The order as a caller receives it. */
export type InternalOrder = Json<OrderView>;

export interface OrderResponse {
  order: OrderView;
}

/** POST /orders/b2c: idempotent per `idempotencyKey` (a replay of the same order answers it again, created: false). */
export interface CreateB2cOrderRequest {
  idempotencyKey: string;
  email: string;
  name: string;
  theme: string;
  input: Record<string, unknown>;
}
export interface CreatedB2cOrderResponse extends OrderResponse {
  accessToken: string;
  created: boolean;
  /**
   * The email as the order's fingerprint holds it (lower-cased): the checkout session is created
   * with it, so every replay under one key sends Stripe the same request, whatever its case.
   */
  email: string;
}

/** GET /orders/:id answers to the order's access token (B2C) or to its client (B2B). */
export type OrderAccess = { token: string } | { clientId: string };

/** POST /orders/:id/checkout: the order's Stripe Checkout session. */
export interface CheckoutRequest {
  sessionId: string;
  url: string;
}

/**
 * POST /orders/:id/checkout-refused: the payment provider refused the order's checkout for what
 * its client sent (`field`, as the gateway names it to the client). A pending order under
 * `idempotencyKey` without a checkout session is failed and its key released (`released`).
 */
export interface CheckoutRefusedRequest {
  idempotencyKey: string;
  field: string;
}
export interface CheckoutRefusedResponse extends OrderResponse {
  released: boolean;
}

/** POST /orders/:id/paid: what the session was paid, in the order's currency (null when Stripe gave none). */
export interface PaidRequest {
  sessionId: string;
  amountTotal: number | null;
  currency: string | null;
}
export interface PaidResponse extends OrderResponse {
  /** Whether this call sent the order's doc job (only the call that moved the order does). */
  jobSent: boolean;
}

/** POST /orders/:id/payment-failed: the session expired or its delayed payment failed. */
export interface PaymentFailedRequest {
  sessionId: string;
  reason: 'payment expired' | 'payment failed';
}

// ---- order: batches ------------------------------------------------------------------------

/** A batch as the order service answers it. */
export interface BatchView {
  id: string;
  clientId: string;
  themeId: string;
  status: BatchStatus;
  totalRows: number;
  succeeded: number;
  failed: number;
  manifestKey: string | null;
  error: string | null;
  requestHash: string | null;
  submittedRows: number | null;
  createdAt: Date;
  updatedAt: Date;
}
/** The batch as a caller receives it. */
export type InternalBatch = Json<BatchView>;

export interface BatchResponse {
  batch: BatchView;
}

/** POST /batches: created (and its job sent), or the batch a concurrent attempt under the same key created. */
export interface CreateBatchRequest {
  batchId: string;
  clientId: string;
  themeId: string;
  sourceKey: string;
  idempotencyKey?: string;
  requestHash: string;
  submittedRows: number;
}
export interface CreatedBatchResponse extends BatchResponse {
  created: boolean;
}

/** POST /batches/replay: the batch an Idempotency-Key already created, if any. */
export interface ReplayBatchRequest {
  clientId: string;
  idempotencyKey: string;
  requestHash: string;
}
export interface ReplayBatchResponse {
  batch: BatchView | null;
}

/** GET /batches/:id?clientId=: only for the batch's own client. */
export interface BatchAccess {
  clientId: string;
}

// ---- client --------------------------------------------------------------------------------

/** A client account as the client service answers it (never its key). */
export interface ClientView {
  id: string;
  kind: ClientKind;
  name: string;
  email: string;
  createdAt: Date;
}
export interface ClientResponse {
  client: ClientView;
}

/** POST /clients/authenticate: the B2B client a working API key belongs to (401 otherwise: unknown, revoked or expired). */
export interface AuthenticateRequest {
  apiKey: string;
}

/** GET /clients/:id/keys: the client's keys, newest first (prefixes and dates, never a hash). */
export interface ApiKeysResponse {
  keys: ApiKeyView[];
}

/** POST /clients/:id/keys: a new key; the client's other working keys expire in `oldKeysExpireInSeconds` (default 7 days). */
export interface RotateKeyRequest {
  oldKeysExpireInSeconds?: number;
}
export interface RotateKeyResponse {
  /** The only time the key is shown. */
  apiKey: string;
  key: ApiKeyView;
  oldKeys: ApiKeyView[];
}

/** POST /clients/:id/keys/:prefix/revoke: that key of the client stops working at once. */
export interface RevokeKeyResponse {
  key: ApiKeyView;
  alreadyRevoked: boolean;
}

// ---- core-llm ------------------------------------------------------------------------------

/**
 * Whose generation it is, for core-llm's budget (functions/core-llm/budget.ts): a B2C order's
 * (interactive, with a guaranteed share) or a B2B batch row's (what is left, shared between clients).
 */
export type TrafficKind = 'interactive' | 'batch';

/** POST /generate: Markdown for the prompt, within the generation budget (429 with Retry-After when over it). */
export interface GenerateRequest {
  clientId: string;
  prompt: string;
  /** `interactive` when absent. */
  traffic?: TrafficKind;
}
export interface GenerateResponse {
  text: string;
  cached: boolean;
  model: string;
  provider: string;
  promptHash: string;
}

// ---- calls ---------------------------------------------------------------------------------

/**
 * What a request id may look like: the gateway's (API Gateway's requestId, or the caller's
 * `x-request-id`), sent as x-request-id on every internal call and carried by the job messages
 * the request causes (core/queue.ts), so one id follows an order through every service and
 * worker (docs/operations.md).
 */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Names the order a call is about, for the callee's log lines when its route does not
 * (core-llm's `/generate`). Only the internal services read it (functions/shared/http.ts).
 */
export const ORDER_ID_HEADER = 'x-order-id';

export interface CallOptions {
  /** Sent as x-request-id, so the callee logs under the caller's request. */
  requestId: string;
  /** Sent as x-order-id, so the callee's lines name the order its route does not (core-llm). */
  orderId?: string;
}

const segment = encodeURIComponent;

/** The internal services as typed calls, for one request (its id goes with every call). */
export function internalApi(client: InternalClient, { requestId, orderId }: CallOptions) {
  const headers: Record<string, string> = { 'x-request-id': requestId, ...(orderId ? { [ORDER_ID_HEADER]: orderId } : {}) };
  const call = <Res>(service: ServiceName, method: InternalRequest['method'], path: string, req: Pick<InternalRequest, 'body' | 'query' | 'sendOnce'> = {}) =>
    client.json<Json<Res>>(service, { method, path, ...req, headers });
  return {
    theme: {
      list: (query: ThemeListQuery = {}) =>
        call<ThemeListResponse>('theme', 'GET', '/themes', query.active ? { query: { active: query.active } } : {}),
      get: (ref: string) => call<ThemeResponse>('theme', 'GET', `/themes/${segment(ref)}`),
    },
    order: {
      createB2c: (body: CreateB2cOrderRequest) => call<CreatedB2cOrderResponse>('order', 'POST', '/orders/b2c', { body }),
      get: (id: string, query: OrderAccess) => call<OrderResponse>('order', 'GET', `/orders/${segment(id)}`, { query }),
      attachCheckout: (id: string, body: CheckoutRequest) => call<OrderResponse>('order', 'POST', `/orders/${segment(id)}/checkout`, { body }),
      checkoutRefused: (id: string, body: CheckoutRefusedRequest) =>
        call<CheckoutRefusedResponse>('order', 'POST', `/orders/${segment(id)}/checkout-refused`, { body }),
      markPaid: (id: string, body: PaidRequest) => call<PaidResponse>('order', 'POST', `/orders/${segment(id)}/paid`, { body }),
      markPaymentFailed: (id: string, body: PaymentFailedRequest) =>
        call<OrderResponse>('order', 'POST', `/orders/${segment(id)}/payment-failed`, { body }),
      createBatch: (body: CreateBatchRequest) => call<CreatedBatchResponse>('order', 'POST', '/batches', { body }),
      replayBatch: (body: ReplayBatchRequest) => call<ReplayBatchResponse>('order', 'POST', '/batches/replay', { body }),
      getBatch: (id: string, query: BatchAccess) => call<BatchResponse>('order', 'GET', `/batches/${segment(id)}`, { query: { clientId: query.clientId } }),
    },
    client: {
      authenticate: (body: AuthenticateRequest) => call<ClientResponse>('client', 'POST', '/clients/authenticate', { body }),
      listKeys: (id: string) => call<ApiKeysResponse>('client', 'GET', `/clients/${segment(id)}/keys`),
      rotateKey: (id: string, body: RotateKeyRequest) => call<RotateKeyResponse>('client', 'POST', `/clients/${segment(id)}/keys`, { body, sendOnce: true }),
      revokeKey: (id: string, prefix: string) => call<RevokeKeyResponse>('client', 'POST', `/clients/${segment(id)}/keys/${segment(prefix)}/revoke`),
    },
    coreLlm: {
      generate: (body: GenerateRequest) => call<GenerateResponse>('core-llm', 'POST', '/generate', { body, sendOnce: true }),
    },
  };
}

export type InternalApi = ReturnType<typeof internalApi>;
