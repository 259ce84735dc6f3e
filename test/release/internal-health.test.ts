import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SERVICE_NAMES, ServiceName } from '../../core/contract';
import { toApiGatewayEvent } from '../../core/internal-client';
import { reportMissingSettings } from '../../functions/shared/http';
import { toLambdaHandler } from '../../functions/shared/lambda';
import { createApp as gatewayB2c } from '../../functions/gateway-b2c/app';
import { createApp as gatewayB2b } from '../../functions/gateway-b2b/app';
import { createApp as coreLlm } from '../../functions/core-llm/app';
import { createApp as theme } from '../../functions/theme/app';
import { createApp as order } from '../../functions/order/app';
import { createApp as client } from '../../functions/client/app';
import { INTERNAL_SERVICES } from '../../core/contract';
import { checkInternalHealth, httpTargets } from '../../scripts/release/internal-health';
import { servicePortVariable } from '../../scripts/local/defaults';
import { startTestPlatform, TestPlatform } from '../support/functions-platform';
import { freePort } from '../support/local-dev';
import { LambdaStandIn, startLambdaStandIn } from '../support/stand-ins/lambda';

/**
 * The post-deploy check of the internal services, against the services' own code: over HTTP on
 * the local platform (npm run dev's topology), and by Lambda Invoke of each live alias, where the
 * Lambda stand-in runs the services' real handlers (their Koa apps through the same
 * serverless-http adapter as on Lambda, over the test platform's database and emulator).
 */

const REPO = resolve(__dirname, '../..');
const APPS = { 'gateway-b2c': gatewayB2c, 'gateway-b2b': gatewayB2b, 'core-llm': coreLlm, theme, order, client } as const;

type Line = { level: string; msg: string; service?: string; target?: string; error?: string; missing?: string[]; commands?: string[]; functionName?: string };

function release(args: string[], env: Record<string, string>): Promise<{ code: number; lines: Line[] }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [require.resolve('tsx/cli'), 'scripts/release/aliases.ts', ...args],
      { cwd: REPO, env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_MAX_ATTEMPTS: '1', GITHUB_ACTIONS: '', ...env } },
      (error, stdout) =>
        done({ code: error ? Number(error.code ?? 1) : 0, lines: stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)) }),
    );
  });
}

const byService = (lines: Line[]) => Object.fromEntries(lines.filter((l) => l.service).map((l) => [l.service, l.msg]));

let platform: TestPlatform;

beforeAll(async () => {
  platform = await startTestPlatform('internal_health');
}, 120_000);

afterAll(async () => {
  await platform?.teardown();
});

test('the internal services are the ones without a route: core-llm, theme, order, client', () => {
  expect([...INTERNAL_SERVICES]).toEqual(['core-llm', 'theme', 'order', 'client']);
});

describe('over HTTP, as the local run calls them', () => {
  test('each internal service answers its health, and one that does not answer is named', async () => {
    const urls = { ...platform.urls };
    const up = await checkInternalHealth(httpTargets(urls), INTERNAL_SERVICES, { attempts: 1 });
    expect(up.map((r) => [r.service, r.ok, r.status])).toEqual(INTERNAL_SERVICES.map((s) => [s, true, 200]));

    const closed = `http://127.0.0.1:${await freePort()}`;
    const down = await checkInternalHealth(httpTargets({ ...urls, theme: closed }), INTERNAL_SERVICES, { attempts: 2, delayMs: 0 });
    expect(down.filter((r) => !r.ok).map((r) => [r.service, r.target, r.attempts])).toEqual([['theme', `${closed}/health`, 2]]);
    expect(down.find((r) => r.service === 'theme')!.error).toMatch(/service theme unreachable/);
  });

  test('internal --local reads npm run dev’s ports (PORT_<NAME>): exit 0 when all answer, 1 naming the one that does not', async () => {
    const ports = Object.fromEntries(SERVICE_NAMES.map((s) => [servicePortVariable(s), new URL(platform.urls[s]).port]));
    const ok = await release(['internal', '--local', '--attempts', '1'], ports);
    expect(ok.code).toBe(0);
    expect(byService(ok.lines)).toEqual({ 'core-llm': 'internal-ok', theme: 'internal-ok', order: 'internal-ok', client: 'internal-ok' });

    const failed = await release(['internal', '--local', '--attempts', '1'], { ...ports, [servicePortVariable('order')]: String(await freePort()) });
    expect(failed.code).toBe(1);
    expect(byService(failed.lines)).toEqual({ 'core-llm': 'internal-ok', theme: 'internal-ok', order: 'internal-failed', client: 'internal-ok' });
    expect(failed.lines.find((l) => l.service === 'order')).toMatchObject({ level: 'error' });
  });

  test('--local and --env together, or neither, is a usage error naming the option', async () => {
    const both = await release(['internal', '--local', '--env', 'dev'], {});
    expect(both.code).toBe(2);
    expect(both.lines.at(-1)).toMatchObject({ level: 'error', field: '--local' });
    const neither = await release(['internal'], {});
    expect(neither.code).toBe(2);
    expect(neither.lines.at(-1)).toMatchObject({ level: 'error', field: '--env' });
  });
});

