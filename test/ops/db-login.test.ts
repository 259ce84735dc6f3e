import knex, { Knex } from 'knex';
import { migrateLatest } from '../../migrations/migrate';
import { listen, StandInServer } from '../../scripts/local/stand-ins/http';
import { errorLine, opsProcess } from '../support/ops-cli';
import { createTestDatabase, TestDatabase } from '../support/postgres';

/**
 * The runbooks' database URL has no user (`$DB`, through a tunnel): the ops tools take the login
 * from the secret `docplatform-<env>-db-app`. The CLI runs in its own process with the real
 * Secrets Manager client, answered by a stand-in through AWS_ENDPOINT_URL_SECRETS_MANAGER (no
 * emulator of it runs here), against a real PostgreSQL database. No credentials, and a secret that
 * does not exist, are a line naming the field and exit 2, as for every other AWS call of the tools.
 */
jest.setTimeout(60_000);


describe('ops: the database login from its secret', () => {
  let database: TestDatabase;
  let db: Knex;
  let secrets: StandInServer;
  const asked: string[] = [];
  /** The URL of the runbooks: host, port and database, no user. */
  let tunnelUrl: string;

  beforeAll(async () => {
    database = await createTestDatabase('opslogin');
    db = knex({ client: 'pg', connection: database.url });
    await migrateLatest(db);
    const url = new URL(database.url);
    const login = { username: decodeURIComponent(url.username), password: '' };
    url.username = '';
    url.password = '';
    tunnelUrl = url.toString();
    secrets = await listen(async (req, body) => {
      const { SecretId } = JSON.parse(body.toString('utf8')) as { SecretId: string };
      asked.push(`${req.headers['x-amz-target']} ${SecretId}`);
      if (SecretId !== 'docplatform-dev-db-app') return { status: 400, json: { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." } };
      return { status: 200, json: { ARN: `arn:aws:secretsmanager:eu-west-3:123456789012:secret:${SecretId}-AbCdEf`, Name: SecretId, SecretString: JSON.stringify(login) } };
    });
  });
  afterAll(async () => {
    await secrets?.close();
    await db?.destroy();
    await database?.drop();
  });

  const ops = (args: string[], credentials: boolean) => opsProcess(args, secrets.url, credentials);

  test('a URL without a user takes the login of docplatform-<env>-db-app', async () => {
    const run = await ops(['orders', 'failed', '--env', 'dev', '--database-url', tunnelUrl], true);
    expect(run.stderr).not.toContain('"level":"error"');
    // stderr is the log, one JSON line per event: the SDK's plain-text Node-version notice would break a `| jq`.
    expect(run.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('{'))).toEqual([]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ count: 0, otherFailures: 0, orders: [] });
    expect(asked).toContain('secretsmanager.GetSecretValue docplatform-dev-db-app');
  });

  test.each([
    [['orders', 'failed']],
    [['dlq', 'show', 'doc-jobs']],
  ])('%j without AWS credentials: exit 2 naming them, nothing printed on stdout', async (command) => {
    const run = await ops([...command, '--env', 'dev', '--database-url', tunnelUrl], false);
    expect(errorLine(run.stderr)).toMatchObject({ field: 'credentials' });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  test('a database or a login the server does not have: exit 2 naming --database-url and what it refused, not "unavailable, retry"', async () => {
    const other = (change: (url: URL) => void) => {
      const url = new URL(database.url);
      change(url);
      return url.toString();
    };
    const cases: [string, RegExp][] = [
      [other((u) => (u.pathname = '/no_such_database_ops')), /^--database-url: the server at .+ refused it: database "no_such_database_ops" does not exist/],
      [other((u) => (u.username = 'no_such_role_ops')), /^--database-url: the server at .+ refused it: role "no_such_role_ops" does not exist/],
    ];
    for (const [url, msg] of cases) {
      const run = await ops(['orders', 'failed', '--env', 'dev', '--database-url', url], true);
      expect({ code: run.code, error: errorLine(run.stderr) }).toMatchObject({ code: 2, error: { field: '--database-url', msg: expect.stringMatching(msg) } });
    }
  });

  test('no database given to a command that reads one: exit 2 naming --database-url before any AWS call, credentials or not', async () => {
    for (const command of [['orders', 'stuck'], ['orders', 'requeue', '6f1c2b4e-8a3d-4c5e-9f10-1a2b3c4d5e6f'], ['batches', 'stuck'], ['keys', 'list', '--client', '6f1c2b4e-8a3d-4c5e-9f10-1a2b3c4d5e6f']]) {
      const run = await ops([...command, '--env', 'dev'], false);
      expect({ command, code: run.code, field: errorLine(run.stderr)?.field }).toEqual({ command, code: 2, field: '--database-url' });
    }
  });

  test('a login secret that does not exist: exit 2 naming --db-secret', async () => {
    const run = await ops(['orders', 'failed', '--env', 'dev', '--database-url', tunnelUrl, '--db-secret', 'docplatform-dev-db-nope'], true);
    expect(errorLine(run.stderr)).toMatchObject({ field: '--db-secret' });
    expect(errorLine(run.stderr).msg).toContain('docplatform-dev-db-nope');
    expect(run.code).toBe(2);
  });
});
