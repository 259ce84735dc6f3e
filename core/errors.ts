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

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields?: FieldIssue[],
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'AppError';
  }

  /** The Retry-After (seconds) this error is answered with: its own, else RETRY_AFTER_SECONDS for any 503. */
  get retryAfter(): number | undefined {
    return this.retryAfterSeconds ?? (this.status === 503 ? RETRY_AFTER_SECONDS : undefined);
  }

  toJSON(): { error: { code: string; message: string; fields?: FieldIssue[] } } {
    return { error: { code: this.code, message: this.message, ...(this.fields ? { fields: this.fields } : {}) } };
  }
}

export const badRequest = (fields: FieldIssue[], message?: string): AppError =>
  new AppError(400, 'invalid_request', message ?? `invalid ${fields.map((f) => f.field).join(', ')}`, fields);
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
export const serviceUnavailable = (message: string, retryAfterSeconds = RETRY_AFTER_SECONDS): AppError =>
  new AppError(503, 'service_unavailable', message, undefined, retryAfterSeconds);

/** A configuration value is missing or malformed: the message names the variable. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
