import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Client } from 'pg';
import { admin, createTestDatabase, TestDatabase } from '../support/postgres';
import { schemaMigrations } from '../../migrations/schema';

/**
 * `npm run db:migrate` as a process, as the migration task runs it: the environment it is given,
 * its exit code and its JSON log lines. The AWS path (DB_HOST + PGUSER/PGPASSWORD, the login from
 * DB_SECRET_ARN) runs against the machine's PostgreSQL (PGSSLMODE=disable) and a Secrets Manager
 * stand-in driven by the real SDK.
 */
const REPO = join(__dirname, '..', '..');
const CLI = join(REPO, 'migrations', 'migrate-cli.ts');

interface Run {
  code: number;
  lines: Array<Record<string, any>>;
  output: string;
}

function migrate(env: Record<string, string>, args: string[] = []): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [require.resolve('tsx/cli'), CLI, ...args],
      { cwd: REPO, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const lines = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
        done({ code: error ? Number(error.code ?? 1) : 0, lines, output: stdout + stderr });
      },
    );
  });
}
/** The line that ends a failed run (core/cli.ts): its message, the field it names, the exit code. */
const failure = (r: Run) => r.lines.find((l) => l.level === 'error');
const events = (r: Run) => r.lines.map((l) => l.msg);

const tablesOf = async (database: TestDatabase): Promise<string[]> => {
  const c = new Client({ connectionString: database.url });
  await c.connect();
  try {
    return (await c.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`)).rows.map((r) => r.tablename);
  } finally {
    await c.end();
  }
};

/** Secrets Manager's GetSecretValue, answering what `secrets` holds (undefined: created empty). */
interface SecretsStandIn {
  url: string;
  secrets: Map<string, string | undefined>;
  close(): Promise<void>;
}
async function startSecrets(): Promise<SecretsStandIn> {
  const secrets = new Map<string, string | undefined>();
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const { SecretId } = JSON.parse(body);
      res.setHeader('content-type', 'application/x-amz-json-1.1');
      const value = secrets.get(SecretId);
      if (value === undefined) {
        res.statusCode = 400;
        res.setHeader('x-amzn-errortype', 'ResourceNotFoundException');
        res.end(JSON.stringify({ __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT" }));
        return;
      }
      res.end(JSON.stringify({ ARN: SecretId, Name: 'docplatform-test-db-app', SecretString: value, VersionId: 'v1' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    secrets,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

const logins: string[] = [];
const newLogin = () => {
  const login = { username: `app_cli_${randomBytes(4).toString('hex')}`, password: randomBytes(24).toString('base64url') };
  logins.push(login.username);
  return login;
};
const appUrl = (database: TestDatabase, login: { username: string; password: string }) => {
  const u = new URL(database.url);
  u.username = login.username;
  u.password = login.password;
  return u.toString();
};
const isLogin = async (role: string) =>
  admin(async (c) => (await c.query(`SELECT rolcanlogin AND pg_has_role(rolname, 'docplatform_app', 'USAGE') AS ok FROM pg_roles WHERE rolname = $1`, [role])).rows[0]?.ok === true);

let secrets: SecretsStandIn;
beforeAll(async () => {
  secrets = await startSecrets();
});
afterAll(async () => {
  await secrets.close();
  await admin(async (c) => {
    for (const role of logins) await c.query(`DROP ROLE IF EXISTS ${role}`);
  });
});

describe('bad input: exit 2, naming the variable or option, nothing touched', () => {
  test.each([
    ['an unknown option', { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/x' }, ['--force'], /^--force: unknown option \(known: --when-empty, --help\)$/],
    ['a bad --when-empty', { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/x' }, ['--when-empty', 'maybe'], /^--when-empty: must be migrate or skip$/],
    ['no owner at all', {}, [], /DB_HOST, DB_NAME, PGUSER, PGPASSWORD: required \(the owner: DATABASE_URL, or/],
    ['the RDS endpoint without the master credentials', { DB_HOST: 'db.internal', DB_NAME: 'docplatform' }, [], /^PGUSER, PGPASSWORD: required/],
    ['an owner URL that is no URL (a password with an unencoded #)', { DATABASE_URL: 'postgres://owner:pa#ss/word@127.0.0.1:5432/x' }, [], /^DATABASE_URL: is not a URL: .*percent-encoded$/],
    ['an app URL whose password is not percent-encoded (a stray %)', { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/x', DATABASE_APP_URL: 'postgres://app:100%zz-long-enough-pw@127.0.0.1:5432/x' }, [], /^DATABASE_APP_URL: .*percent-encoded/],
    ['a port that is no port', { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/x', DB_PORT: 'abc' }, [], /DB_PORT/],
    ['an app URL with a weak password', { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/x', DATABASE_APP_URL: 'postgres://app:short@127.0.0.1:5432/x' }, [], /^DATABASE_APP_URL: password must be at least 16/],
    ['an app URL naming a reserved role', { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/x', DATABASE_APP_URL: `postgres://pg_app:${'x'.repeat(20)}@127.0.0.1:5432/x` }, [], /^DATABASE_APP_URL: username must be/],
  ])('%s', async (_what, env, args, message) => {
    const r = await migrate(env as Record<string, string>, args);
    expect(r.code).toBe(2);
    expect(failure(r)).toMatchObject({ level: 'error', service: 'db-migrate', msg: expect.stringMatching(message), exitCode: 2 });
    expect(r.output).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    expect(r.output).not.toContain('pa#ss');
  });

  test('--help prints the usage and exits 0', async () => {
    const r = await migrate({}, ['--help']);
    expect(r.code).toBe(0);
    expect(r.output).toContain('--when-empty migrate|skip');
  });
});

