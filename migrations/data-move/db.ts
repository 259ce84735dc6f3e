import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Client, type ClientConfig } from 'pg';
import { UsageError } from '../../core/cli';
import { describeConnectError } from './errors';

export type Side = 'source' | 'target';

/** Session settings that make row text identical on both sides (checksums hash the text form). */
const CANONICAL_SETTINGS = [
  "SET TimeZone = 'UTC'",
  "SET DateStyle = 'ISO, YMD'",
  "SET IntervalStyle = 'postgres'",
  'SET extra_float_digits = 3',
  // money's text is in lc_monetary's format ('1.234,56 €' under de_DE): read back under another
  // setting, an amount is refused or misread, and its digest differs on two equal sides. C is in
  // every server.
  "SET lc_monetary = 'C'",
  "SET bytea_output = 'hex'",
  'SET statement_timeout = 0',
  'SET idle_in_transaction_session_timeout = 0',
  'SET lock_timeout = 0',
];

/** host:port/database of a URL, for messages and state: never the password. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return '(unparsable URL)';
  }
}

/**
 * node-pg config with libpq's sslmode meaning, so one URL means the same to this process and to
 * pg_dump (and to the subscription): node-pg alone would verify the certificate for `require`,
 * which libpq does not, and knows no `verify-ca`. PGSSLMODE/PGSSLROOTCERT apply when the URL is silent.
 */
export function clientConfig(url: string): ClientConfig {
  const u = new URL(url);
  const mode = u.searchParams.get('sslmode') ?? process.env.PGSSLMODE;
  const rootCert = u.searchParams.get('sslrootcert') ?? process.env.PGSSLROOTCERT;
  for (const param of ['sslmode', 'sslrootcert']) u.searchParams.delete(param);
  const ca = rootCert && rootCert !== 'system' ? readFileSync(rootCert, 'utf8') : undefined;
  const tls: Record<string, ConnectionOptions | false | undefined> = {
    disable: false,
    require: { rejectUnauthorized: false },
    'verify-ca': { rejectUnauthorized: true, ca, checkServerIdentity: () => undefined },
    'verify-full': { rejectUnauthorized: true, ca },
  };
  return { connectionString: u.toString(), ssl: mode && mode in tls ? tls[mode] : undefined };
}

export interface OpenOptions {
  /** Source sessions are read-only unless they must manage the publication or cutover. */
  readOnly?: boolean;
  applicationName?: string;
  /** The option a failed connection is reported under (default `--<side>`). */
  option?: string;
}

export async function open(url: string, side: Side, options: OpenOptions = {}): Promise<Client> {
  const client = new Client({
    ...clientConfig(url),
    connectionTimeoutMillis: 10_000,
    application_name: options.applicationName ?? 'data-move',
  });
  // A server-side error after connect (e.g. admin shutdown) must not crash the process as "unhandled".
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw new UsageError(options.option ?? `--${side}`, describeConnectError(side, describeUrl(url), err));
  }
  const settings = [...CANONICAL_SETTINGS];
  if (side === 'source') {
    settings.push(`SET default_transaction_read_only = ${options.readOnly === false ? 'off' : 'on'}`);
    // As pg_dump does: a table whose row-level security would hide rows from this user is an
    // error to read, never its visible rows only (copied and digested alike, they verified OK).
    settings.push('SET row_security = off');
  }
  await client.query(settings.join('; '));
  return client;
}

/**
 * Ends a session whose protocol state is unknown (a COPY that failed midway on either side) at
 * once: its socket is closed, so the server rolls its transaction back, where a ROLLBACK sent on it
 * could wait for ever behind the half-done COPY.
 */
export async function closeNow(client: Client): Promise<void> {
  const ended = client.end().catch(() => undefined);
  (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
  await ended;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * A table's (or sequence's) identity in state, maps, logs and reports: the schema and the name,
 * each as written in SQL, quoted when it is not a plain lower-case identifier. Joined bare with a
 * dot, schema \`a\` table \`b.c\` and schema \`a.b\` table \`c\` were both \`a.b.c\`: one mark in
 * the state, one digest, one index part for two tables. A plain identifier holds no dot and no
 * quote, and a quoted one ends at its only unpaired quote, so the pair reads back one way only.
 */
export function qualifiedName(schema: string, name: string): string {
  const part = (id: string) => (/^[a-z_][a-z0-9_$]*$/.test(id) ? id : quoteIdent(id));
  return `${part(schema)}.${part(name)}`;
}

export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** Runs `fn` with each item on at most `limit` items at once; the first failure rejects. */
export async function forEachLimit<T>(items: T[], limit: number, fn: (item: T, worker: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async (_, worker) => {
    while (!failed && next < items.length) {
      const item = items[next++];
      try {
        await fn(item, worker);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  });
  const results = await Promise.allSettled(workers);
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected) throw rejected.reason;
}