describe('by Lambda Invoke of each live alias, as the deploy calls them', () => {
  let standIn: LambdaStandIn;
  const fn = (service: ServiceName) => `docplatform-dev-${service}`;
  const realHandler = (service: ServiceName) => toLambdaHandler(APPS[service](platform.runtimes[service] as never));

  beforeEach(async () => {
    standIn = await startLambdaStandIn();
    // Version 1 of every service is its real code; live points at it.
    for (const service of SERVICE_NAMES) {
      standIn.addFunction(fn(service), 3, '1');
      standIn.setHandler(fn(service), '1', (event) => realHandler(service)(event, {}));
    }
  });

  afterEach(async () => {
    await standIn.close();
  });

  test('every internal alias is invoked with the internal client’s GET /health event; the public ones are not', async () => {
    const run = await release(['internal', '--env', 'dev', '--attempts', '1'], { AWS_ENDPOINT_URL_LAMBDA: standIn.endpoint });
    expect(run.code).toBe(0);
    expect(byService(run.lines)).toEqual({ 'core-llm': 'internal-ok', theme: 'internal-ok', order: 'internal-ok', client: 'internal-ok' });
    expect(run.lines.find((l) => l.service === 'order')!.target).toBe('docplatform-dev-order:live');
    expect(standIn.invocations.map((i) => [i.functionName, i.qualifier, i.version]).sort()).toEqual(
      INTERNAL_SERVICES.map((s) => [fn(s), 'live', '1']).sort(),
    );
    for (const { event } of standIn.invocations) {
      const requestId = (event as { requestContext: { requestId: string } }).requestContext.requestId;
      expect(event).toEqual(toApiGatewayEvent({ method: 'GET', path: '/health' }, requestId));
    }
  });

  test('a deploy that moved one alias to a version that fails is caught, and the aliases restored from the snapshot pass again', async () => {
    const env = { AWS_ENDPOINT_URL_LAMBDA: standIn.endpoint };
    const file = join(mkdtempSync(join(tmpdir(), 'internal-health-')), 'aliases-before.json');
    expect((await release(['snapshot', '--env', 'dev', '--functions', 'all', '--out', file], env)).code).toBe(0);

    // The compute deploy moves order's alias to a version whose bundle cannot load (Lambda's Unhandled).
    standIn.setHandler(fn('order'), '2', async () => {
      throw Object.assign(new Error("Cannot find module 'knex'"), { name: 'Runtime.ImportModuleError' });
    });
    standIn.moveBehindTheScenes(fn('order'), '2');
    const broken = await release(['internal', '--env', 'dev', '--attempts', '2', '--delay-ms', '0'], env);
    expect(broken.code).toBe(1);
    expect(byService(broken.lines)).toEqual({ 'core-llm': 'internal-ok', theme: 'internal-ok', order: 'internal-failed', client: 'internal-ok' });
    expect(broken.lines.find((l) => l.service === 'order')!.error).toBe('service order failed: Unhandled');

    // A version that starts but answers 503 to everything (a failed start-up) fails it as well.
    standIn.setHandler(fn('client'), '2', async () => ({ statusCode: 503, headers: { 'content-type': 'application/json' }, body: '{"error":{"code":"service_unavailable"}}' }));
    standIn.moveBehindTheScenes(fn('client'), '2');
    const both = await release(['internal', '--env', 'dev', '--attempts', '1'], env);
    expect(byService(both.lines)).toMatchObject({ order: 'internal-failed', client: 'internal-failed' });
    expect(both.lines.find((l) => l.service === 'client')!.error).toBe('HTTP 503');

    // The workflow's "Move the live aliases back" step, then the check again.
    expect((await release(['restore', '--file', file], env)).code).toBe(0);
    expect(JSON.parse(readFileSync(file, 'utf8')).positions).toHaveLength(SERVICE_NAMES.length);
    expect([standIn.aliasVersion(fn('order')), standIn.aliasVersion(fn('client'))]).toEqual(['1', '1']);
    const restored = await release(['internal', '--env', 'dev', '--attempts', '1'], env);
    expect(restored.code).toBe(0);
  });

  test('a service that started without a secret passes with a warning giving the command that puts it', async () => {
    standIn.setHandler(fn('order'), '3', (event) => {
      const app = order(platform.runtimes.order as never);
      reportMissingSettings(app, () => ['ORDER_TOKEN_SECRET_ARN']);
      return toLambdaHandler(app)(event, {});
    });
    standIn.moveBehindTheScenes(fn('order'), '3');
    const run = await release(['internal', '--env', 'dev', '--attempts', '1'], { AWS_ENDPOINT_URL_LAMBDA: standIn.endpoint });
    expect(run.code).toBe(0);
    expect(run.lines.find((l) => l.service === 'order')).toMatchObject({
      level: 'warn',
      msg: 'internal-degraded',
      missing: ['ORDER_TOKEN_SECRET_ARN'],
      commands: [expect.stringMatching(/^aws secretsmanager put-secret-value --region eu-west-3 --secret-id docplatform-dev-order-token-secret /)],
    });
  });

  test('an Invoke the role may not make fails the check and names the permission', async () => {
    standIn.denyInvoke(fn('core-llm'));
    const run = await release(['internal', '--env', 'dev', '--attempts', '1'], { AWS_ENDPOINT_URL_LAMBDA: standIn.endpoint });
    expect(run.code).toBe(1);
    expect(run.lines.find((l) => l.service === 'core-llm')!.error).toMatch(
      /not authorized to perform: lambda:InvokeFunction .*needs lambda:InvokeFunction on the internal services' live aliases/,
    );
  });
});
