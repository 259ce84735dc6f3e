import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { listen, StandInServer } from '../../scripts/local/stand-ins/http';
import { runCliProcess } from '../support/cli-process';

/**
 * A failing ops CLI prints one line: the error's message. Two real runs where that message would
 * hold a secret: the login secret put as the bare password instead of JSON (JSON.parse quotes
 * what it refused) and a --database-url with its password whose database does not answer. The
 * CLI runs in its own process with the real Secrets Manager client, answered by a stand-in.
 */
jest.setTimeout(60_000);

const CLI = join(__dirname, '..', '..', 'scripts', 'ops', 'cli.ts');
const PLAIN_PASSWORD = 'Pl41n-Passw0rd';

let secrets: StandInServer;
beforeAll(async () => {
  secrets = await listen(async (_req, body) => {
    const { SecretId } = JSON.parse(body.toString('utf8')) as { SecretId: string };
    return { status: 200, json: { ARN: `arn:aws:secretsmanager:eu-west-3:123456789012:secret:${SecretId}-AbCdEf`, Name: SecretId, SecretString: PLAIN_PASSWORD } };
  });
});
afterAll(() => secrets?.close());

const ops = (args: string[]) =>
  runCliProcess(CLI, args, {
    env: {
      HOME: mkdtempSync(join(tmpdir(), 'ops-home-')),
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_PROFILE: '',
      AWS_SESSION_TOKEN: '',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      DATABASE_URL: '',
    },
  });
const errorLine = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((l) => l.level === 'error');

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
