import { createLogger, stderrSink } from '../../core/logger';

/**
 * Structured progress log in the platform's one line format (core/logger.ts), on stderr so
 * stdout carries only the report: `{"time":…,"level":"info","msg":"table_copied","table":…}`.
 * `msg` is the event name; the fields say what happened.
 */
export const logger = createLogger({}, 'info', stderrSink);

export function log(event: string, fields: Record<string, unknown> = {}, level: 'info' | 'warn' | 'error' = 'info'): void {
  logger[level](event, fields);
}
