import Router from '@koa/router';
import type Koa from 'koa';
import { parse as parseCsv } from 'csv-parse/sync';
import { randomUUID } from 'node:crypto';
import * as z from '../../core/zod';
import { LAMBDA_SYNC_PAYLOAD_BYTES } from '../../core/contract';
import { batchRequestHash, batchSourceKey, BatchSource, idempotentBatchId, MAX_BATCH_ROWS } from '../../core/domain/batches';
import { AppError, badRequest, conflict, FieldIssue, MAX_FIELD_ISSUES, unauthorized } from '../../core/errors';
import { createServiceApp, logAbout, ServiceContext, ServiceState } from '../shared/http';
import { beforeRequestDeadline } from '../../core/request-deadline';
import { DependencyUnavailableError } from '../../core/failures';
import { idempotencyKeySchema } from '../../core/domain/order-requests';
import { KeyPrefix, RotateKeyBody } from '../../core/domain/api-keys';
import { withDocumentLink } from '../../core/domain/order-views';
import { presignIfStored } from '../../core/storage';
import { InternalBatch, internalApi, ThemeDetail } from '../../core/internal-api';
import type { ServiceRuntime } from '../shared/service-runtime';
import { inputIssues, slugSchema } from '../../core/domain/themes';
import { acceptedMediaType, NoQuery, parseJsonBody, parseQuery, parseWith, readJsonBody, readRawBody, uuidParam } from '../shared/validation';

/** Public B2B API: batches (JSON or CSV) and their orders, and the client's own API keys, authenticated by API key. */

/** The Lambda event around a body: the request's headers (10 KiB at most, given twice: headers and multiValueHeaders) and its context. */
const EVENT_ENVELOPE_BYTES = 64 * 1024;
/**
 * A batch body must reach the function to be answered: API Gateway passes a text body in the
 * Lambda event as a JSON string, where a quote, a backslash or a line break takes two bytes, so
 * half of what is left of the invocation's payload. 5 MiB, as before, made a valid batch of
 * quoted CSV or JSON rows API Gateway's bare 500 in AWS (InvokeFunction refusing the event).
 */
export const BATCH_BODY_LIMIT = Math.floor((LAMBDA_SYNC_PAYLOAD_BYTES - EVENT_ENVELOPE_BYTES) / 2);
export const MANIFEST_LINK_SECONDS = 900;
/** The `error` of a batch whose manifest S3 no longer holds (its answer has no link then). */
export const MANIFEST_GONE = 'the manifest is no longer stored; contact support with the batch id';
/** The WWW-Authenticate of a 401: the API key as a Bearer token (x-api-key works too). */
const B2B_CHALLENGE = 'Bearer realm="b2b"';

export const JsonBatch = z.object({ theme: slugSchema, rows: z.array(z.unknown()).check(z.minLength(1), z.maxLength(MAX_BATCH_ROWS)) });
export const CsvQuery = z.strictObject({ theme: slugSchema });

interface B2bState extends ServiceState {
  client: { id: string; name: string };
}

function apiKeyOf(ctx: ServiceContext): string | undefined {
  const header = ctx.get('x-api-key');
  if (header) return header;
  const authorization = ctx.get('authorization');
  if (!authorization) return undefined;
  const auth = /^Bearer\s+(\S+)$/i.exec(authorization);
  // A key was meant: saying none was given would send the client looking in the wrong place.
  if (!auth) throw unauthorized('the Authorization header must be "Bearer <API key>"');
  return auth[1];
}

/** The header line names the columns; a name given twice would keep only one of its values per row, so it is refused. */
function csvColumns(header: string[]): string[] {
  const names = header.map((name) => name.trim());
  const repeated = names.find((name, i) => names.indexOf(name) !== i);
  if (repeated !== undefined) throw new Error(`column "${repeated}" appears more than once in the header`);
  return names;
}

/**
 * At most one row past MAX_BATCH_ROWS, enough for the caller to refuse the batch: 5 MiB of
 * one-character rows is 2.6 million records, seconds and hundreds of MB to parse in full.
 */
function rowsFromCsv(raw: Buffer): unknown[] {
  try {
    return parseCsv(raw, { columns: csvColumns, skip_empty_lines: true, trim: true, bom: true, max_record_size: 64 * 1024, to: MAX_BATCH_ROWS + 1 }) as unknown[];
  } catch (err) {
    throw badRequest([{ field: 'body', message: `invalid CSV: ${(err as Error).message.split('\n')[0].slice(0, 200)}` }]);
  }
}

