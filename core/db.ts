import knexFactory, { Knex } from 'knex';
// The dialect class itself rather than `client: 'pg'`: knex resolves dialect names with a
// dynamic require that a bundle cannot follow.
import PgClient from 'knex/lib/dialects/postgres';
import { requireDatabase, settingMissing, type AppConfig } from './config';
import { DependencyUnavailableError } from './failures';
import { driverLogger, type Logger } from './logger';
import { requestDeadline } from './request-deadline';

/** Pauses between connection attempts: short first (a blip), then at most every 2 s. */
const FIRST_PAUSE_MS = 250;
const LONGEST_PAUSE_MS = 2000;
/** Failures no retry mends: a refused login (28) or a database that does not exist (3D). */
const NOT_RETRIED = /^(28|3D)/;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How a session differs from the services' (the schema migrations: no statement timeout, a lock timeout). */
export interface DbOptions {
  /** Longest statement, ms; 0 for none. Default 10 s. */
  statementTimeoutMs?: number;
  /** Longest wait for a lock, ms; default none. */
  lockTimeoutMs?: number;
  /** `application_name` of the sessions (pg_stat_activity); default `docplatform`. */
  applicationName?: string;
  /** TLS to an RDS endpoint (host settings), verified; default true. A URL carries its own `sslmode`. */
  tls?: boolean;
  /** Longest wait for a connection while the database does not answer, ms; default the config's (DB_CONNECT_WAIT_MS, else 0). */
  connectWaitMs?: number;
  /** Where knex's own warnings and errors go; default driverLogger(). */
  logger?: Logger;
}

/**
 * knex writes its warnings (a failed connection attempt with its stack, a dropped connection,
 * deprecations) with console.log, colours and all: outside the one line format, so past its
 * redaction and its fields. They go to the process's logger instead.
 */
function knexLog(logger: Logger): Knex.Config['log'] {
  return {
    warn: (detail: unknown) => logger.warn('knex warning', { detail }),
    error: (detail: unknown) => logger.error('knex error', { detail }),
    deprecate: (detail: unknown) => logger.warn('knex deprecation', { detail }),
    debug: (detail: unknown) => logger.debug('knex debug', { detail }),
  };
}

/** The node-pg connection settings createDb uses (a pg Client takes the same). */
export function connectionSettings(config: Pick<AppConfig, 'database' | 'secrets'> & Partial<Pick<AppConfig, 'missing'>>, options: DbOptions = {}): Knex.PgConnectionConfig {
  const database = requireDatabase(config);
  const { secrets } = config;
  // The login's secret has no value yet: every query answers a 503 naming it (a worker stops at start).
  if (!database.url && !secrets.databaseCredentials && config.missing?.includes('DB_SECRET_ARN')) throw settingMissing('DB_SECRET_ARN');
  const connection: Knex.PgConnectionConfig = database.url
    ? { connectionString: database.url }
    : {
        host: database.host,
        port: database.port,
        database: database.name,
        user: secrets.databaseCredentials?.username,
        password: secrets.databaseCredentials?.password,
        // RDS forces TLS; the RDS CA bundle comes through NODE_EXTRA_CA_CERTS.
        ssl: options.tls === false ? false : { rejectUnauthorized: true },
      };
  return {
    ...connection,
    connectionTimeoutMillis: 3000,
    statement_timeout: options.statementTimeoutMs ?? 10000,
    ...(options.lockTimeoutMs ? { lock_timeout: options.lockTimeoutMs } : {}),
    application_name: options.applicationName ?? 'docplatform',
  } as Knex.PgConnectionConfig;
}

/**
 * One knex instance per process. The pool is sized by DB_POOL_MAX: on Lambda an execution
 * environment serves one request at a time, so the per-function reserved concurrency times this
 * pool bounds the connections to RDS (db.t4g.micro allows about a hundred). Connections are
 * opened on first query and closed when idle so a frozen environment holds as few as possible.
 */
export function createDb(config: Pick<AppConfig, 'database' | 'secrets'>, logger?: Logger): Knex {
  return createDbWith(config, { logger });
}

/** createDb with the session options of a tool (the schema migrations). */
export function createDbWith(config: Pick<AppConfig, 'database' | 'secrets'>, options: DbOptions): Knex {
  const database = requireDatabase(config);
  const db = knexFactory({
    client: PgClient,
    connection: connectionSettings(config, options),
    pool: { min: 0, max: database.poolMax, idleTimeoutMillis: 30000 },
    acquireConnectionTimeout: 4000,
    log: knexLog(options.logger ?? driverLogger()),
  });
  // Every query and transaction acquires through here: a database that cannot be reached is
  // tried again until the wait runs out, then becomes one recognisable error (→ 503) whatever the
  // driver said. The wait (DB_CONNECT_WAIT_MS) is for a database that sleeps: an Aurora instance
  // paused at 0 ACU resumes on the first connection in 15-30 s, and a request or a job that
  // arrives then waits for it rather than failing; a request at most until its own deadline (the
  // Lambda's remaining time, core/request-deadline.ts), then it answers 503 with Retry-After.
  const client = db.client as { acquireConnection(): Promise<unknown>; releaseConnection(connection: unknown): Promise<unknown> };
  const acquire = client.acquireConnection.bind(client);
  const connectWaitMs = options.connectWaitMs ?? database.connectWaitMs ?? 0;
  // The caller is told only that the database is away; the log and a CLI's message (both redacted)
  // keep the driver's reason, without which ops cannot tell a refused login from a stopped server.
  const unavailable = (err: Error) => {
    const code = (err as { code?: unknown }).code;
    const reason = `${err.name}${typeof code === 'string' ? ` ${code}` : ''}: ${err.message}`;
    return new DependencyUnavailableError('database', `database unavailable, please retry shortly (${reason})`, `database unavailable, please retry shortly (${err.name})`);
  };
  client.acquireConnection = async () => {
    if (connectWaitMs === 0) {
      return acquire().catch((err: Error) => {
        throw unavailable(err);
      });
    }
    const until = Math.min(Date.now() + connectWaitMs, requestDeadline() ?? Number.POSITIVE_INFINITY);
    let pause = FIRST_PAUSE_MS;
    for (let attempts = 1; ; attempts++) {
      const attempt = acquire();
      let timer: NodeJS.Timeout | undefined;
      const outOfTime = new Promise<'out of time'>((resolve) => (timer = setTimeout(() => resolve('out of time'), Math.max(0, until - Date.now()))));
      try {
        const won = await Promise.race([attempt, outOfTime]);
        if (won !== 'out of time') return won;
        // The attempt goes on after the answer left: whatever it gets goes back to the pool.
        attempt.then((connection) => client.releaseConnection(connection), () => undefined);
        throw new DependencyUnavailableError('database', `database unavailable, please retry shortly (no connection within ${connectWaitMs} ms or the request's time, ${attempts} attempt(s))`);
      } catch (err) {
        if (err instanceof DependencyUnavailableError) throw err;
        const code = (err as { code?: unknown }).code;
        const left = until - Date.now();
        if ((typeof code === 'string' && NOT_RETRIED.test(code)) || left <= 0) throw unavailable(err as Error);
        await sleep(Math.min(pause, left));
        pause = Math.min(pause * 2, LONGEST_PAUSE_MS);
      } finally {
        clearTimeout(timer);
      }
    }
  };
  return db;
}
