import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { UsageError } from '../core/cli';
import { DB_APP_ROLE } from '../core/contract';
import { urlCredentials } from './postgres-url';

/**
 * The login of the application role: the credentials the services and workers connect with
 * (the `docplatform-<env>-db-app` secret in AWS, DATABASE_APP_URL locally) become a role that can
 * log in with that password and holds the privileges of `docplatform_app` (granted by the schema
 * migration 005), nothing more. Run by `npm run db:migrate` as the owner, after the migrations.
 *
 * - username `docplatform_app`: the role itself gets LOGIN and the password;
 * - any other name: a login role that is a member of `docplatform_app` (created, or updated if it
 *   exists), e.g. a second login to rotate to, or one per test.
 *
 * The password reaches the server only as a SCRAM-SHA-256 verifier computed here, so the
 * statement (which `log_statement = ddl` would log) never holds it in clear.
 */
export interface AppCredentials {
  username: string;
  password: string;
  /** Where they came from (`DATABASE_APP_URL`, `DB_SECRET_ARN`): the field a refusal names. */
  from?: string;
}

/** A role name that needs no quoting and is not reserved (`pg_…`, RDS's `rds…`). */
export const APP_USERNAME_PATTERN = /^(?!pg_|rds)[a-z_][a-z0-9_]{0,62}$/;
/**
 * Printable ASCII (SASLprep leaves it unchanged, so the verifier matches what any client sends),
 * at least 16 characters: e.g. `openssl rand -base64 32`.
 */
export const APP_PASSWORD_PATTERN = /^[\x21-\x7e]{16,}$/;

/** What is wrong with a pair of credentials, or undefined. */
export function credentialsIssue(c: AppCredentials): string | undefined {
  if (!APP_USERNAME_PATTERN.test(c.username)) return 'username must be a lowercase role name (letters, digits, _; not pg_… or rds…)';
  if (!APP_PASSWORD_PATTERN.test(c.password)) return 'password must be at least 16 printable ASCII characters, without spaces';
  return undefined;
}

/** PostgreSQL's SCRAM-SHA-256 password verifier (RFC 5802/7677), as `CREATE ROLE … PASSWORD` accepts it pre-hashed. */
export function scramSha256Verifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

export interface AppLogin {
  /** The login role. */
  role: string;
  /** Created by this call (false: it existed and got LOGIN and the password). */
  created: boolean;
}

/**
 * Makes `credentials` a login of the application role. Idempotent; one transaction. Credentials
 * that cannot become it are bad input: a UsageError naming where they came from.
 */
export async function ensureAppLogin(knex: Knex, credentials: AppCredentials): Promise<AppLogin> {
  const from = credentials.from ?? 'credentials';
  const issue = credentialsIssue(credentials);
  if (issue) throw new UsageError(from, issue);
  const { username } = credentials;
  const verifier = scramSha256Verifier(credentials.password);
  return knex.transaction(async (trx) => {
    const owner: string = (await trx.raw('SELECT current_user AS name')).rows[0].name;
    if (username === owner) throw new UsageError(from, `username must not be the migration owner (${owner})`);
    const appRole = (await trx.raw('SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = ?', [DB_APP_ROLE])).rows[0];
    if (!appRole) throw new Error(`role ${DB_APP_ROLE} does not exist: the schema migrations have not run`);
    const existing = (
      await trx.raw('SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls AS privileged FROM pg_catalog.pg_roles WHERE rolname = ?', [username])
    ).rows[0] as { privileged: boolean } | undefined;
    if (existing?.privileged) throw new UsageError(from, `username ${username} names a privileged role (superuser, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS)`);
    // Both are checked by the patterns above: the name needs no quoting, the verifier holds only [A-Za-z0-9+/=$:-].
    const password = `PASSWORD '${verifier}'`;
    if (username === DB_APP_ROLE) {
      await trx.raw(`ALTER ROLE ${username} LOGIN ${password}`);
    } else if (existing) {
      await trx.raw(`ALTER ROLE ${username} LOGIN ${password}`);
      await trx.raw(`GRANT ${DB_APP_ROLE} TO ${username}`);
    } else {
      await trx.raw(`CREATE ROLE ${username} LOGIN ${password} IN ROLE ${DB_APP_ROLE}`);
    }
    return { role: username, created: existing === undefined };
  });
}

/** Credentials from a connection URL, the value of the variable `from` (DATABASE_APP_URL); a UsageError naming it when they cannot be used. */
export function credentialsFromUrl(url: string, from: string): AppCredentials {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(from, 'must be a postgres URL');
  }
  const credentials: AppCredentials = { ...urlCredentials(from, parsed), from };
  const issue = credentialsIssue(credentials);
  if (issue) throw new UsageError(from, issue);
  return credentials;
}
