import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SECRET_STEM_OF_SETTING, secretStates } from '../../scripts/release/smoke';
import { putCommands } from '../../scripts/release/aliases';
import { demandsOf } from '../../scripts/preflight/demands';
import { dev, environments } from '../../stacks/config';
import { resources, stacksOfLayer } from '../support/infra-synth';
import { Account, AwsAccountStandIn, startAwsAccountStandIn } from '../support/stand-ins/aws-account';

/**
 * The smoke test names, for each setting a health reports missing, the secret that gives it a
 * value: the mapping is held against the synthesised stacks (every secret variable a function or
 * task gets points at the data stack's secret of that name), so a renamed secret cannot leave the
 * deploy printing a command for a secret that does not exist.
 */
const SECRET_OUTPUT = /cross-stack-output-aws_secretsmanager_secretsecret-(.+?)(?:_[0-9A-F]{8})?arn\}$/;

test.each(stacksOfLayer('compute'))('%s: each secret variable of a function or task is the data stack’s secret the smoke test names', (stack) => {
  const env = stack.replace(/-compute$/, '');
  const seen = new Map<string, string>();
  const variablesOf = (vars: Record<string, string> | undefined) => Object.entries(vars ?? {}).filter(([k]) => /SECRET_ARN$/.test(k));
  for (const fn of resources(stack, 'aws_lambda_function')) {
    for (const [variable, value] of variablesOf(fn.config.environment?.variables)) seen.set(variable, value);
  }
  for (const task of resources(stack, 'aws_ecs_task_definition')) {
    for (const container of JSON.parse(task.config.container_definitions)) {
      for (const { name, value } of container.environment ?? []) if (/SECRET_ARN$/.test(name)) seen.set(name, value);
    }
  }
  expect([...seen.keys()].sort()).toEqual(Object.keys(SECRET_STEM_OF_SETTING).sort());
  for (const [variable, value] of seen) {
    expect({ variable, stem: SECRET_OUTPUT.exec(value)?.[1] }).toEqual({ variable, stem: SECRET_STEM_OF_SETTING[variable] });
  }
  const data = resources(`${env}-data`, 'aws_secretsmanager_secret').map((s) => s.config.name);
  for (const stem of Object.values(SECRET_STEM_OF_SETTING)) expect(data).toContain(`docplatform-${env}-${stem}`);
});

test('each missing setting gets the command that puts its secret in that environment', () => {
  const commands = putCommands(environments.prod, Object.keys(SECRET_STEM_OF_SETTING));
  Object.values(SECRET_STEM_OF_SETTING).forEach((stem, i) => {
    expect(commands[i]).toMatch(new RegExp(`^aws secretsmanager put-secret-value --region eu-west-3 --secret-id docplatform-prod-${stem} --secret-string \\S`));
  });
  expect(putCommands(undefined, ['STRIPE_SECRET_ARN'])[0]).toContain('--secret-id docplatform-<env>-stripe-secret-key');
  expect(putCommands(environments.dev, ['NOT_OURS'])[0]).toMatch(/^NOT_OURS: not a secret this platform creates/);
});

/**
 * The health the smoke step reaches is gateway-b2c's, which misses only the Stripe secrets; so the
 * step also describes every secret of the data stack (DescribeSecret: the deploy role may neither
 * list versions nor read values) and warns naming each without a value. Against the account
 * stand-in (test/support/stand-ins/aws-account.ts) through the real SDK.
 */
