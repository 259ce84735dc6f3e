import { isUtf8 } from 'node:buffer';
import * as z from '../../core/zod';
import { AppError, badRequest, FieldIssue, payloadTooLarge, unsupportedMediaType } from '../../core/errors';
import type { ServiceContext } from './http';
import { assertJsonDepth } from '../../core/json-depth';

/**
 * Input handling shared by every route: bodies are checked for their content type (415), read
 * with a size limit (413), parsed strictly (400 naming `body`), and validated with zod into a
 * 400 that names each bad field; query strings and path parameters are validated the same way.
 */
export const DEFAULT_BODY_LIMIT = 256 * 1024;

const fieldOf = (prefix: string | undefined, parts: readonly PropertyKey[]): string => {
  const path = parts.reduce<string>((acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part)), '');
  return [prefix, path].filter(Boolean).join('.') || prefix || 'body';
};

/**
 * zod's issues as fields. Unknown keys, which zod reports once at their object, are one issue
 * each at the key itself (`query.colour`), so the 400 names the parameter to drop.
 */
export function issuesOf(error: z.core.$ZodError, prefix?: string): FieldIssue[] {
  return error.issues.flatMap((i) =>
    i.code === 'unrecognized_keys'
      ? i.keys.map((key) => ({ field: fieldOf(prefix, [...i.path, key]), message: prefix === 'query' && i.path.length === 0 ? 'unknown parameter' : 'unknown member' }))
      : [{ field: fieldOf(prefix, i.path), message: i.message }],
  );
}

export function parseWith<S extends z.ZodMiniType>(schema: S, value: unknown, prefix?: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw badRequest(issuesOf(parsed.error, prefix));
  return parsed.data;
}

/** Query strings: a repeated parameter is a client error, not silently the first value. */
export function parseQuery<S extends z.ZodMiniType>(schema: S, ctx: ServiceContext): z.infer<S> {
  const repeated = Object.entries(ctx.query).filter(([, v]) => Array.isArray(v));
  if (repeated.length > 0) throw badRequest(repeated.map(([k]) => ({ field: `query.${k}`, message: 'must be given once' })));
  return parseWith(schema, { ...ctx.query }, 'query');
}

/**
 * The media types a body is read as, each matched at the start of the content-type header
 * (parameters such as `charset` allowed). JSON is `application/json` for every route; the
 * depth guard of readRawBody uses the same test.
 */
const MEDIA_TYPES = {
  json: { name: 'application/json', pattern: /^application\/json\b/i },
  csv: { name: 'text/csv', pattern: /^text\/csv\b/i },
} as const;
export type MediaType = keyof typeof MEDIA_TYPES;

const mediaTypeOf = (ctx: ServiceContext): MediaType | undefined =>
  (Object.keys(MEDIA_TYPES) as MediaType[]).find((type) => MEDIA_TYPES[type].pattern.test(ctx.get('content-type')));

/**
 * The body's media type, one of `accepted`; otherwise a 415 that lists them (or says `message`,
 * for a route whose answer words it otherwise).
 */
export function acceptedMediaType<T extends MediaType>(ctx: ServiceContext, accepted: readonly T[], message?: string): T {
  const type = mediaTypeOf(ctx);
  if (type !== undefined && (accepted as readonly MediaType[]).includes(type)) return type as T;
  throw message ? new AppError(415, 'unsupported_media_type', message) : unsupportedMediaType(accepted.map((t) => MEDIA_TYPES[t].name));
}

/**
 * The body's bytes, uncompressed (a Content-Encoding other than identity is a 415), at most
 * `limit` (413 past it, before reading when content-length says so).
 * Every body the services take is text, so bytes that are not UTF-8 are a 400 naming `body`:
 * decoded, they would become U+FFFD and be stored as something the client never sent.
 * A JSON body is checked for depth here, before any parser sees it: what follows JSON.parse
 * recurses (see core/json-depth.ts).
 */
