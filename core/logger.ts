import { types } from 'node:util';
import { SECRET_NAME_ENDINGS } from './contract';

/**
 * Structured JSON logs, one line per event: `{time, level, msg, ...base, ...fields}`. The one
 * line format of every service, worker and CLI. Services and workers write to stdout
 * (CloudWatch in AWS); a CLI whose stdout carries its report logs to `stderrSink`. A child
 * logger carries the request id and service so every line of a request can be found together.
 * Every line goes through `redact` first: log groups are read by more people than may hold the
 * platform's secrets, and a line cannot be taken back once CloudWatch has it.
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

export const REDACTED = '[redacted]';

/** The one rule of what is secret by its name: a field, a query parameter, a key of JSON text (SECRET_NAME_ENDINGS). */
export function isSecretName(name: string): boolean {
  let plain = name;
  try {
    plain = decodeURIComponent(name);
  } catch {
    // A name that is not valid percent-encoding is judged as written.
  }
  const n = plain.toLowerCase().replace(/[-_]/g, '');
  return SECRET_NAME_ENDINGS.some((ending) => n.endsWith(ending));
}

/**
 * What gives a secret away inside free text (an error message, a stack, a URL in a field): the
 * dependencies' messages are not ours to word, so the text is cleaned rather than trusted.
 */
const TEXT_RULES: ReadonlyArray<[RegExp, (match: string, ...groups: string[]) => string]> = [
  // A URL's password: postgres://user:pw@host, rediss://:pw@host (an unencoded @ in it included).
  [/\b([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@"'<>]*:)[^\s/?#"'<>]*@/gi, (_m, head) => `${head}${REDACTED}@`],
  // A query parameter named like a secret: ?token= of a B2C order, a presigned link's X-Amz-*.
  [/([?&;])([^=&#\s"'<>?;]+)=([^&#;\s"'<>]*)/g, (m, sep, name) => (isSecretName(name) ? `${sep}${name}=${REDACTED}` : m)],
  // A key of JSON text named like a secret: an SQS body, an upstream's error body quoted in a message.
  [/("([^"\\]{1,100})"\s*:\s*)"(?:[^"\\]|\\.)*"/g, (m, head, name) => (isSecretName(name) ? `${head}"${REDACTED}"` : m)],
  // An Authorization header's credentials (16 characters at least: 'Basic authentication' is prose).
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{16,}/gi, (_m, scheme) => `${scheme} ${REDACTED}`],
  // Secrets recognisable by their form: Stripe secret and restricted keys, webhook signing secrets and signatures, Google API keys.
  [/\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9_]+|\bwhsec_[A-Za-z0-9+/=_]+|\bAIza[0-9A-Za-z_-]{35}/g, () => REDACTED],
  [/\b(v[01])=[0-9a-f]{64}\b/g, (_m, scheme) => `${scheme}=${REDACTED}`],
  // B2B API keys (dpk_<prefix>_<secret>, core/domain/api-keys.ts): the prefix, which only finds the
  // key's row, stays for the operator; anything else after dpk_ goes, a key cut short included.
  [/\bdpk_(?:([a-f0-9]{12})_)?[A-Za-z0-9_-]+/g, (_m, prefix) => (prefix ? `dpk_${prefix}_${REDACTED}` : REDACTED)],
  // JSON.parse quotes the text it refused: a secret put as plain text instead of JSON would be printed.
  [/Unexpected token '[\s\S]{1,2}?', (?:\.\.\.)?"[\s\S]*?"(?:\.\.\.)?(?= is not valid JSON)/g, () => `Unexpected token in "${REDACTED}"`],
];

/** Text with the secrets TEXT_RULES find replaced: for what a tool prints outside its log lines (a banner naming a URL). */
export function redactText(text: string): string {
  let out = text;
  for (const [pattern, replace] of TEXT_RULES) out = out.replace(pattern, replace as (substring: string, ...args: any[]) => string);
  return out;
}

/**
 * A log field's value with every secret replaced by REDACTED: the value of a field named like a
 * secret (numbers and booleans kept: counts and flags), and the secrets found in any text.
 * An Error becomes its name, message and stack, cleaned alike.
 */
export function redact(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 8) return REDACTED;
  // isNativeError too: an error made in another realm (a vm context, jest's) is no instanceof Error.
  if (value instanceof Error || types.isNativeError(value)) return { name: value.name, message: redactText(value.message), stack: value.stack === undefined ? undefined : redactText(value.stack) };
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  // What JSON.stringify would write for it (a Date's string, a Buffer's bytes) is what gets cleaned.
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return redact(toJSON.call(value), depth + 1);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactField(k, v, depth + 1);
  return out;
}

function redactField(name: string, value: unknown, depth: number): unknown {
  if (isSecretName(name) && value !== null && value !== undefined && typeof value !== 'number' && typeof value !== 'boolean') return REDACTED;
  return redact(value, depth);
}

export function createLogger(base: Record<string, unknown> = {}, level: LogLevel = 'info', sink: LogSink = stdoutSink): Logger {
  const threshold = RANK[level];
  // The base fields (service, env, request id) are the same on every line: cleaned once, here.
  const cleanBase = Object.fromEntries(Object.entries(base).map(([k, v]) => [k, redactField(k, v, 0)]));
  const write = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (RANK[lvl] < threshold) return;
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level: lvl, msg: redactText(msg), ...cleanBase };
    if (fields) for (const [k, v] of Object.entries(fields)) entry[k] = redactField(k, v, 0);
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

/**
 * The logger of the database and Redis clients' own lines in a process that gave them none (a
 * worker, a CLI): the one line format on stderr, which a CLI's report on stdout does not carry
 * and which CloudWatch takes from Lambda and ECS as it takes stdout.
 */
export const driverLogger = (): Logger => createLogger({}, 'info', stderrSink);