describe('every secret of the environment, described', () => {
  const REPO = resolve(__dirname, '../..');
  const names = demandsOf(dev).secrets.map((s) => s.name);
  const valued = { versions: [{ id: 'v1', stages: ['AWSCURRENT'] }] };
  const account = (secrets: Account['secrets'], denied?: string[]): Account => ({
    accountId: '123456789012',
    callerArn: 'arn:aws:sts::123456789012:assumed-role/docplatform-github-deploy-dev/GitHubActions',
    oidcProviders: [],
    buckets: {},
    lambda: { concurrentExecutions: 1000, unreservedConcurrentExecutions: 1000, functions: {} },
    quotas: {},
    defaultQuotas: {},
    addresses: [],
    certificates: [],
    costAllocationTags: [],
    secrets,
    denied,
  });
  let standIn: AwsAccountStandIn;
  let health: Server;
  let base: string;

  beforeAll(async () => {
    standIn = await startAwsAccountStandIn(account({}));
    health = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok","service":"gateway-b2c"}'));
    await new Promise<void>((r) => health.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(health.address() as AddressInfo).port}/live`;
  });
  afterAll(async () => {
    await standIn.close();
    await new Promise<void>((r) => health.close(() => r()));
  });

  const smoke = (args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string }> =>
    new Promise((done) =>
      execFile(
        process.execPath,
        [require.resolve('tsx/cli'), 'scripts/release/aliases.ts', 'smoke', '--env', 'dev', '--url', base, '--attempts', '1', ...args],
        {
          cwd: REPO,
          env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_MAX_ATTEMPTS: '1', AWS_ENDPOINT_URL_SECRETS_MANAGER: standIn.endpoint, GITHUB_ACTIONS: '', ...env },
        },
        (error, stdout) => done({ code: error ? Number(error.code ?? 1) : 0, stdout }),
      ),
    );
  const linesOf = (stdout: string) => stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));

  test('a secret has a value when a version carries AWSCURRENT; otherwise empty, absent or deleted', async () => {
    const [current, pending, none, deleted] = names;
    standIn.account = account({
      [current]: { versions: [{ id: 'v2', stages: ['AWSCURRENT'] }, { id: 'v1', stages: ['AWSPREVIOUS'] }] },
      [pending]: { versions: [{ id: 'v1', stages: ['AWSPENDING'] }] },
      [none]: { versions: [] },
      [deleted]: { ...valued, deletedDate: new Date('2026-11-30T00:00:00Z') },
    });
    const client = new SecretsManagerClient({ region: 'eu-west-3', endpoint: standIn.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 });
    try {
      expect(await secretStates(client, names)).toEqual([
        { name: current, state: 'value' },
        { name: pending, state: 'empty' },
        { name: none, state: 'empty' },
        { name: deleted, state: 'deleted' },
        ...names.slice(4).map((name) => ({ name, state: 'absent' })),
      ]);
      standIn.account = account({}, ['DescribeSecret']);
      await expect(secretStates(client, names)).rejects.toMatchObject({ name: 'AccessDeniedException' });
    } finally {
      client.destroy();
    }
  });

  test('the smoke command passes an ok health and warns naming each secret of the environment without a value, with the command that puts it', async () => {
    const [withValue, ...without] = names;
    standIn.account = account({ [withValue]: valued, ...Object.fromEntries(without.map((n) => [n, { versions: [] }])) });
    standIn.requests.length = 0;
    const summary = join(mkdtempSync(join(tmpdir(), 'smoke-')), 'summary.md');
    const result = await smoke(['--path', '/health'], { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary });
    expect(result.code).toBe(0);
    const lines = linesOf(result.stdout);
    expect(lines.map((l) => l.msg)).toEqual(['smoke-ok', 'smoke-secrets-missing']);
    expect(lines[1]).toMatchObject({ level: 'warn', env: 'dev', secrets: without });
    expect(lines[1].commands).toEqual(demandsOf(dev).secrets.slice(1).map((s) => s.putCommand));
    expect(standIn.requests.filter((r) => r === 'secretsmanager eu-west-3 DescribeSecret')).toHaveLength(names.length);
    const annotation = result.stdout.split('\n').find((l) => l.startsWith('::warning '))!;
    expect(annotation).toMatch(new RegExp(`^::warning title=Secrets of dev with no value%3A ${without.join('%2C ')}::`));
    for (const name of without) expect(annotation).toContain(`--secret-id ${name} `);
    expect(readFileSync(summary, 'utf8')).toContain(`    aws secretsmanager put-secret-value --region eu-west-3 --secret-id ${without[0]} `);
  }, 30_000);

  test('every secret with a value: one info line, no warning', async () => {
    standIn.account = account(Object.fromEntries(names.map((n) => [n, valued])));
    const result = await smoke(['--path', '/health']);
    expect(result.code).toBe(0);
    expect(linesOf(result.stdout).map((l) => [l.level, l.msg])).toEqual([['info', 'smoke-ok'], ['info', 'smoke-secrets-ok']]);
  }, 30_000);

  test('also while the edge path is skipped (no origin secret yet); a secret not created or awaiting deletion gets what brings it back first', async () => {
    const [absent, deleted, ...rest] = names;
    standIn.account = account({ [deleted]: { ...valued, deletedDate: new Date('2026-11-30T00:00:00Z') }, ...Object.fromEntries(rest.map((n) => [n, valued])) });
    const result = await smoke(['--path', '/api/health']);
    expect(result.code).toBe(0);
    const lines = linesOf(result.stdout);
    expect(lines.map((l) => l.msg)).toEqual(['smoke-skipped', 'smoke-secrets-missing']);
    expect(lines[1].secrets).toEqual([absent, deleted]);
    expect(lines[1].commands[0]).toMatch(new RegExp(`^${absent} does not exist: \`cdktf deploy dev-data\` creates it, then aws secretsmanager put-secret-value `));
    expect(lines[1].commands[1]).toMatch(new RegExp(`^${deleted} is scheduled for deletion: aws secretsmanager restore-secret --region eu-west-3 --secret-id ${deleted}, then aws secretsmanager put-secret-value `));
  }, 30_000);

  test('DescribeSecret refused: a warning that the secrets were not checked, the smoke test still decided by the health', async () => {
    standIn.account = account({}, ['DescribeSecret']);
    const result = await smoke(['--path', '/health']);
    expect(result.code).toBe(0);
    const lines = linesOf(result.stdout);
    expect(lines.map((l) => l.msg)).toEqual(['smoke-ok', 'smoke-secrets-unchecked']);
    expect(lines[1].reason).toMatch(/^secretsmanager:DescribeSecret failed \(AccessDeniedException: .*\); `npm run preflight -- --env dev` lists the secrets without a value$/);
  }, 30_000);
});