export async function readRawBody(ctx: ServiceContext, limit = DEFAULT_BODY_LIMIT): Promise<Buffer> {
  // Nothing in front of the functions decompresses a request (neither API Gateway, which has no
  // content encoding set, nor Koa): a compressed body would be read as its compressed bytes.
  const encoding = ctx.get('content-encoding').trim().toLowerCase();
  if (encoding && encoding !== 'identity') {
    throw new AppError(415, 'unsupported_media_type', `content-encoding ${encoding.slice(0, 40)} is not supported: send the body uncompressed`);
  }
  const declared = Number(ctx.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) throw payloadTooLarge(limit);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.length;
    if (size > limit) throw payloadTooLarge(limit);
    chunks.push(buf);
  }
  const body = Buffer.concat(chunks);
  if (!isUtf8(body)) throw badRequest([{ field: 'body', message: 'body is not valid UTF-8' }]);
  if (mediaTypeOf(ctx) === 'json') assertJsonDepth(body);
  return body;
}

/**
 * JSON text into a value: 400 naming `body` when it is empty or not JSON; then, with a schema,
 * the value it validates into (400 naming each bad field under `prefix`).
 */
export function parseJsonBody<S extends z.ZodMiniType = z.ZodMiniType<unknown>>(raw: Buffer, schema?: S, prefix = 'body'): z.infer<S> {
  if (raw.length === 0) throw badRequest([{ field: 'body', message: 'a JSON body is required' }]);
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    throw badRequest([{ field: 'body', message: 'body is not valid JSON' }]);
  }
  return schema ? parseWith(schema, value, prefix) : (value as z.infer<S>);
}

export interface JsonBodyOptions<S extends z.ZodMiniType> {
  /** Bytes the body may have (413 past it); DEFAULT_BODY_LIMIT when not given. */
  limit?: number;
  /** Validates the value; without it the value is returned as parsed. */
  schema?: S;
  /** Where the schema's field names start: `body` when not given. */
  prefix?: string;
  /** The 415's message, for a route that words it otherwise than "content-type must be one of: application/json". */
  unsupportedMessage?: string;
  /**
   * The value of a request that sends no body at all (no content type, no bytes), for a route
   * whose every member is optional: `curl -X POST` means "the defaults", not a 415.
   */
  whenAbsent?: unknown;
}

/** No body sent: no content type, and no bytes declared or streamed. */
const sentNoBody = (ctx: ServiceContext): boolean => !ctx.get('content-type') && !ctx.get('transfer-encoding') && !(Number(ctx.get('content-length')) > 0);

/**
 * The one JSON body reader of every route: content type (415), size (413), nesting depth (400
 * naming the member, see core/json-depth.ts), JSON syntax (400 naming `body`), then the schema.
 * A route that must act on the raw bytes before parsing them (gateway-b2b's batches) calls the
 * same steps itself: acceptedMediaType, readRawBody, parseJsonBody.
 */
export async function readJsonBody<S extends z.ZodMiniType = z.ZodMiniType<unknown>>(ctx: ServiceContext, options: JsonBodyOptions<S> = {}): Promise<z.infer<S>> {
  if (options.whenAbsent !== undefined && sentNoBody(ctx)) {
    return options.schema ? parseWith(options.schema, options.whenAbsent, options.prefix ?? 'body') : (options.whenAbsent as z.infer<S>);
  }
  acceptedMediaType(ctx, ['json'], options.unsupportedMessage);
  return parseJsonBody(await readRawBody(ctx, options.limit), options.schema, options.prefix);
}

/** A query string that must be empty. */
export const NoQuery = z.strictObject({});

/** A path parameter that names a row: a UUID (400 naming `path.<name>` otherwise). */
export const Uuid = z.uuid('must be a UUID');

export const uuidParam = (ctx: ServiceContext, name: string): string => parseWith(Uuid, ctx.params[name], `path.${name}`);