export function createApp(runtime: ServiceRuntime<'internal' | 'storage'>): Koa<ServiceState> {
  const router = new Router<ServiceState>();
  const clientOf = (ctx: ServiceContext) => (ctx.state as B2bState).client;
  const api = (ctx: ServiceContext) => internalApi(runtime.internal, { requestId: ctx.state.requestId });

  // Case-insensitive, as the router matches: /B2B/batches reaches the same route and needs the same key.
  router.use(async (ctx, next) => {
    if (!/^\/b2b\//i.test(ctx.path)) return next();
    try {
      const apiKey = apiKeyOf(ctx);
      if (!apiKey) throw unauthorized('an API key is required (header x-api-key or Authorization: Bearer)');
      if (apiKey.length > 200) throw unauthorized();
      const { client } = await api(ctx).client.authenticate({ apiKey });
      (ctx.state as B2bState).client = client;
    } catch (err) {
      // Every 401 carries a challenge (RFC 9110): the scheme a client's HTTP library can answer.
      if (err instanceof AppError && err.status === 401) ctx.set('www-authenticate', B2B_CHALLENGE);
      throw err;
    }
    await next();
  });

  // Idempotency as with Stripe: the key is bound to the request's fingerprint (batchRequestHash).
  // Its batch is looked up before the body is even parsed, so a replay answers the original batch
  // whatever changed since (a theme deactivated) and stores nothing; another request under the
  // key is a 409. A new request's source goes to a key derived from (client, key, fingerprint),
  // so no attempt of it leaves an object behind.
  const replayOrConflict = (ctx: ServiceContext, batch: InternalBatch, requestHash: string) => {
    logAbout(ctx, { batchId: batch.id });
    if (batch.requestHash !== requestHash) {
      const why = batch.requestHash === null
        ? 'already used by a batch created before requests were fingerprinted; use a new key for a new batch'
        : 'already used with a different request (body, content type or theme differ); use a new key for a new batch';
      throw conflict('this idempotency key was already used with a different request', [{ field: 'header.idempotency-key', message: why }]);
    }
    ctx.status = 200;
    ctx.body = { batch: publicBatch(batch) };
  };

  router.post('/b2b/batches', async (ctx) => {
    const idempotencyKey = ctx.get('idempotency-key')
      ? parseWith(idempotencyKeySchema, ctx.get('idempotency-key'), 'header.idempotency-key')
      : undefined;
    const kind = acceptedMediaType(ctx, ['json', 'csv']);
    // A JSON batch names its theme in the body: a ?theme= beside it would be silently ignored.
    const csvTheme = kind === 'csv' ? parseQuery(CsvQuery, ctx).theme : (parseQuery(NoQuery, ctx), undefined);
    const raw = await readRawBody(ctx, BATCH_BODY_LIMIT);
    const requestHash = batchRequestHash(kind, csvTheme, raw);
    const clientId = clientOf(ctx).id;
    if (idempotencyKey) {
      const { batch } = await api(ctx).order.replayBatch({ clientId, idempotencyKey, requestHash });
      if (batch) return replayOrConflict(ctx, batch, requestHash);
    }

    let themeSlug: string;
    let rows: unknown[];
    if (kind === 'json') {
      const body = parseJsonBody(raw, JsonBatch);
      themeSlug = body.theme;
      rows = body.rows;
    } else {
      themeSlug = csvTheme!;
      rows = rowsFromCsv(raw);
      if (rows.length === 0) throw badRequest([{ field: 'body', message: 'the CSV has no data rows' }]);
      if (rows.length > MAX_BATCH_ROWS) throw badRequest([{ field: 'body', message: `at most ${MAX_BATCH_ROWS} rows` }]);
    }
    const themeField = kind === 'csv' ? 'query.theme' : 'body.theme';
    let theme: ThemeDetail;
    try {
      theme = (await api(ctx).theme.get(themeSlug)).theme;
    } catch (err) {
      if (err instanceof AppError && err.status === 404) throw badRequest([{ field: themeField, message: 'unknown theme' }]);
      throw err;
    }
    if (!theme.active) throw badRequest([{ field: themeField, message: 'theme is not active' }]);
    // One at a time, not spread: a row of 200,000 unknown members is as many issues, past the arguments a call may take.
    const issues: FieldIssue[] = [];
    for (let i = 0; i < rows.length && issues.length < MAX_FIELD_ISSUES; i++) {
      for (const issue of inputIssues(theme.promptTemplate, rows[i], `rows[${i}]`)) {
        if (issues.push(issue) === MAX_FIELD_ISSUES) break;
      }
    }
    if (issues.length > 0) throw badRequest(issues);

    const batchId = idempotencyKey ? idempotentBatchId(clientId, idempotencyKey, requestHash) : randomUUID();
    logAbout(ctx, { batchId });
    const source: BatchSource = { v: 1, batchId, clientId, themeId: theme.id, rows: rows as Record<string, string>[] };
    const sourceKey = batchSourceKey(clientId, batchId);
    // S3's SDK bound (3 attempts of 30 s) outlasts the 29 s Lambda; an upload left behind is harmless (its key is this request's).
    await beforeRequestDeadline(
      runtime.storage.put(runtime.config.buckets.assets, sourceKey, JSON.stringify(source), 'application/json'),
      () => new DependencyUnavailableError('storage', 'storage did not answer before the request deadline', 'storage unavailable, please retry shortly'),
    );
    const { batch, created } = await api(ctx).order.createBatch({ batchId, clientId, themeId: theme.id, sourceKey, idempotencyKey, requestHash, submittedRows: rows.length });
    // Not created: a concurrent attempt under the same key got there first.
    if (!created) return replayOrConflict(ctx, batch, requestHash);
    ctx.status = 202;
    ctx.body = { batch: publicBatch(batch) };
  });

  router.get('/b2b/batches/:id', async (ctx) => {
    const id = uuidParam(ctx, 'id');
    logAbout(ctx, { batchId: id });
    parseQuery(NoQuery, ctx);
    const { batch } = await api(ctx).order.getBatch(id, { clientId: clientOf(ctx).id });
    if (!batch.manifestKey) {
      ctx.body = { batch: publicBatch(batch) };
      return;
    }
    // As a document's link (core/domain/order-views.ts): the batch row stays completed, a restored manifest is linked again.
    const url = await presignIfStored(runtime.storage, runtime.config.buckets.assets, batch.manifestKey, MANIFEST_LINK_SECONDS, 'manifest.json');
    if (!url) ctx.state.logger.error('manifest missing from storage', { manifestKey: batch.manifestKey });
    ctx.body = {
      batch: url ? { ...publicBatch(batch), manifest: { url, expiresInSeconds: MANIFEST_LINK_SECONDS } } : { ...publicBatch(batch), error: MANIFEST_GONE },
    };
  });

  router.get('/b2b/orders/:id', async (ctx) => {
    const id = uuidParam(ctx, 'id');
    logAbout(ctx, { orderId: id });
    parseQuery(NoQuery, ctx);
    const { order } = await api(ctx).order.get(id, { clientId: clientOf(ctx).id });
    ctx.body = { order: await withDocumentLink(runtime.storage, runtime.config.buckets.reports, order, ctx.state.logger) };
  });

  // The partner's own keys: a planned rotation without ops, and revoking the old key once switched.
  // Every request authenticates anew (no cache), so a revoked key is refused from the next request.
  router.get('/b2b/keys', async (ctx) => {
    parseQuery(NoQuery, ctx);
    const { keys } = await api(ctx).client.listKeys(clientOf(ctx).id);
    ctx.body = { keys };
  });

  router.post('/b2b/keys', async (ctx) => {
    parseQuery(NoQuery, ctx);
    const body = await readJsonBody(ctx, { schema: RotateKeyBody, whenAbsent: {} });
    const rotation = await api(ctx).client.rotateKey(clientOf(ctx).id, body);
    logAbout(ctx, { keyPrefix: rotation.key.prefix });
    // The new key is in this answer only: no cache on the way may keep it.
    ctx.set('cache-control', 'no-store');
    ctx.status = 201;
    ctx.body = { apiKey: rotation.apiKey, key: rotation.key, oldKeys: rotation.oldKeys };
  });

  router.post('/b2b/keys/:prefix/revoke', async (ctx) => {
    const prefix = parseWith(KeyPrefix, ctx.params.prefix, 'path.prefix');
    logAbout(ctx, { keyPrefix: prefix });
    parseQuery(NoQuery, ctx);
    const { key, alreadyRevoked } = await api(ctx).client.revokeKey(clientOf(ctx).id, prefix);
    ctx.body = { key, alreadyRevoked };
  });

  return createServiceApp('gateway-b2b', runtime.logger, router);
}

export const publicBatch = (b: InternalBatch) => ({
  id: b.id,
  status: b.status,
  totalRows: b.totalRows,
  succeeded: b.succeeded,
  failed: b.failed,
  // Rows of the request that created the batch (null for batches from before it was kept).
  submittedRows: b.submittedRows,
  error: b.error,
  createdAt: b.createdAt,
  updatedAt: b.updatedAt,
});
