import knexFactory, { Knex } from 'knex';
// The dialect class itself rather than `client: 'pg'`: knex resolves dialect names with a
// dynamic require that a bundle cannot follow.
import PgClient from 'knex/lib/dialects/postgres';
import { requireDatabase, settingMissing, type AppConfig } from './config';
import { DependencyUnavailableError } from './failures';

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
export function createDb(config: Pick<AppConfig, 'database' | 'secrets'>): Knex {
  return createDbWith(config, {});
}

/** createDb with the session options of a tool (the schema migrations). */
export function createDbWith(config: Pick<AppConfig, 'database' | 'secrets'>, options: DbOptions): Knex {
  const database = requireDatabase(config);
  const db = knexFactory({
    client: PgClient,
    connection: connectionSettings(config, options),
    pool: { min: 0, max: database.poolMax, idleTimeoutMillis: 30000 },
    acquireConnectionTimeout: 4000,
  });
  // Every query and transaction acquires through here: a database that cannot be reached
  // becomes one recognisable error (→ 503) whatever the driver said.
  const client = db.client as { acquireConnection(): Promise<unknown> };
  const acquire = client.acquireConnection.bind(client);
  client.acquireConnection = () =>
    acquire().catch((err: Error) => {
      throw new DependencyUnavailableError('database', `database unavailable, please retry shortly (${err.name})`);
    });
  return db;
}
