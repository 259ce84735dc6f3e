import knexFactory, { Knex } from 'knex';
// The dialect class itself rather than `client: 'pg'`: knex resolves dialect names with a
// dynamic require that a bundle cannot follow.
import PgClient from 'knex/lib/dialects/postgres';
import { requireDatabase, type AppConfig } from './config';
import { DependencyUnavailableError } from './failures';

/**
 * One knex instance per process. The pool is sized by DB_POOL_MAX: on Lambda an execution
 * environment serves one request at a time, so the per-function reserved concurrency times this
 * pool bounds the connections to RDS (db.t4g.micro allows about a hundred). Connections are
 * opened on first query and closed when idle so a frozen environment holds as few as possible.
 */
export function createDb(config: Pick<AppConfig, 'database' | 'secrets'>): Knex {
  const database = requireDatabase(config);
  const { secrets } = config;
  const connection: Knex.PgConnectionConfig = database.url
    ? { connectionString: database.url }
    : {
        host: database.host,
        port: database.port,
        database: database.name,
        user: secrets.databaseCredentials?.username,
        password: secrets.databaseCredentials?.password,
        // RDS forces TLS; the RDS CA bundle comes through NODE_EXTRA_CA_CERTS.
        ssl: { rejectUnauthorized: true },
      };
  const db = knexFactory({
    client: PgClient,
    connection: { ...connection, connectionTimeoutMillis: 3000, statement_timeout: 10000, application_name: 'docplatform' },
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
