import { execFile } from 'node:child_process';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { LambdaClient } from '@aws-sdk/client-lambda';
import {
  aliasPosition,
  moveAlias,
  parseSnapshot,
  parseTarget,
  previousVersion,
  publishedVersions,
  restore,
  rollback,
  snapshot,
} from '../../scripts/release/lambda-aliases';
import { joinUrl, smokeTest } from '../../scripts/release/smoke';
import { LambdaStandIn, startLambdaStandIn } from '../support/stand-ins/lambda';

const REPO = resolve(__dirname, '../..');
const FAKE_CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

let standIn: LambdaStandIn;
let client: LambdaClient;

beforeEach(async () => {
  standIn = await startLambdaStandIn();
  client = new LambdaClient({ region: 'eu-west-3', endpoint: standIn.endpoint, credentials: FAKE_CREDENTIALS, maxAttempts: 1 });
});

afterEach(async () => {
  client.destroy();
  await standIn.close();
});

describe('versions and targets', () => {
  test('published versions are read across pages, numerically sorted, without $LATEST', async () => {
    standIn.addFunction('docplatform-dev-theme', 11);
    expect(await publishedVersions(client, 'docplatform-dev-theme')).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11']);
    expect(standIn.requests.filter((r) => r.endsWith('/versions')).length).toBeGreaterThan(1);
  });

  test('previous version is the newest one older than the current, numerically', () => {
    expect(previousVersion(['1', '2', '9', '10', '11'], '10')).toBe('9');
    expect(previousVersion(['1', '2'], '1')).toBeUndefined();
    expect(previousVersion(['3', '7'], '5')).toBe('3');
  });

  test('a target is "previous" or a version number, nothing else', () => {
    expect(parseTarget(undefined)).toBe('previous');
    expect(parseTarget('')).toBe('previous');
    expect(parseTarget('12')).toBe('12');
    expect(() => parseTarget('$LATEST')).toThrow(/--to: must be "previous" or a version number/);
  });
});

describe('rollback', () => {
  test('moves live to the previous version and clears weighted routing', async () => {
    standIn.addFunction('docplatform-dev-order', 4, '4', { '3': 0.1 });
    const moved = await rollback(client, ['docplatform-dev-order'], 'previous');
    expect(moved).toEqual({ moves: [{ functionName: 'docplatform-dev-order', alias: 'live', from: '4', to: '3' }], failed: [] });
    expect(standIn.aliasVersion('docplatform-dev-order')).toBe('3');
    expect(standIn.aliasWeights('docplatform-dev-order')).toEqual({});
  });

  test('moves live to an explicit published version', async () => {
    standIn.addFunction('docplatform-dev-order', 5);
    await rollback(client, ['docplatform-dev-order'], '2');
    expect(standIn.aliasVersion('docplatform-dev-order')).toBe('2');
  });

  test('an unpublished target or an unknown function moves no alias at all', async () => {
    standIn.addFunction('docplatform-dev-order', 3);
    standIn.addFunction('docplatform-dev-theme', 3);
    await expect(rollback(client, ['docplatform-dev-order', 'docplatform-dev-theme'], '7')).rejects.toThrow(/version 7 is not published/);
    await expect(rollback(client, ['docplatform-dev-order', 'docplatform-dev-nope'], 'previous')).rejects.toThrow(/Alias not found/);
    expect(standIn.aliasVersion('docplatform-dev-order')).toBe('3');
    expect(standIn.aliasVersion('docplatform-dev-theme')).toBe('3');
    expect(standIn.requests.some((r) => r.startsWith('PUT'))).toBe(false);
  });

  test('the first version has nothing to roll back to', async () => {
    standIn.addFunction('docplatform-dev-client', 1);
    await expect(rollback(client, ['docplatform-dev-client'], 'previous')).rejects.toThrow(/no published version before 1/);
  });

  test('a function already at the target is left alone', async () => {
    standIn.addFunction('docplatform-dev-client', 3, '2');
    expect(await rollback(client, ['docplatform-dev-client'], '2')).toEqual({ moves: [], failed: [] });
    expect(standIn.requests.some((r) => r.startsWith('PUT'))).toBe(false);
  });

  test('a move made by someone else in between makes the move fail instead of overwriting it', async () => {
    standIn.addFunction('docplatform-dev-theme', 5);
    const position = await aliasPosition(client, 'docplatform-dev-theme');
    standIn.moveBehindTheScenes('docplatform-dev-theme', '1');
    await expect(moveAlias(client, position, '4')).rejects.toMatchObject({ name: 'PreconditionFailedException' });
    expect(standIn.aliasVersion('docplatform-dev-theme')).toBe('1');
  });
});

