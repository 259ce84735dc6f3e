import { listen, StandInServer } from '../../scripts/local/stand-ins/http';
import { errorLine, opsProcess } from '../support/ops-cli';

/**
 * A failing ops CLI prints one line: the error's message. Two real runs where that message would
 * hold a secret: the login secret put as the bare password instead of JSON (JSON.parse quotes
 * what it refused) and a --database-url with its password whose database does not answer. The
 * CLI runs in its own process with the real Secrets Manager client, answered by a stand-in.
 */
jest.setTimeout(60_000);

const PLAIN_PASSWORD = 'Pl41n-Passw0rd';

let secrets: StandInServer;
beforeAll(async () => {
  secrets = await listen(async (_req, body) => {
    const { SecretId } = JSON.parse(body.toString('utf8')) as { SecretId: string };
    return { status: 200, json: { ARN: `arn:aws:secretsmanager:eu-west-3:123456789012:secret:${SecretId}-AbCdEf`, Name: SecretId, SecretString: PLAIN_PASSWORD } };
  });
});
afterAll(() => secrets?.close());

const ops = (args: string[]) => opsProcess(args, secrets.url);

test('a login secret that is the bare password, not JSON: the failure line names the secret, never its value', async () => {
  const run = await ops(['orders', 'failed', '--env', 'dev', '--database-url', 'postgres://127.0.0.1:9/docplatform']);
  expect(run.code).toBe(1);
  expect(errorLine(run.stderr).msg).toContain('docplatform-dev-db-app');
  expect(run.stderr + run.stdout).not.toContain(PLAIN_PASSWORD);
  expect(run.stderr + run.stdout).not.toContain(PLAIN_PASSWORD.slice(0, 10));
});

test('a --database-url with a password whose database does not answer: the failure line holds no password', async () => {
  const run = await ops(['orders', 'failed', '--env', 'dev', '--database-url', `postgres://docplatform_app:${PLAIN_PASSWORD}@127.0.0.1:9/docplatform`]);
  expect(run.code).toBe(1);
  expect(errorLine(run.stderr).msg).toContain('database unavailable');
  expect(run.stderr + run.stdout).not.toContain(PLAIN_PASSWORD);
});
