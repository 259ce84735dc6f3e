import * as z from './zod';
import { badRequest, FieldIssue, payloadTooLarge, unsupportedMediaType } from './errors';
import type { ServiceContext } from './http';
import { assertJsonDepth } from './json-depth';

/**
 * Input handling shared by every route: bodies are read with a size limit (413), parsed
 * strictly (400 naming `body`), and validated with zod into a 400 that names each bad field.
 */
export const DEFAULT_BODY_LIMIT = 256 * 1024;

/**
 * What a text value may hold. C0 control characters other than tab, line feed and carriage
 * return are refused: PostgreSQL rejects U+0000 in `text` and `jsonb` (so a NUL that got past
 * validation failed every insert, retried or not), and XML 1.0 — the DOCX documents — forbids
 * every one of them. Unpaired UTF-16 surrogates are refused too: `jsonb` rejects them and `text`
 * would silently store U+FFFD. DEL and C1 controls (U+007F–U+009F) are stored as given.
 */
const CONTROL_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why a string is not acceptable text (positions are 1-based UTF-16 characters), or undefined. */
export function textIssue(value: string): string | undefined {
  const control = CONTROL_CHAR.exec(value);
  if (control) {
    const code = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
    return `must not contain control characters (U+${code} at character ${control.index + 1})`;
  }
  const lone = LONE_SURROGATE.exec(value);
  if (lone) return `must be valid Unicode (unpaired surrogate at character ${lone.index + 1})`;
  return undefined;
}

/** A string check for free-text fields. */
export const plainText = z.superRefine<string>((value, ctx) => {
  const message = textIssue(value);
  if (message) ctx.addIssue({ code: 'custom', message, input: value });
});

/**
 * Every string in a JSON value, object keys included, as text: one issue per bad string, at its
 * path, in document order. Iterative, so no nesting depth a body can reach overflows the stack.
 */
export const plainTextDeep = z.superRefine<unknown>((value, ctx) => {
  // Each entry is a value to walk, or (`key`) an object key to check.
  const pending: Array<{ v: unknown; path: PropertyKey[]; key?: true }> = [{ v: value, path: [] }];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const { v, path } = next;
    if (typeof v === 'string') {
      const message = textIssue(v);
      if (message) ctx.addIssue({ code: 'custom', message: next.key ? `key ${message}` : message, path, input: v });
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) pending.push({ v: v[i], path: [...path, i] });
    } else if (typeof v === 'object' && v !== null) {
      const entries = Object.entries(v);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, item] = entries[i];
        pending.push({ v: item, path: [...path, k] }, { v: k, path: [...path, k], key: true });
      }
    }
  }
});

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