describe('snapshot and restore around a deploy', () => {
  test('a failed deploy is undone: every alias goes back to its recorded version', async () => {
    standIn.addFunction('docplatform-dev-gateway-b2c', 6, '6');
    standIn.addFunction('docplatform-dev-core-llm', 3, '3');
    const before = await snapshot(client, ['docplatform-dev-gateway-b2c', 'docplatform-dev-core-llm', 'docplatform-dev-new-fn']);
    expect(before.positions.map((p) => [p.functionName, p.version])).toEqual([
      ['docplatform-dev-gateway-b2c', '6'],
      ['docplatform-dev-core-llm', '3'],
    ]);

    // The deploy publishes and points live at new versions, then the smoke test fails.
    standIn.addFunction('docplatform-dev-gateway-b2c', 7, '7');
    standIn.moveBehindTheScenes('docplatform-dev-core-llm', '3');

    const restored = await restore(client, parseSnapshot(JSON.stringify(before), 'snapshot.json'));
    expect(restored).toEqual({ moves: [{ functionName: 'docplatform-dev-gateway-b2c', alias: 'live', from: '7', to: '6' }], failed: [] });
    expect(standIn.aliasVersion('docplatform-dev-gateway-b2c')).toBe('6');
    expect(standIn.aliasVersion('docplatform-dev-core-llm')).toBe('3');
  });

  test('an alias that cannot go back is reported and the others still go back: a restore that stopped there left them on the failed release', async () => {
    for (const name of ['docplatform-dev-theme', 'docplatform-dev-order', 'docplatform-dev-client']) standIn.addFunction(name, 5, '5');
    const before = await snapshot(client, ['docplatform-dev-theme', 'docplatform-dev-order', 'docplatform-dev-client']);
    for (const name of ['docplatform-dev-theme', 'docplatform-dev-order', 'docplatform-dev-client']) standIn.addFunction(name, 6, '6');
    standIn.denyUpdate('docplatform-dev-order');
    const restored = await restore(client, before);
    expect(restored.moves.map((m) => [m.functionName, m.to])).toEqual([
      ['docplatform-dev-theme', '5'],
      ['docplatform-dev-client', '5'],
    ]);
    expect(restored.failed).toEqual([{ functionName: 'docplatform-dev-order', alias: 'live', from: '6', to: '5', error: expect.stringContaining('AccessDeniedException') }]);
    expect(['docplatform-dev-theme', 'docplatform-dev-order', 'docplatform-dev-client'].map((n) => standIn.aliasVersion(n))).toEqual(['5', '6', '5']);
  });

  test('a malformed snapshot is refused with the field it lacks', () => {
    expect(() => parseSnapshot('nope', 'f.json')).toThrow('f.json: not JSON');
    expect(() => parseSnapshot('{}', 'f.json')).toThrow('field "positions" must be an array');
    expect(() => parseSnapshot('{"positions":[{"functionName":"a","alias":"live","version":"$LATEST"}]}', 'f.json')).toThrow('positions[0]');
  });
});

function runCli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [require.resolve('tsx/cli'), 'scripts/release/aliases.ts', ...args],
      {
        cwd: REPO,
        env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_MAX_ATTEMPTS: '1', ...env },
      },
      (error, stdout) => done({ code: error ? Number(error.code ?? 1) : 0, stdout }),
    );
  });
}