describe('on the machine’s PostgreSQL', () => {
  let database: TestDatabase;
  beforeEach(async () => {
    database = await createTestDatabase('migrate_cli');
  });
  afterEach(() => database.drop());

  test('migrates as the owner, makes DATABASE_APP_URL the app login, and a second run applies nothing', async () => {
    const login = newLogin();
    const env = { DATABASE_URL: database.url, DATABASE_APP_URL: appUrl(database, login), APP_ENV: 'test' };
    const first = await migrate(env);
    expect(first.code).toBe(0);
    expect(first.lines.filter((l) => l.msg === 'migration-applied').map((l) => l.name)).toEqual([
      '20261126_001_core_tables',
      '20261201_002_order_generation_lease',
      '20261201_003_batch_request_fingerprint',
      '20261201_004_order_requeues',
      '20261201_005_app_role',
      '20261201_006_order_request_id',
      '20261202_007_batch_processing_index',
      '20261202_008_api_keys',
      '20261202_009_api_keys_legacy_replace',
    ]);
    expect(first.lines.find((l) => l.msg === 'migrate-start')).toMatchObject({ level: 'info', service: 'db-migrate', env: 'test', state: 'empty', login: 'DATABASE_APP_URL' });
    expect(first.lines.find((l) => l.msg === 'app-login-ready')).toMatchObject({ role: login.username, memberOf: 'docplatform_app', created: true });
    expect(first.output).not.toContain(login.password);
    expect(await isLogin(login.username)).toBe(true);

    const second = await migrate(env);
    expect(second.code).toBe(0);
    expect(events(second)).toEqual(['migrate-start', 'migrations-done', 'app-login-ready']);
    expect(second.lines.find((l) => l.msg === 'migrations-done')?.applied).toBe(0);
  });

  test('--when-empty skip leaves an empty database to the data move; an unfinished data move is never touched', async () => {
    const skipped = await migrate({ DATABASE_URL: database.url }, ['--when-empty', 'skip']);
    expect(skipped.code).toBe(0);
    expect(skipped.lines.find((l) => l.msg === 'schema-skipped')).toMatchObject({ level: 'warn', reason: expect.stringMatching(/no table yet/) });
    expect(await tablesOf(database)).toEqual([]);

    const c = new Client({ connectionString: database.url });
    await c.connect();
    await c.query('CREATE SCHEMA _data_move; CREATE TABLE clients (id uuid PRIMARY KEY)');
    await c.end();
    const moving = await migrate({ DATABASE_URL: database.url });
    expect(moving.code).toBe(0);
    expect(moving.lines.find((l) => l.msg === 'schema-skipped')).toMatchObject({ reason: expect.stringMatching(/data move/) });
    expect(await tablesOf(database)).toEqual(['clients']);
  });

  test('as in AWS: DB_HOST with PGUSER/PGPASSWORD, the login from DB_SECRET_ARN; an empty secret leaves the login for later', async () => {
    const arn = `arn:aws:secretsmanager:eu-west-3:123456789012:secret:docplatform-test-db-app-${randomBytes(3).toString('hex')}`;
    const u = new URL(database.url);
    const env = {
      DB_HOST: u.hostname,
      DB_PORT: u.port || '5432',
      DB_NAME: database.name,
      PGUSER: 'postgres',
      PGPASSWORD: 'unused-under-trust-auth',
      PGSSLMODE: 'disable',
      DB_SECRET_ARN: arn,
      AWS_ENDPOINT_URL: secrets.url,
      AWS_REGION: 'eu-west-3',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    };
    secrets.secrets.set(arn, undefined);
    const pending = await migrate(env, ['--when-empty', 'migrate']);
    expect(pending.code).toBe(0);
    expect(events(pending)).toEqual(['app-login-pending', 'migrate-start', ...Array(schemaMigrations.length).fill('migration-applied'), 'migrations-done']);

    secrets.secrets.set(arn, 'not json');
    const bad = await migrate(env);
    expect(bad.code).toBe(2);
    expect(failure(bad)).toMatchObject({ msg: 'DB_SECRET_ARN: the secret must be JSON {"username": …, "password": …}', field: 'DB_SECRET_ARN' });

    secrets.secrets.set(arn, JSON.stringify({ username: 'postgres', password: 'x'.repeat(24) }));
    const owner = await migrate(env);
    expect(owner.code).toBe(2);
    expect(failure(owner)).toMatchObject({ msg: 'DB_SECRET_ARN: username must not be the migration owner (postgres)', field: 'DB_SECRET_ARN' });

    const login = newLogin();
    secrets.secrets.set(arn, JSON.stringify(login));
    const ready = await migrate(env);
    expect(ready.code).toBe(0);
    expect(ready.lines.find((l) => l.msg === 'app-login-ready')).toMatchObject({ role: login.username, created: true });
    expect(ready.output).not.toContain(login.password);
    expect(await isLogin(login.username)).toBe(true);
  });

  test('a database a newer release migrated (a revert deployed): its own pending migrations applied, the newer ones named and left, exit 0', async () => {
    const env = { DATABASE_URL: database.url };
    expect((await migrate(env)).code).toBe(0);
    const c = new Client({ connectionString: database.url });
    await c.connect();
    try {
      // The newer release's migration, and one of this release's that the database lacks.
      await c.query(`INSERT INTO knex_migrations (name, batch, migration_time) VALUES ('20991231_999_from_a_newer_release', 9, now())`);
      await c.query(`DELETE FROM knex_migrations WHERE name = '20261202_007_batch_processing_index'`);
      await c.query('DROP INDEX batches_processing_updated_at');
      const older = await migrate(env);
      expect(older.code).toBe(0);
      expect(older.lines.find((l) => l.msg === 'migrations-ahead')).toMatchObject({ level: 'warn', names: ['20991231_999_from_a_newer_release'] });
      expect(older.lines.filter((l) => l.msg === 'migration-applied').map((l) => l.name)).toEqual(['20261202_007_batch_processing_index']);
      const names = (await c.query('SELECT name FROM knex_migrations')).rows.map((r) => r.name);
      expect(names).toEqual(expect.arrayContaining(['20991231_999_from_a_newer_release', '20261202_007_batch_processing_index']));
    } finally {
      await c.end();
    }
  });

  test('an owner that cannot connect is exit 1, saying why', async () => {
    const u = new URL(database.url);
    u.port = '1';
    const r = await migrate({ DATABASE_URL: u.toString() });
    expect(r.code).toBe(1);
    expect(failure(r)).toMatchObject({ exitCode: 1, msg: expect.stringMatching(/^cannot connect to the owner database 127\.0\.0\.1:1\/migrate_cli_\w+: unreachable \(ECONNREFUSED\)/) });
  });
});
