import * as z from '../../core/zod';
import { idempotencyHeader, OrderAnswer, PublicOrder, PublicRoute, PublicTheme } from '../shared/public-api';
import { NoQuery, Uuid } from '../shared/validation';
import { DOCUMENT_REDIRECT_SECONDS, ORDER_BODY_LIMIT, OrderBody, StatusQuery, WEBHOOK_BODY_LIMIT } from './app';

/** gateway-b2c's routes in the public API registry (functions/shared/public-api.ts). */
const ThemeList = z.object({ themes: z.array(PublicTheme) });

const CreatedOrder = z.object({
  order: PublicOrder,
  accessToken: z.string().check(z.describe('Reads this order (getOrder, downloadDocument): keep it, it is given only here and by a replay of this creation')),
  checkoutUrl: z.nullable(z.string()).check(z.describe("Stripe Checkout's page for a pending order")),
  statusUrl: z.string().check(
    z.regex(/^\/b2c\/orders\/[0-9a-f-]{36}\?token=[A-Za-z0-9_-]+$/),
    z.describe(
      'getOrder of this order with its token, as a path relative to the API base URL (the server): on the front end’s origin ' +
        '`/api/b2c/orders/{id}?token=…`, at the API’s own URL the path as it is. It holds the access token: keep it as private as `accessToken`.',
    ),
  ),
});

const WebhookAnswer = z.object({
  received: z.literal(true),
  handled: z.boolean(),
  orderId: z.optional(Uuid),
  status: z.optional(z.string()),
});

/** Any JSON object: the webhook verifies the signature over the raw bytes before reading them. */
const StripeEvent = z.record(z.string(), z.unknown());

const orderId = { id: Uuid };

/** The schemas the document names (the others are named after their operation). */
export const B2C_SCHEMAS = { ThemeList, CreatedOrder };

export const B2C_ROUTES: PublicRoute[] = [
  {
    operationId: 'listThemes',
    method: 'GET',
    path: '/b2c/themes',
    summary: 'The active themes a document can be ordered on',
    tags: ['b2c'],
    query: NoQuery,
    responses: { 200: { description: 'The active themes', body: ThemeList } },
    errors: { 400: 'a query parameter was given' },
  },
  {
    operationId: 'createOrder',
    method: 'POST',
    path: '/b2c/orders',
    summary: 'Order a document; pay it on the returned Stripe Checkout page',
    tags: ['b2c'],
    headers: { 'idempotency-key': idempotencyHeader(true) },
    body: { content: { 'application/json': OrderBody }, limitBytes: ORDER_BODY_LIMIT, required: true },
    responses: {
      201: { description: 'The order was created, pending its payment', body: CreatedOrder },
      200: { description: 'A replay: the order this idempotency key already created', body: CreatedOrder },
    },
    errors: {
      400: 'a field of the body or the idempotency key is invalid (each named), or the input makes a prompt longer than the model takes (`body.input`), or the payment provider refuses the email (`body.email`; nothing stays under the idempotency key then, so the request with the email corrected may use the same key)',
      402: 'the payment provider declined the payment method (`payment_declined`)',
      409: 'the idempotency key was used with another request',
      413: 'the body is too large',
      415: 'the body is not application/json, or is compressed (a Content-Encoding other than identity)',
      422: 'the payment provider refuses the checkout of this order (`payment_rejected`); retrying it will not help',
      503: 'a dependency (the payment provider included) is unavailable or a setting is missing; retry with the same idempotency key after Retry-After',
    },
  },
  {
    operationId: 'stripeWebhook',
    method: 'POST',
    path: '/b2c/stripe/webhook',
    summary: "Stripe's checkout events (called by Stripe, not by the front end)",
    tags: ['b2c'],
    auth: 'stripeSignature',
    body: { content: { 'application/json': StripeEvent }, limitBytes: WEBHOOK_BODY_LIMIT, required: true },
    responses: { 200: { description: 'Received; `handled` says whether it changed an order', body: WebhookAnswer } },
    errors: { 400: 'the signature is missing or wrong, or the signed body is not an event (`body.type`, `body.data.object` named)', 503: 'the webhook secret is not set yet; Stripe retries' },
  },
  {
    operationId: 'getOrder',
    method: 'GET',
    path: '/b2c/orders/:id',
    summary: 'An order and, once ready, a link to its document',
    tags: ['b2c'],
    auth: 'orderToken',
    pathParams: orderId,
    query: StatusQuery,
    responses: { 200: { description: 'The order', body: OrderAnswer } },
    errors: { 400: 'the id or the token is malformed', 404: 'no such order, or the token is not its own (the same answer, so a token does not tell whether an order exists)' },
  },
  {
    operationId: 'downloadDocument',
    method: 'GET',
    path: '/b2c/orders/:id/document',
    summary: "The order's document: a redirect to its bytes",
    description:
      `A 303 to a presigned link, valid ${DOCUMENT_REDIRECT_SECONDS} s, that answers the document itself ` +
      '(application/pdf, application/vnd.openxmlformats-officedocument.wordprocessingml.document or text/html, as the theme says) ' +
      'with a Content-Disposition naming the file. A browser follows it with a plain navigation or a download link.',
    tags: ['b2c'],
    auth: 'orderToken',
    pathParams: orderId,
    query: StatusQuery,
    responses: {
      303: {
        description: 'See the document at Location',
        headers: { location: { description: 'The presigned link to the document', schema: z.url() } },
      },
    },
    errors: {
      400: 'the id or the token is malformed',
      404: 'no such order, or the token is not its own (the same answer, so a token does not tell whether an order exists)',
      409: 'the document is not ready yet',
      410: 'the order is ready but its document is no longer stored (`document_gone`); retrying will not help, support can restore it',
      503: 'storage did not answer whether the document is stored; retry after Retry-After',
    },
  },
];
