import Router from '@koa/router';
import type Koa from 'koa';
import { parse as parseCsv } from 'csv-parse/sync';
import { randomUUID } from 'node:crypto';
import * as z from '../shared/zod';
import { batchSourceKey, BatchSource, MAX_BATCH_ROWS } from '../shared/batches';
import { AppError, badRequest, FieldIssue, unauthorized, unsupportedMediaType } from '../shared/errors';
import { createServiceApp, ServiceContext, ServiceState } from '../shared/http';
import { idempotencyKeySchema } from '../order/schemas';
import { InternalOrder, withDocumentLink } from '../shared/order-views';
import type { ServiceRuntime } from '../shared/service-runtime';
import { inputIssues, slugSchema } from '../shared/themes';
import { NoQuery, parseJsonText, parseQuery, parseWith, readRawBody, uuidParam } from '../shared/validation';

/** Public B2B API: batches (JSON or CSV) and their orders, authenticated by API key. */
const BATCH_BODY_LIMIT = 5 * 1024 * 1024;
const MAX_REPORTED_ISSUES = 50;
const MANIFEST_LINK_SECONDS = 900;

const JsonBatch = z.object({ theme: slugSchema, rows: z.array(z.unknown()).check(z.minLength(1), z.maxLength(MAX_BATCH_ROWS)) });
const CsvQuery = z.strictObject({ theme: slugSchema });

interface B2bState extends ServiceState {
  client: { id: string; name: string };
}

interface ThemeDetail {
  id: string;
  slug: string;
  promptTemplate: string;
  active: boolean;
}

interface InternalBatch {
  id: string;
  clientId: string;
  status: string;
  totalRows: number;
  succeeded: number;
  failed: number;
  manifestKey: string | null;
  error: string | null;
  createdAt: string;
  updatedAt: string;
}

function apiKeyOf(ctx: ServiceContext): string | undefined {
  const header = ctx.get('x-api-key');
  if (header) return header;
  const auth = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'));
  return auth?.[1];
}

/** The header line names the columns; a name given twice would keep only one of its values per row, so it is refused. */
function csvColumns(header: string[]): string[] {
  const names = header.map((name) => name.trim());
  const repeated = names.find((name, i) => names.indexOf(name) !== i);
  if (repeated !== undefined) throw new Error(`column "${repeated}" appears more than once in the header`);
  return names;
}

function rowsFromCsv(raw: Buffer): unknown[] {
  try {
    return parseCsv(raw, { columns: csvColumns, skip_empty_lines: true, trim: true, bom: true, max_record_size: 64 * 1024 }) as unknown[];
  } catch (err) {
    throw badRequest([{ field: 'body', message: `invalid CSV: ${(err as Error).message.split('\n')[0].slice(0, 200)}` }]);
  }
}

