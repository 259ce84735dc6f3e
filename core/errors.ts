/**
 * The one error type of the services: every failure a client may see is an AppError, and the
 * HTTP layer maps it to a status and a JSON body (and a Retry-After header when it has one: every
 * 503 does). Anything else is logged and answered as a 500 without details, so no stack trace or
 * internal message ever leaves a service.
 */
export interface FieldIssue {
  field: string;
  message: string;
}

/**
 * Seconds a 503 tells its client to wait (Retry-After) when a dependency is unavailable: about as
 * long as the platform itself takes to find one again — a request gives up on the database after
 * its 3 s connect / 4 s pool wait, a dropped Redis is reconnected at most 2 s apart, an internal
 * call's connect is bounded at 3 s — so a retry after 5 s meets a dependency that came back,
 * without the client hammering one that did not. (A Lambda start-up that failed says 1 s:
 * functions/shared/lambda.ts.)
 */
export const RETRY_AFTER_SECONDS = 5;

/**
 * The longest Retry-After any answer says, whatever a dependency asked for (Gemini's RetryInfo
 * of a daily quota can name a day): waits that long are not trusted, since the quota may be
 * raised or the refusal end sooner, and a caller told an hour asks again at most once an hour.
 */
export const MAX_RETRY_AFTER_SECONDS = 3600;

/**
 * An error answer names at most this many issues, each field name and message cut at
 * MAX_ISSUE_TEXT characters: both may echo the client's input (a member's name), and a 64 KiB
 * body could otherwise make thousands of issues, an answer of about a megabyte. 50 issues of
 * that length stay under 16 KiB; the client fixes those and sends again.
 */
export const MAX_FIELD_ISSUES = 50;
export const MAX_ISSUE_TEXT = 120;
/** The fields a 400's message lists; all of them are in `fields`. */
const MESSAGE_FIELDS = 10;

function clip(text: string): string {
  if (text.length <= MAX_ISSUE_TEXT) return text;
  // Not between the halves of a surrogate pair: the answer stays valid Unicode.
  const end = /[\ud800-\udbff]/.test(text[MAX_ISSUE_TEXT - 2]) ? MAX_ISSUE_TEXT - 2 : MAX_ISSUE_TEXT - 1;
  return `${text.slice(0, end)}…`;
}

const capIssues = (fields: FieldIssue[]): FieldIssue[] =>
  fields.slice(0, MAX_FIELD_ISSUES).map((f) => ({ field: clip(f.field), message: clip(f.message) }));

export class AppError extends Error {
  readonly fields?: FieldIssue[];

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    fields?: FieldIssue[],
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'AppError';
    if (fields) this.fields = capIssues(fields);
  }

  /** The Retry-After (seconds) this error is answered with: its own (at most MAX_RETRY_AFTER_SECONDS), else RETRY_AFTER_SECONDS for any 503. */
  get retryAfter(): number | undefined {
    if (this.retryAfterSeconds !== undefined) return Math.min(this.retryAfterSeconds, MAX_RETRY_AFTER_SECONDS);
    return this.status === 503 ? RETRY_AFTER_SECONDS : undefined;
  }

  toJSON(): { error: { code: string; message: string; fields?: FieldIssue[] } } {
    return { error: { code: this.code, message: this.message, ...(this.fields ? { fields: this.fields } : {}) } };
  }
}

export function badRequest(fields: FieldIssue[], message?: string): AppError {
  const listed = fields.slice(0, MESSAGE_FIELDS).map((f) => clip(f.field)).join(', ');
  const more = fields.length > MESSAGE_FIELDS ? ` and ${fields.length - MESSAGE_FIELDS} more` : '';
  return new AppError(400, 'invalid_request', message ?? `invalid ${listed}${more}`, fields);
}
export const unauthorized = (message = 'missing or invalid API key'): AppError => new AppError(401, 'unauthorized', message);
export const forbidden = (message = 'this resource belongs to another client'): AppError => new AppError(403, 'forbidden', message);
export const notFound = (message = 'not found'): AppError => new AppError(404, 'not_found', message);
export const methodNotAllowed = (allowed: string[]): AppError =>
  new AppError(405, 'method_not_allowed', `method not allowed; allowed: ${allowed.join(', ')}`);
export const conflict = (message: string, fields?: FieldIssue[]): AppError => new AppError(409, 'conflict', message, fields);
export const payloadTooLarge = (limitBytes: number): AppError =>
  new AppError(413, 'payload_too_large', `request body exceeds ${limitBytes} bytes`);
export const unsupportedMediaType = (accepted: string[]): AppError =>
  new AppError(415, 'unsupported_media_type', `content-type must be one of: ${accepted.join(', ')}`);
export const tooManyRequests = (message: string, retryAfterSeconds?: number): AppError =>
  new AppError(429, 'rate_limited', message, undefined, retryAfterSeconds);
export const badGateway = (message: string): AppError => new AppError(502, 'upstream_error', message);
/** A dependency refuses this request for what it is (not for the moment): sent again unchanged, it is refused again. */
export const upstreamRefused = (code: string, message: string, fields?: FieldIssue[]): AppError => new AppError(422, code, message, fields);
export const serviceUnavailable = (message: string, retryAfterSeconds = RETRY_AFTER_SECONDS): AppError =>
  new AppError(503, 'service_unavailable', message, undefined, retryAfterSeconds);

/** A configuration value is missing or malformed: the message names the variable. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
