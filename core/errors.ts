/**
 * The one error type of the services: every failure a client may see is an AppError, and the
 * HTTP layer maps it to a status and a JSON body. Anything else is logged and answered as a 500
 * without details, so no stack trace or internal message ever leaves a service.
 */
export interface FieldIssue {
  field: string;
  message: string;
}

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields?: FieldIssue[],
  ) {
    super(message);
    this.name = 'AppError';
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
export const tooManyRequests = (message: string): AppError => new AppError(429, 'rate_limited', message);
export const badGateway = (message: string): AppError => new AppError(502, 'upstream_error', message);
export const serviceUnavailable = (message: string): AppError => new AppError(503, 'service_unavailable', message);

/** A configuration value is missing or malformed: the message names the variable. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
