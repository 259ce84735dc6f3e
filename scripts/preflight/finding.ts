/**
 * One line of the preflight report: a check, what it found, and the fix when something is wrong.
 * `error`: the deploy (or the bootstrap) would fail, or the platform would not run; `warning`:
 * it would deploy, but something is off (exit 0 still); `skipped`: not run (no credentials).
 */
export type Status = 'ok' | 'warning' | 'error' | 'skipped';

export interface Finding {
  /** Short name of the check, e.g. `lambda-concurrency`, `secret docplatform-dev-gemini-api-key`. */
  check: string;
  status: Status;
  /** What was found, with the numbers it was judged on. */
  message: string;
  /** What to do about it (a command where there is one); set on every warning and error. */
  fix?: string;
}

export const ok = (check: string, message: string): Finding => ({ check, status: 'ok', message });
export const warning = (check: string, message: string, fix: string): Finding => ({ check, status: 'warning', message, fix });
export const error = (check: string, message: string, fix: string): Finding => ({ check, status: 'error', message, fix });

/** The name and message of an SDK error, e.g. `AccessDeniedException: User … is not authorized`. */
export function describeError(e: unknown): string {
  const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const name = err?.name && err.name !== 'Error' ? err.name : undefined;
  const message = err?.message && err.message !== 'UnknownError' ? err.message : undefined;
  const status = err?.$metadata?.httpStatusCode ? `HTTP ${err.$metadata.httpStatusCode}` : undefined;
  return [name, message ?? status].filter(Boolean).join(': ') || String(e);
}

/** The HTTP status of an SDK error, if it came from an answer. */
export const httpStatus = (e: unknown): number | undefined => (e as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
