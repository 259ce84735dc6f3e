import { AppError, payloadTooLarge, serviceUnavailable } from './errors';

/**
 * Maps any thrown value to the AppError the client sees. Infrastructure outages (PostgreSQL,
 * Redis, the queue or bucket unreachable) become 503 with a message naming the dependency;
 * unknown errors become a bare 500.
 */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN', 'EPIPE']);
// PostgreSQL classes 08 (connection), 53 (insufficient resources), 57P (shutdown/admin) and too many
// clients; 25006, a write to a database made read-only for a while (the cutover of a data move,
// docs/data-migration.md): the client retries once it is over.
const PG_UNAVAILABLE = /^(08|53|57P|25006$)/;
/**
 * A statement PostgreSQL ended for the moment, not for what it asks: a serialization failure or a
 * deadlock (40001, 40P01), a lock not granted in time (55P03), a statement cancelled (57014: its
 * timeout, or ops' pg_cancel_backend). The same request sent again goes through.
 */
const PG_BUSY = /^(40001|40P01|55P03|57014)$/;
/**
 * node-pg's words for a session the server ended mid-statement (pg_terminate_backend, a restart, a
 * failover), which carry no code; knex puts the statement before them (`<sql> - Connection terminated…`).
 */
const PG_TERMINATED = /(?:^| - )Connection terminated\b/;

/** An AWS SDK call ended by the AbortSignal it was given (an abort, or AbortSignal.timeout's TimeoutError). */
export const endedBySignal = (err: unknown): boolean => err instanceof Error && (err.name === 'AbortError' || err.name === 'TimeoutError');

export class DependencyUnavailableError extends Error {
  /**
   * `answer`: what a client is told, when `message` (logged) holds words for the operator only.
   * `retryAfterSeconds`: the dependency's own Retry-After (another service's 503), else RETRY_AFTER_SECONDS.
   */
  constructor(
    readonly dependency: 'database' | 'cache' | 'queue' | 'storage' | 'service',
    message: string,
    readonly answer = message,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'DependencyUnavailableError';
  }
}

interface ErrorLike {
  name?: string;
  code?: string;
  status?: number;
  statusCode?: number;
  message?: string;
  expose?: boolean;
  /** AWS SDK v3 service errors: `server` for the service's own 5xx; `$retryable` set for throttling. */
  $fault?: string;
  $retryable?: unknown;
}

export function classifyError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const e = (err ?? {}) as ErrorLike;
  if (err instanceof DependencyUnavailableError) return serviceUnavailable(err.answer, err.retryAfterSeconds);
  if (e.name === 'KnexTimeoutError' || (typeof e.code === 'string' && PG_UNAVAILABLE.test(e.code))) {
    return serviceUnavailable('database unavailable, please retry shortly');
  }
  if (typeof e.code === 'string' && PG_BUSY.test(e.code)) return serviceUnavailable('database busy, please retry shortly');
  if (PG_TERMINATED.test(e.message ?? '')) return serviceUnavailable('database unavailable, please retry shortly');
  if (e.name === 'MaxRetriesPerRequestError' || /Connection is closed|Stream isn't writeable/.test(e.message ?? '')) {
    return serviceUnavailable('cache unavailable, please retry shortly');
  }
  // An AWS service (S3, SQS) still failing or throttling after the SDK's own retries is an outage too.
  if ((typeof e.code === 'string' && NETWORK_CODES.has(e.code)) || e.$fault === 'server' || e.$retryable) {
    return serviceUnavailable('a backing service is unavailable, please retry shortly');
  }
  const status = e.status ?? e.statusCode;
  if (status === 413) return payloadTooLarge(0);
  return new AppError(500, 'internal_error', 'internal error');
}
