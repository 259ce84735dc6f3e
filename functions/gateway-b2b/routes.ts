import * as z from '../../core/zod';
import { MAX_BATCH_ROWS } from '../../core/domain/batches';
import { ApiKeyView, KeyPrefix, MAX_WORKING_KEYS, OLD_KEY_OVERLAP_DEFAULT_MS, OLD_KEY_OVERLAP_MAX_MS, RotateKeyBody } from '../../core/domain/api-keys';
import { answerSchema, idempotencyHeader, OrderAnswer, PublicRoute, TimedLink } from '../shared/public-api';
import { DEFAULT_BODY_LIMIT, NoQuery, Uuid } from '../shared/validation';
import { BATCH_BODY_LIMIT, CsvQuery, JsonBatch, MANIFEST_LINK_SECONDS, publicBatch } from './app';

/** gateway-b2b's routes in the public API registry (functions/shared/public-api.ts). */
const Timestamp = z.iso.datetime();

/** publicBatch (app.ts), with the manifest link once the batch is done. */
const PublicBatch = answerSchema<ReturnType<typeof publicBatch> & { manifest?: z.output<typeof TimedLink> }>()(z.object({
  id: Uuid,
  status: z.enum(['pending', 'processing', 'completed', 'failed']),
  totalRows: z.number(),
  succeeded: z.number(),
  failed: z.number(),
  submittedRows: z.nullable(z.number()),
  error: z.nullable(z.string()).check(z.describe('Why the batch failed; on a completed batch without `manifest`, that S3 no longer holds its manifest')),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  manifest: z.optional(TimedLink),
}));
const BatchAnswer = z.object({ batch: PublicBatch });

/** core/domain/api-keys.ts ApiKeyView: a key's prefix and dates, never the key or its hash. */
const PublicApiKey = answerSchema<ApiKeyView>()(z.object({
  prefix: KeyPrefix,
  state: z.enum(['active', 'expiring', 'expired', 'revoked']),
  createdAt: Timestamp,
  expiresAt: z.nullable(Timestamp),
  revokedAt: z.nullable(Timestamp),
  lastUsedAt: z.nullable(Timestamp),
}));
const ApiKeyList = z.object({ keys: z.array(PublicApiKey) });
const Rotated = z.object({ apiKey: z.string(), key: PublicApiKey, oldKeys: z.array(PublicApiKey) });
const Revoked = z.object({ key: PublicApiKey, alreadyRevoked: z.boolean() });

/** The schemas the document names (the others are named after their operation). */
export const B2B_SCHEMAS = { Batch: PublicBatch, BatchAnswer, ApiKey: PublicApiKey };

/** A CSV whose header line names the theme's fields, one order per row. */
const BatchCsv = z.string();

const ERRORS_OF_READS = { 400: 'the id is malformed or a query parameter was given', 401: 'no or a wrong API key', 403: 'it belongs to another client', 404: 'no such one' };

