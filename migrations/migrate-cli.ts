import { Client } from 'pg';
import type { Knex } from 'knex';
import { parseOptions, runCli, UsageError } from '../core/cli';
import { readEnv, secretsManagerFetcher, type Env } from '../core/config';
import { DB_APP_ROLE, ENV } from '../core/contract';
import { connectionSettings, createDbWith, type DbOptions } from '../core/db';
import { createLogger, type Logger } from '../core/logger';
import * as z from '../core/zod';
import { AppCredentials, credentialsFromUrl, credentialsIssue } from './app-role';
import { describeConnectError } from './data-move/errors';
import { migrateWithAppLogin, migrationsAhead } from './migrate';
import { parseUrl } from './postgres-url';

/**
 * `npm run db:migrate`: applies the pending schema migrations as the owner of the tables, then
 * makes the application's credentials a login of the application role (migrations/app-role.ts).
 * In AWS it runs as the migration task (docs/deploy.md: every deploy, before the compute stack
 * moves the `live` aliases), with the RDS master credentials injected as PGUSER/PGPASSWORD.
 *
 *   npm run db:migrate [-- --when-empty migrate|skip]
 *
 * The owner:  DATABASE_URL, or DB_HOST, DB_PORT, DB_NAME with PGUSER and PGPASSWORD (TLS verified
 *             against NODE_EXTRA_CA_CERTS unless PGSSLMODE=disable).
 * The login:  DATABASE_APP_URL (its user and password), or DB_SECRET_ARN (JSON {username,password});
 *             neither, or a secret without a value yet: the migrations run, no login is set.
 * Where the schema is not the migrations' to touch, nothing is done (exit 0, a warn line):
 *   - a data move is running into this database (schema `_data_move`);
 *   - `--when-empty skip` and the database has no table yet: it waits for the data move, which
 *     brings the old schema and its knex_migrations (docs/data-migration.md); the deploy passes it.
 * Migrations the database records and this release lacks (a newer release's, after a revert) are
 * left as they are and named in a warn line; this release's pending ones are applied.
 *
 * One JSON log line per event on stdout (core/logger.ts). Exit codes (core/cli.ts): 0 done or
 * nothing to do, 1 the database refused (connection, a migration, the login; a failed migration is
 * rolled back), 2 bad input, with a message naming the variable or option.
 */
export const USAGE = `usage: npm run db:migrate [-- --when-empty migrate|skip]
  --when-empty migrate   an empty database gets the whole schema (default)
  --when-empty skip      an empty database is left for the data move (the deploy passes this)
environment: DATABASE_URL | DB_HOST, DB_PORT, DB_NAME + PGUSER, PGPASSWORD   (the owner)
             DATABASE_APP_URL | DB_SECRET_ARN                                (the app login, optional)`;

export type WhenEmpty = 'migrate' | 'skip';

function parseCommandLine(argv: string[]): { whenEmpty: WhenEmpty } {
  const { values } = parseOptions({ args: argv, options: { 'when-empty': { type: 'string', default: 'migrate' } } });
  const whenEmpty = values['when-empty'];
  if (whenEmpty !== 'migrate' && whenEmpty !== 'skip') throw new UsageError('--when-empty', 'must be migrate or skip');
  return { whenEmpty };
}

