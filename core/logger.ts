/**
 * Structured JSON logs, one line per event: `{time, level, msg, ...base, ...fields}`. The one
 * line format of every service, worker and CLI. Services and workers write to stdout
 * (CloudWatch in AWS); a CLI whose stdout carries its report logs to `stderrSink`. A child
 * logger carries the request id and service so every line of a request can be found together.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Whether a line of `level` passes a `threshold` (a sink that shows fewer lines than it keeps). */
export const atLeast = (level: LogLevel, threshold: LogLevel): boolean => RANK[level] >= RANK[threshold];

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export type LogSink = (line: string) => void;

/** One line on stdout: services, workers, and CLIs whose output is their log. */
export const stdoutSink: LogSink = (line) => void process.stdout.write(line + '\n');
/** One line on stderr: CLIs whose stdout carries a report or other data. */
export const stderrSink: LogSink = (line) => void process.stderr.write(line + '\n');

function serialise(value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}

export function createLogger(base: Record<string, unknown> = {}, level: LogLevel = 'info', sink: LogSink = stdoutSink): Logger {
  const threshold = RANK[level];
  const write = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (RANK[lvl] < threshold) return;
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level: lvl, msg, ...base };
    if (fields) for (const [k, v] of Object.entries(fields)) entry[k] = serialise(v);
    sink(JSON.stringify(entry));
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger({ ...base, ...fields }, level, sink),
  };
}