export function createApp(runtime: ServiceRuntime<'internal' | 'storage'>): Koa<ServiceState> {
  const router = new Router<ServiceState>();
  const clientOf = (ctx: ServiceContext) => (ctx.state as B2bState).client;
  const internal = () => runtime.internal;
  const headersOf = (ctx: ServiceContext) => ({ 'x-request-id': ctx.state.requestId });

  router.use(async (ctx, next) => {
    if (!ctx.path.startsWith('/b2b/')) return next();
    const apiKey = apiKeyOf(ctx);
    if (!apiKey) throw unauthorized('an API key is required (header x-api-key or Authorization: Bearer)');
    if (apiKey.length > 200) throw unauthorized();
    const { client } = await internal().json<{ client: { id: string; name: string } }>('client', {
      method: 'POST',
      path: '/clients/authenticate',
      body: { apiKey },
      headers: headersOf(ctx),
    });
    (ctx.state as B2bState).client = client;
    await next();
  });

  router.post('/b2b/batches', async (ctx) => {
    const idempotencyKey = ctx.get('idempotency-key')
      ? parseWith(idempotencyKeySchema, ctx.get('idempotency-key'), 'header.idempotency-key')
      : undefined;
    const contentType = ctx.get('content-type');
    let themeSlug: string;
    let rows: unknown[];
    if (/^application\/json\b/i.test(contentType)) {
      const body = parseWith(JsonBatch, parseJsonText(await readRawBody(ctx, BATCH_BODY_LIMIT)), 'body');
      themeSlug = body.theme;
      rows = body.rows;
    } else if (/^text\/csv\b/i.test(contentType)) {
      themeSlug = parseQuery(CsvQuery, ctx).theme;
      rows = rowsFromCsv(await readRawBody(ctx, BATCH_BODY_LIMIT));
      if (rows.length === 0) throw badRequest([{ field: 'body', message: 'the CSV has no data rows' }]);
      if (rows.length > MAX_BATCH_ROWS) throw badRequest([{ field: 'body', message: `at most ${MAX_BATCH_ROWS} rows` }]);
    } else {
      throw unsupportedMediaType(['application/json', 'text/csv']);
    }
    const themeField = contentType.startsWith('text/csv') ? 'query.theme' : 'body.theme';
    let theme: ThemeDetail;
    try {
      theme = (await internal().json<{ theme: ThemeDetail }>('theme', { method: 'GET', path: `/themes/${themeSlug}`, headers: headersOf(ctx) })).theme;
    } catch (err) {
      if (err instanceof AppError && err.status === 404) throw badRequest([{ field: themeField, message: 'unknown theme' }]);
      throw err;
    }
    if (!theme.active) throw badRequest([{ field: themeField, message: 'theme is not active' }]);
    const issues: FieldIssue[] = [];
    rows.forEach((row, i) => {
      if (issues.length < MAX_REPORTED_ISSUES) issues.push(...inputIssues(theme.promptTemplate, row, `rows[${i}]`));
    });
    if (issues.length > 0) throw badRequest(issues.slice(0, MAX_REPORTED_ISSUES));

    const batchId = randomUUID();
    const clientId = clientOf(ctx).id;
    const source: BatchSource = { v: 1, batchId, clientId, themeId: theme.id, rows: rows as Record<string, string>[] };
    const sourceKey = batchSourceKey(clientId, batchId);
    await runtime.storage.put(runtime.config.buckets.assets, sourceKey, JSON.stringify(source), 'application/json');
    const { batch, created } = await internal().json<{ batch: InternalBatch; created: boolean }>('order', {
      method: 'POST',
      path: '/batches',
      body: { batchId, clientId, themeId: theme.id, sourceKey, idempotencyKey },
      headers: headersOf(ctx),
    });
    ctx.status = created ? 202 : 200;
    ctx.body = { batch: { ...publicBatch(batch), submittedRows: rows.length } };
  });

  router.get('/b2b/batches/:id', async (ctx) => {
    const id = uuidParam(ctx, 'id');
    parseQuery(NoQuery, ctx);
    const { batch } = await internal().json<{ batch: InternalBatch }>('order', {
      method: 'GET',
      path: `/batches/${id}`,
      query: { clientId: clientOf(ctx).id },
      headers: headersOf(ctx),
    });
    const manifest = batch.manifestKey
      ? {
          url: await runtime.storage.presignGet(runtime.config.buckets.assets, batch.manifestKey, MANIFEST_LINK_SECONDS, 'manifest.json'),
          expiresInSeconds: MANIFEST_LINK_SECONDS,
        }
      : undefined;
    ctx.body = { batch: { ...publicBatch(batch), ...(manifest ? { manifest } : {}) } };
  });

  router.get('/b2b/orders/:id', async (ctx) => {
    const id = uuidParam(ctx, 'id');
    parseQuery(NoQuery, ctx);
    const { order } = await internal().json<{ order: InternalOrder }>('order', {
      method: 'GET',
      path: `/orders/${id}`,
      query: { clientId: clientOf(ctx).id },
      headers: headersOf(ctx),
    });
    ctx.body = { order: await withDocumentLink(runtime, order) };
  });

  return createServiceApp('gateway-b2b', runtime.logger, router);
}

const publicBatch = (b: InternalBatch) => ({
  id: b.id,
  status: b.status,
  totalRows: b.totalRows,
  succeeded: b.succeeded,
  failed: b.failed,
  error: b.error,
  createdAt: b.createdAt,
  updatedAt: b.updatedAt,
});