const text = z.string().check(z.minLength(1));
const envSchema = z.object({
  [ENV.appEnv]: z._default(z.string().check(z.regex(/^[a-z][a-z0-9-]*$/)), 'local'),
  [ENV.logLevel]: z._default(z.enum(['debug', 'info', 'warn', 'error']), 'info'),
  [ENV.region]: z._default(text, 'eu-west-3'),
  [ENV.awsEndpoint]: z.optional(z.string().check(z.regex(/^https?:\/\//, 'must be an http or https URL'))),
  [ENV.databaseUrl]: z.optional(z.string().check(z.regex(/^postgres(ql)?:\/\//, 'must be a postgres URL'))),
  [ENV.databaseAppUrl]: z.optional(z.string().check(z.regex(/^postgres(ql)?:\/\//, 'must be a postgres URL'))),
  [ENV.dbHost]: z.optional(text),
  [ENV.dbPort]: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(65535)), 5432),
  [ENV.dbName]: z.optional(text),
  [ENV.dbSecretArn]: z.optional(z.string().check(z.startsWith('arn:'))),
  PGUSER: z.optional(text),
  PGPASSWORD: z.optional(text),
  PGSSLMODE: z.optional(z.enum(['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'])),
});
type MigrateEnv = z.infer<typeof envSchema>;

/** Where the owner connects; the app credentials' source. */
export interface MigrateInput {
  env: MigrateEnv;
  owner: { database: { url?: string; host?: string; port: number; name?: string; poolMax: number }; secrets: { databaseCredentials?: { username: string; password: string } } };
  tls: boolean;
  where: string;
  app: { from: string; credentials?: AppCredentials; secretArn?: string };
}

function readInput(raw: Env): MigrateInput {
  const env = readEnv(envSchema, raw, 'environment');
  let owner: MigrateInput['owner'];
  let where: string;
  if (env.DATABASE_URL) {
    owner = { database: { url: env.DATABASE_URL, port: env.DB_PORT, poolMax: 1 }, secrets: {} };
    const u = parseUrl(ENV.databaseUrl, env.DATABASE_URL);
    where = `${u.hostname}:${u.port || 5432}${u.pathname}`;
  } else {
    const missing = [ENV.dbHost, ENV.dbName, 'PGUSER', 'PGPASSWORD'].filter((k) => !env[k as keyof MigrateEnv]);
    if (missing.length > 0) throw new UsageError(missing.join(', '), `required (the owner: ${ENV.databaseUrl}, or ${ENV.dbHost}, ${ENV.dbName} with PGUSER and PGPASSWORD)`);
    owner = {
      database: { host: env.DB_HOST, port: env.DB_PORT, name: env.DB_NAME, poolMax: 1 },
      secrets: { databaseCredentials: { username: env.PGUSER!, password: env.PGPASSWORD! } },
    };
    where = `${env.DB_HOST}:${env.DB_PORT}/${env.DB_NAME}`;
  }
  let app: MigrateInput['app'] = { from: 'none' };
  if (env.DATABASE_APP_URL) {
    app = { from: ENV.databaseAppUrl, credentials: credentialsFromUrl(env.DATABASE_APP_URL, ENV.databaseAppUrl) };
  } else if (env.DB_SECRET_ARN) {
    app = { from: ENV.dbSecretArn, secretArn: env.DB_SECRET_ARN };
  }
  return { env, owner, tls: env.PGSSLMODE !== 'disable', where, app };
}

/** The secret's JSON, or undefined when it has no value yet (created empty, not put yet). */
async function readAppSecret(input: MigrateInput): Promise<AppCredentials | undefined> {
  const fetch = secretsManagerFetcher({ aws: { region: input.env.AWS_REGION, endpoint: input.env.AWS_ENDPOINT_URL, s3ForcePathStyle: false } });
  let value: string;
  try {
    value = await fetch(input.app.secretArn!);
  } catch (err) {
    const e = err as Error;
    // A secret Terraform created empty has no AWSCURRENT version until someone puts one.
    if (e.name === 'ResourceNotFoundException' || /no string value/.test(e.message)) return undefined;
    throw new Error(`cannot read secret ${ENV.dbSecretArn}: ${e.name}: ${e.message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new UsageError(ENV.dbSecretArn, 'the secret must be JSON {"username": …, "password": …}');
  }
  const p = parsed as Partial<AppCredentials>;
  if (typeof p?.username !== 'string' || typeof p?.password !== 'string') {
    throw new UsageError(ENV.dbSecretArn, 'the secret must be JSON {"username": …, "password": …}');
  }
  const credentials = { username: p.username, password: p.password, from: ENV.dbSecretArn };
  const issue = credentialsIssue(credentials);
  if (issue) throw new UsageError(ENV.dbSecretArn, issue);
  return credentials;
}

type DatabaseState = 'initialised' | 'empty' | 'data-move';

async function databaseState(db: Knex): Promise<DatabaseState> {
  const { rows } = await db.raw(`
    SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = '_data_move') AS moving,
           EXISTS (SELECT FROM pg_tables WHERE schemaname = 'public') AS tables`);
  if (rows[0].moving) return 'data-move';
  return rows[0].tables ? 'initialised' : 'empty';
}

async function run(argv: string[], raw: Env, log: Logger): Promise<number> {
  const args = parseCommandLine(argv);
  const input = readInput(raw);
  const app = input.app.secretArn ? { ...input.app, credentials: await readAppSecret(input) } : input.app;
  if (input.app.secretArn && !app.credentials) {
    log.warn('app-login-pending', { reason: `${ENV.dbSecretArn} has no value yet: put {"username":"${DB_APP_ROLE}","password":…} (docs/infrastructure.md), then run again` });
  }

  const options: DbOptions = {
    // An index build or a table rewrite may take longer than a request; waiting for a lock behind
    // the platform's transactions must not: ALTER TABLE queues every query of the table behind it.
    statementTimeoutMs: 0,
    lockTimeoutMs: 10_000,
    applicationName: 'docplatform-migrate',
    tls: input.tls,
  };
  const probe = new Client(connectionSettings(input.owner, options) as ConstructorParameters<typeof Client>[0]);
  try {
    await probe.connect();
  } catch (err) {
    throw new Error(describeConnectError('owner', input.where, err));
  } finally {
    await probe.end().catch(() => undefined);
  }

  const db = createDbWith(input.owner, { ...options, logger: log });
  try {
    const state = await databaseState(db);
    log.info('migrate-start', { database: input.where, state, whenEmpty: args.whenEmpty, login: app.credentials ? app.from : 'none' });
    if (state === 'data-move') {
      log.warn('schema-skipped', { reason: 'a data move into this database is unfinished (schema _data_move): run db:migrate after it ends' });
      return 0;
    }
    if (state === 'empty' && args.whenEmpty === 'skip') {
      log.warn('schema-skipped', {
        reason: 'the database has no table yet: it is left for the data move (docs/data-migration.md); a new environment without old data runs `npm run db:migrate` once without --when-empty skip',
      });
      return 0;
    }
    const ahead = await migrationsAhead(db);
    if (ahead.length) {
      log.warn('migrations-ahead', {
        names: ahead,
        reason: 'recorded by a newer release, unknown to this one (a revert deployed): left as they are; this release applies only its own pending migrations',
      });
    }
    const { applied, login } = await migrateWithAppLogin(db, app.credentials);
    for (const name of applied) log.info('migration-applied', { name });
    log.info('migrations-done', { applied: applied.length });
    if (login) log.info('app-login-ready', { role: login.role, memberOf: DB_APP_ROLE, created: login.created });
    else if (!input.app.secretArn) log.warn('app-login-not-set', { reason: `neither ${ENV.databaseAppUrl} nor ${ENV.dbSecretArn} is set: ${DB_APP_ROLE} keeps its login as it is` });
    return 0;
  } finally {
    await db.destroy();
  }
}

/** The log of the run: its level and environment when they can be read (readInput names them when they cannot). */
function runLog(raw: Env): Logger {
  try {
    const env = readEnv(z.object({ [ENV.appEnv]: z.optional(z.string()), [ENV.logLevel]: z._default(z.enum(['debug', 'info', 'warn', 'error']), 'info') }), raw, 'environment');
    return createLogger({ service: 'db-migrate', env: env.APP_ENV ?? 'local' }, env.LOG_LEVEL);
  } catch {
    return createLogger({ service: 'db-migrate' });
  }
}

const log = runLog(process.env);
runCli(() => run(process.argv.slice(2), process.env, log), { log, usage: USAGE });