describe('the CLI the workflows call', () => {
  test('snapshot, then restore after a forward move, through AWS_ENDPOINT_URL_LAMBDA; rollback by service name', async () => {
    standIn.addFunction('docplatform-dev-theme', 4, '4');
    standIn.addFunction('docplatform-dev-order', 4, '4');
    const file = join(mkdtempSync(join(tmpdir(), 'aliases-')), 'live.json');
    const env = { AWS_ENDPOINT_URL_LAMBDA: standIn.endpoint };

    const taken = await runCli(['snapshot', '--env', 'dev', '--functions', 'theme,order', '--out', file], env);
    expect(taken.code).toBe(0);
    expect(JSON.parse(readFileSync(file, 'utf8')).positions).toHaveLength(2);

    standIn.moveBehindTheScenes('docplatform-dev-theme', '1');
    const restored = await runCli(['restore', '--file', file], env);
    expect(restored.code).toBe(0);
    expect(standIn.aliasVersion('docplatform-dev-theme')).toBe('4');

    const rolled = await runCli(['rollback', '--env', 'dev', '--functions', 'order'], env);
    expect(rolled.code).toBe(0);
    expect(JSON.parse(rolled.stdout.trim().split('\n')[0])).toMatchObject({ level: 'info', msg: 'alias-moved', from: '4', to: '3' });
    expect(standIn.aliasVersion('docplatform-dev-order')).toBe('3');
  }, 30_000);

  test('rollback: an alias that cannot move (UpdateAlias denied) is an alias-not-moved line and exit 1, the others still move, each with its line', async () => {
    for (const service of ['theme', 'order', 'client']) standIn.addFunction(`docplatform-dev-${service}`, 4, '4');
    standIn.denyUpdate('docplatform-dev-order');
    const rolled = await runCli(['rollback', '--env', 'dev', '--functions', 'theme,order,client', '--to', '2'], { AWS_ENDPOINT_URL_LAMBDA: standIn.endpoint });
    expect(rolled.code).toBe(1);
    const lines = rolled.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.level, l.msg, l.functionName])).toEqual([
      ['info', 'alias-moved', 'docplatform-dev-theme'],
      ['info', 'alias-moved', 'docplatform-dev-client'],
      ['error', 'alias-not-moved', 'docplatform-dev-order'],
      ['info', 'rollback-done', undefined],
    ]);
    expect(lines[2]).toMatchObject({ from: '4', to: '2', error: expect.stringContaining('AccessDeniedException') });
    expect(lines[3]).toMatchObject({ moved: 2, failed: 1 });
    expect(['theme', 'order', 'client'].map((s) => standIn.aliasVersion(`docplatform-dev-${s}`))).toEqual(['2', '4', '2']);
  }, 30_000);

  test('bad input exits 2 with a message naming the field', async () => {
    const env = { AWS_ENDPOINT_URL_LAMBDA: standIn.endpoint };
    // A file that is no snapshot is bad input too (it was exit 1 before core/cli.ts).
    const notSnapshot = join(mkdtempSync(join(tmpdir(), 'aliases-')), 'live.json');
    writeFileSync(notSnapshot, 'nope');
    const cases: Array<[string[], RegExp]> = [
      [['restore', '--file', notSnapshot], /^--file: .*live\.json: not JSON$/],
      [['rollback', '--env', 'staging', '--functions', 'all'], /--env: must be one of dev, prod/],
      [['rollback', '--env', 'dev', '--functions', 'billing'], /--functions: unknown service "billing"/],
      [['rollback', '--env', 'dev', '--functions', 'all', '--to', 'latest'], /--to: must be/],
      [['restore', '--file', '/nonexistent/x.json'], /--file: cannot read/],
      [['smoke', '--url', 'not a url'], /--url: must be an absolute URL/],
      [['deploy'], /unknown command "deploy"/],
      // An option the command does not read is refused, not ignored: --out here (meant as --to) would roll back to the previous version.
      [['rollback', '--env', 'dev', '--functions', 'order', '--out', '41'], /^--out: not an option of rollback \(it takes --env, --functions, --to\)$/],
      [['restore', '--file', notSnapshot, '--env', 'prod'], /^--env: not an option of restore/],
      [['status', '--env', 'dev', '--local'], /^--local: not an option of status/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args, env)));
    results.forEach((result, i) => {
      expect(result.code).toBe(2);
      expect(JSON.parse(result.stdout.trim())).toMatchObject({ level: 'error', msg: expect.stringMatching(cases[i][1]) });
    });
  }, 30_000);

  test('rollback of several functions to previous undoes the last release: a function it did not change stays on its version', async () => {
    const at = (iso: string) => new Date(iso);
    // The bad release published gateway-b2c 43 and order 18 at 10:00; theme has not changed since an older release.
    standIn.addFunction('docplatform-dev-gateway-b2c', 43, '43', {}, { '42': at('2026-11-20T09:00:00Z'), '43': at('2026-12-01T10:00:00Z') });
    standIn.addFunction('docplatform-dev-order', 18, '18', {}, { '17': at('2026-11-20T09:00:30Z'), '18': at('2026-12-01T10:01:10Z') });
    standIn.addFunction('docplatform-dev-theme', 5, '5', {}, { '4': at('2026-10-02T08:00:00Z'), '5': at('2026-11-20T09:01:00Z') });
    const env = { AWS_ENDPOINT_URL_LAMBDA: standIn.endpoint };
    const rolled = await runCli(['rollback', '--env', 'dev', '--functions', 'gateway-b2c,order,theme', '--to', 'previous'], env);
    expect(rolled.code).toBe(0);
    const lines = rolled.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.msg === 'alias-left')).toEqual([
      expect.objectContaining({ functionName: 'docplatform-dev-theme', version: '5', publishedAt: '2026-11-20T09:01:00.000Z', release: '2026-12-01T10:01:10.000Z' }),
    ]);
    expect(lines.filter((l) => l.msg === 'alias-moved').map((l) => [l.functionName, l.from, l.to])).toEqual([
      ['docplatform-dev-gateway-b2c', '43', '42'],
      ['docplatform-dev-order', '18', '17'],
    ]);
    expect(standIn.aliasVersion('docplatform-dev-theme')).toBe('5');
    // Again: the release before (20 November) is now the newest live one, and theme came with it.
    const again = await runCli(['rollback', '--env', 'dev', '--functions', 'gateway-b2c,order,theme'], env);
    expect(again.stdout).not.toContain('alias-left');
    expect([standIn.aliasVersion('docplatform-dev-gateway-b2c'), standIn.aliasVersion('docplatform-dev-order'), standIn.aliasVersion('docplatform-dev-theme')]).toEqual(['41', '16', '4']);
    // One function named alone goes to its own previous version, as asked.
    expect((await runCli(['rollback', '--env', 'dev', '--functions', 'theme'], env)).code).toBe(0);
    expect(standIn.aliasVersion('docplatform-dev-theme')).toBe('3');
  }, 30_000);

  test('no AWS credentials (the on-call engineer not logged in): exit 2 naming them, nothing moved', async () => {
    standIn.addFunction('docplatform-dev-client', 4, '4');
    const none = { AWS_ENDPOINT_URL_LAMBDA: standIn.endpoint, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '', AWS_EC2_METADATA_DISABLED: 'true', HOME: mkdtempSync(join(tmpdir(), 'no-aws-')) };
    // internal tried each alias 10 times over 30 s, then exit 1 naming every service 'unreachable'.
    for (const args of [['status', '--env', 'dev', '--functions', 'client'], ['rollback', '--env', 'dev', '--functions', 'client'], ['internal', '--env', 'dev']]) {
      const result = await runCli(args, none);
      expect(result.code).toBe(2);
      expect(JSON.parse(result.stdout.trim().split('\n').pop()!)).toMatchObject({ level: 'error', field: 'credentials', msg: expect.stringContaining('aws sso login') });
    }
    expect(standIn.aliasVersion('docplatform-dev-client')).toBe('4');
  }, 30_000);
});

