import * as z from '../../core/zod';
import { badRequest, FieldIssue, payloadTooLarge, unsupportedMediaType } from '../../core/errors';
import type { ServiceContext } from './http';
import { assertJsonDepth } from './json-depth';

/**
 * Input handling shared by every route: bodies are read with a size limit (413), parsed
 * strictly (400 naming `body`), and validated with zod into a 400 that names each bad field.
 */
export const DEFAULT_BODY_LIMIT = 256 * 1024;

export function issuesOf(error: z.core.$ZodError, prefix?: string): FieldIssue[] {
  return error.issues.map((i) => {
    const path = i.path.reduce<string>(
      (acc, part) => (typeof part === 'number' ? `${acc}[${part}]` : acc ? `${acc}.${String(part)}` : String(part)),
      '',
    );
    const field = [prefix, path].filter(Boolean).join('.') || prefix || 'body';
    return { field, message: i.message };
  });
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

export async function readRawBody(ctx: ServiceContext, limit = DEFAULT_BODY_LIMIT): Promise<Buffer> {
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
  // Before any parser sees it: what follows JSON.parse recurses (see json-depth.ts).
  if (isJson(ctx)) assertJsonDepth(body);
  return body;
}

export const isJson = (ctx: ServiceContext): boolean => /^application\/([a-z.+-]*\+)?json\b/i.test(ctx.get('content-type'));

export function parseJsonText(raw: Buffer): unknown {
  if (raw.length === 0) throw badRequest([{ field: 'body', message: 'a JSON body is required' }]);
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw badRequest([{ field: 'body', message: 'body is not valid JSON' }]);
  }
}

/** Reads and validates a JSON body. */
export async function readJson<S extends z.ZodMiniType>(ctx: ServiceContext, schema: S, limit = DEFAULT_BODY_LIMIT): Promise<z.infer<S>> {
  if (!isJson(ctx)) throw unsupportedMediaType(['application/json']);
  return parseWith(schema, parseJsonText(await readRawBody(ctx, limit)), 'body');
}

/** A query string that must be empty. */
export const NoQuery = z.strictObject({});

const Uuid = z.uuid('must be a UUID');

export const uuidParam = (ctx: ServiceContext, name: string): string => parseWith(Uuid, ctx.params[name], `path.${name}`);