export const B2B_ROUTES: PublicRoute[] = [
  {
    operationId: 'createBatch',
    method: 'POST',
    path: '/b2b/batches',
    summary: `Order up to ${MAX_BATCH_ROWS} documents on one theme, as JSON rows or a CSV`,
    description: `JSON: {theme, rows}, no query string. CSV: the theme in the query (?theme=), one row per order. The manifest of the documents is linked from the batch once it is done (valid ${MANIFEST_LINK_SECONDS} s from each answer).`,
    tags: ['b2b'],
    auth: 'apiKey',
    query: z.partial(CsvQuery),
    headers: { 'idempotency-key': idempotencyHeader(false) },
    body: { content: { 'application/json': JsonBatch, 'text/csv': BatchCsv }, limitBytes: BATCH_BODY_LIMIT, required: true },
    responses: {
      202: { description: 'Accepted: its orders are being created', body: BatchAnswer },
      200: { description: 'A replay: the batch this idempotency key already created', body: BatchAnswer },
    },
    errors: {
      400: 'a field, a row or the CSV is invalid, or a JSON batch has a query string (each named: `body.theme`, `query.theme`, `rows[3].<field>`)',
      401: 'no or a wrong API key',
      409: 'the idempotency key was used with another request',
      413: 'the body is too large',
      415: 'the body is neither application/json nor text/csv, or is compressed (a Content-Encoding other than identity)',
      503: 'a dependency is unavailable; retry after Retry-After',
    },
  },
  {
    operationId: 'getBatch',
    method: 'GET',
    path: '/b2b/batches/:id',
    summary: 'A batch, its counts, and its manifest once done',
    tags: ['b2b'],
    auth: 'apiKey',
    pathParams: { id: Uuid },
    query: NoQuery,
    responses: { 200: { description: 'The batch', body: BatchAnswer } },
    errors: ERRORS_OF_READS,
  },
  {
    operationId: 'getB2bOrder',
    method: 'GET',
    path: '/b2b/orders/:id',
    summary: "One of the client's orders and, once ready, a link to its document",
    tags: ['b2b'],
    auth: 'apiKey',
    pathParams: { id: Uuid },
    query: NoQuery,
    responses: { 200: { description: 'The order', body: OrderAnswer } },
    errors: ERRORS_OF_READS,
  },
  {
    operationId: 'listApiKeys',
    method: 'GET',
    path: '/b2b/keys',
    summary: "The client's API keys, newest first: prefix, state and dates (never a key)",
    description: '`active`: no expiry; `expiring`: works until `expiresAt` (the old key of a rotation); `expired`, `revoked`: refused. `lastUsedAt` is recorded at most every 5 minutes.',
    tags: ['b2b'],
    auth: 'apiKey',
    query: NoQuery,
    responses: { 200: { description: 'The keys', body: ApiKeyList } },
    errors: { 400: 'a query parameter was given', 401: 'no or a wrong API key' },
  },
  {
    operationId: 'rotateApiKey',
    method: 'POST',
    path: '/b2b/keys',
    summary: 'A new API key; the current ones keep working until they expire',
    description: `The new key is in this answer only (it is stored as a hash): keep it. The client's other working keys get an expiry \`oldKeysExpireInSeconds\` from now (default ${OLD_KEY_OVERLAP_DEFAULT_MS / 86_400_000} days, at most ${OLD_KEY_OVERLAP_MAX_MS / 86_400_000} days; 0 ends them at once), or keep an earlier one, so clients can switch without downtime. At most ${MAX_WORKING_KEYS} working keys. A key you believe leaked: revoke it (POST /b2b/keys/{prefix}/revoke), and tell us.`,
    tags: ['b2b'],
    auth: 'apiKey',
    query: NoQuery,
    body: { content: { 'application/json': RotateKeyBody }, limitBytes: DEFAULT_BODY_LIMIT, required: false },
    responses: { 201: { description: 'The new key, and the old keys with their expiry', body: Rotated } },
    errors: {
      400: 'the body is invalid (`body.oldKeysExpireInSeconds`) or a query parameter was given',
      401: 'no or a wrong API key',
      409: `the client already has ${MAX_WORKING_KEYS} working keys`,
      415: 'a body was sent that is not application/json, or is compressed (no body at all means the defaults)',
    },
  },
  {
    operationId: 'revokeApiKey',
    method: 'POST',
    path: '/b2b/keys/:prefix/revoke',
    summary: 'Revoke one of the client\'s keys: refused from the next request on',
    description: 'The prefix is the part after `dpk_` (12 hex characters). Revoking the key the request is made with is allowed. Revoking a revoked key answers it again, `alreadyRevoked` true.',
    tags: ['b2b'],
    auth: 'apiKey',
    pathParams: { prefix: KeyPrefix },
    query: NoQuery,
    responses: { 200: { description: 'The key, revoked', body: Revoked } },
    errors: { 400: 'the prefix is malformed or a query parameter was given', 401: 'no or a wrong API key', 404: 'the client has no key with this prefix' },
  },
];