describe('smoke test', () => {
  // With --env the command also describes the environment's secrets (test/release/smoke-secrets.test.ts): nothing listens here, so it warns that it could not.
  const NO_SECRETS_MANAGER = { AWS_ENDPOINT_URL_SECRETS_MANAGER: 'http://127.0.0.1:9' };
  let server: Server;
  let base: string;
  let replies: Array<[number, string]>;

  beforeEach(async () => {
    replies = [];
    server = createServer((_req, res) => {
      const [status, body] = replies.shift() ?? [500, '{}'];
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/live/`;
  });
  afterEach(() => new Promise<void>((r) => server.close(() => r())));

  test('passes once /health answers 200 {"status":"ok"}, retrying while the stage settles', async () => {
    replies.push([503, '{"message":"Service Unavailable"}'], [200, '{"status":"ok","service":"gateway-b2c"}']);
    const result = await smokeTest(joinUrl(base, '/health'), { attempts: 3, delayMs: 10 });
    expect(result).toMatchObject({ ok: true, attempts: 2, url: `${base}health` });
  });

  test('a started service whose secrets have no value yet (degraded, naming them) passes, with the settings it misses', async () => {
    replies.push([200, '{"status":"degraded","service":"gateway-b2c","missing":["STRIPE_SECRET_ARN","STRIPE_WEBHOOK_SECRET_ARN"]}']);
    expect(await smokeTest(joinUrl(base, 'health'), { attempts: 1 })).toEqual({
      url: `${base}health`,
      ok: true,
      attempts: 1,
      status: 200,
      missing: ['STRIPE_SECRET_ARN', 'STRIPE_WEBHOOK_SECRET_ARN'],
    });
  });

  test('the smoke command: degraded passes with a warning line giving the command that puts each value (and, in GitHub Actions, an annotation and the job summary)', async () => {
    const summary = join(mkdtempSync(join(tmpdir(), 'smoke-')), 'summary.md');
    replies.push([200, '{"status":"degraded","service":"gateway-b2c","missing":["STRIPE_SECRET_ARN","ORDER_TOKEN_SECRET_ARN"]}']);
    const result = await runCli(['smoke', '--env', 'dev', '--url', base, '--path', '/health', '--attempts', '1'], { GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: summary, ...NO_SECRETS_MANAGER });
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    const line = JSON.parse(lines.find((l) => l.startsWith('{'))!);
    expect(line).toMatchObject({ level: 'warn', msg: 'smoke-degraded', ok: true, missing: ['STRIPE_SECRET_ARN', 'ORDER_TOKEN_SECRET_ARN'] });
    expect(line.commands).toEqual([
      'aws secretsmanager put-secret-value --region eu-west-3 --secret-id docplatform-dev-stripe-secret-key --secret-string "$STRIPE_SECRET_KEY"',
      'aws secretsmanager put-secret-value --region eu-west-3 --secret-id docplatform-dev-order-token-secret --secret-string "$(openssl rand -base64 32)"',
    ]);
    const annotation = lines.find((l) => l.startsWith('::warning '))!;
    expect(annotation).toMatch(/^::warning title=Secrets without a value in dev%3A STRIPE_SECRET_ARN%2C ORDER_TOKEN_SECRET_ARN::/);
    expect(annotation).toContain('--secret-id docplatform-dev-stripe-secret-key');
    expect(readFileSync(summary, 'utf8')).toContain('    aws secretsmanager put-secret-value --region eu-west-3 --secret-id docplatform-dev-order-token-secret');
  }, 30_000);

  test('the smoke command skips a path through the edge, with a warning, while the environment has no origin secret (its web ACL refuses every request)', async () => {
    const result = await runCli(['smoke', '--env', 'dev', '--url', base, '--path', '/api/health', '--attempts', '1'], { GITHUB_ACTIONS: '', ...NO_SECRETS_MANAGER });
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout.trim().split('\n')[0])).toMatchObject({ level: 'warn', msg: 'smoke-skipped', env: 'dev', reason: expect.stringContaining('api.originVerifyPatternSetArn is unset') });
  }, 30_000);

  test('fails on persistent errors, non-JSON bodies and a status other than ok', async () => {
    replies.push([500, '{}'], [500, '{}']);
    expect(await smokeTest(joinUrl(base, 'health'), { attempts: 2, delayMs: 1 })).toMatchObject({ ok: false, status: 500 });
    replies.push([200, '<html>']);
    expect(await smokeTest(joinUrl(base, 'health'), { attempts: 1 })).toMatchObject({ ok: false, error: 'body is not JSON' });
    replies.push([200, '{"status":"degraded"}']);
    expect(await smokeTest(joinUrl(base, 'health'), { attempts: 1 })).toMatchObject({ ok: false, error: 'status is "degraded"' });
  });

  test('a --refused path passes on the service\'s own 401 (its error body) and fails on anything else, an API Gateway 401 or a 502 included', async () => {
    replies.push([200, '{"status":"ok","service":"gateway-b2c"}'], [401, '{"error":{"code":"unauthorized","message":"an API key is required (header x-api-key or Authorization: Bearer)"}}']);
    const passed = await runCli(['smoke', '--url', base, '--path', '/health', '--refused', '/b2b/batches', '--attempts', '1'], {});
    expect(passed.code).toBe(0);
    expect(passed.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.msg === 'smoke-ok').map((l) => [l.url, l.status])).toEqual([
      [`${base}health`, 200],
      [`${base}b2b/batches`, 401],
    ]);
    // The function fails at start: API Gateway answers 502; or API Gateway's own 401 ({"message":"Unauthorized"}), which no service wrote.
    replies.push([502, '{"message":"Internal server error"}']);
    expect(await smokeTest(joinUrl(base, 'b2b/batches'), { attempts: 1, expect: 'refused' })).toMatchObject({ ok: false, status: 502 });
    replies.push([401, '{"message":"Unauthorized"}']);
    expect(await smokeTest(joinUrl(base, 'b2b/batches'), { attempts: 1, expect: 'refused' })).toMatchObject({ ok: false, status: 401, error: expect.stringContaining('without the service') });
    replies.push([200, '{"status":"ok","service":"gateway-b2c"}'], [502, '{"message":"Internal server error"}']);
    const failed = await runCli(['smoke', '--url', base, '--path', '/health', '--refused', '/b2b/batches', '--attempts', '1'], {});
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain('"msg":"smoke-failed"');
  }, 30_000);

  test('the smoke command exits 1 when the API is down', async () => {
    const result = await runCli(['smoke', '--url', base, '--attempts', '2', '--delay-ms', '1'], {});
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('"level":"error","msg":"smoke-failed"');
  }, 30_000);
});
