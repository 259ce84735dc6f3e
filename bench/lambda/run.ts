import autocannon from 'autocannon';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUNDLE_LIMIT_BYTES, bundleFunctions, functionNames } from '../../build/functions';
import { parseOptions, runCli } from '../../core/cli';
import { readEnv } from '../../core/config';
import { createLogger, stderrSink } from '../../core/logger';
import { InternalRequest, toApiGatewayEvent } from '../../core/internal-client';
import * as z from '../../core/zod';
import { startTestPlatform } from '../../test/support/functions-platform';
import { formatLoad, loadAverage, median, printFigures } from '../figures';
import { bundleBaseline } from './baseline';

/**
 * `npm run bench:lambda`: bundle size per function, cold init (fresh process loads the bundle
 * and serves a first API Gateway event, GET /health) over COLD_RUNS processes, then in the same
 * process the service's first real request (FIRST_REQUESTS: what a cold start's first user
 * request adds, the driver and its connection included; init + first request is what that user
 * waits for), and warm p50/p99 with autocannon against the local server. Cold init is also measured for a baseline (baseline.ts:
 * Koa + @koa/router + serverless-http alone, same bundler), interleaved with the functions —
 * one process of each in turn, COLD_RUNS times — and each function's median is given as a
 * ratio to the baseline's. Targets: bundle < 600 KiB, cold init ≤ 1.5× the baseline and
 * ≤ 100 ms median, GET /b2c/themes warm p99 < 25 ms. The machine may be shared: the load
 * average is printed, and cold init also as CPU time (user + system), which other processes
 * disturb far less than wall time. `npm run bench:lambda:analyze` shows what each bundle is made of.
 */
const USAGE = `usage: [COLD_RUNS=N] [WARM_SECONDS=S] npm run bench:lambda
  COLD_RUNS      cold processes per function and for the baseline, 1 to 1000 (default 20)
  WARM_SECONDS   seconds of each warm autocannon run, 1 to 600 (default 5)`;

const log = createLogger({ component: 'bench-lambda' }, 'info', stderrSink);

const int = (min: number, max: number) => z.coerce.number().check(z.int(), z.minimum(min), z.maximum(max));
const envSchema = z.object({ COLD_RUNS: z._default(int(1, 1000), 20), WARM_SECONDS: z._default(int(1, 600), 5) });
const TARGET = { bundleKiB: BUNDLE_LIMIT_BYTES / 1024, coldOverBaseline: 1.5, coldMedianMs: 100, warmThemesP99Ms: 25 };

/**
 * Each database or Redis service's first real request after the cold /health, against the bench's
 * migrated and seeded PostgreSQL and the local Redis, with the status it must answer (a 404 still
 * ran its query). `run` keeps core-llm's prompt new, so every run misses the cache as a first
 * prompt does. The gateways call other services, so theirs would measure those too: not here.
 */
const FIRST_REQUESTS: Readonly<Record<string, (run: number) => InternalRequest & { status: number }>> = {
  theme: () => ({ method: 'GET', path: '/themes', status: 200 }),
  client: () => ({ method: 'GET', path: '/clients/00000000-0000-4000-8000-00000000b001', status: 404 }),
  order: () => ({ method: 'GET', path: '/orders/00000000-0000-4000-8000-00000000b002', query: { clientId: '00000000-0000-4000-8000-00000000b001' }, status: 404 }),
  'core-llm': (run) => ({
    method: 'POST',
    path: '/generate',
    body: { clientId: '00000000-0000-4000-8000-00000000b003', prompt: `Write about kettles (cold run ${run} ${Date.now()}).` },
    status: 200,
  }),
};

const COLD_CHILD = `
const c0 = process.cpuUsage();
const t0 = performance.now();
const { handler } = require(process.argv[1]);
const first = process.argv[2] && JSON.parse(process.argv[2]);
const fail = (r) => { console.error(JSON.stringify(r)); process.exit(1); };
handler({ resource: '/{proxy+}', path: '/health', httpMethod: 'GET', headers: {}, multiValueHeaders: {},
  queryStringParameters: null, multiValueQueryStringParameters: null, pathParameters: null, stageVariables: null,
  requestContext: { requestId: 'cold', httpMethod: 'GET', path: '/health', stage: 'bench', identity: { sourceIp: '127.0.0.1' } },
  body: null, isBase64Encoded: false }, {}).then(async (r) => {
  if (r.statusCode !== 200) fail(r);
  const cpu = process.cpuUsage(c0);
  const out = { ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 };
  if (first) {
    const c1 = process.cpuUsage();
    const t1 = performance.now();
    const answer = await handler(first.event, { getRemainingTimeInMillis: () => 10000 });
    if (answer.statusCode !== first.status) fail(answer);
    const firstCpu = process.cpuUsage(c1);
    Object.assign(out, { firstMs: performance.now() - t1, firstCpuMs: (firstCpu.user + firstCpu.system) / 1000 });
  }
  process.stdout.write(JSON.stringify(out));
  process.exit(0);
});
`;

interface ColdFigures {
  bundleKiB: number;
  coldMs: number;
  coldCpuMs: number;
  processMs: number;
  overBaseline: number;
  cpuOverBaseline: number;
  firstRequest?: { route: string; ms: number; cpuMs: number; initPlusFirstMs: number; initPlusFirstCpuMs: number };
}

async function main(argv: string[]): Promise<number> {
  parseOptions({ args: argv, options: {} });
  const { COLD_RUNS, WARM_SECONDS } = readEnv(envSchema, process.env, 'bench:lambda environment');
  const out = mkdtempSync(join(tmpdir(), 'bench-lambda-'));
  const loadBefore = loadAverage();
  // The migrated, seeded database (and Redis prefix) the first real requests read, then the warm runs' platform.
  const platform = await startTestPlatform('bench_lambda');
  const env = {
    PATH: process.env.PATH ?? '',
    APP_ENV: 'bench',
    LOG_LEVEL: 'error',
    DATABASE_URL: platform.database.url,
    REDIS_KEY_PREFIX: platform.redisPrefix,
    STRIPE_SECRET_KEY: 'sk_test_bench',
    STRIPE_WEBHOOK_SECRET: 'whsec_bench',
    NODE_PATH: join(__dirname, '..', '..', 'node_modules'),
  };
  const cold: Record<string, ColdFigures> = {};
  try {
    const bundles = [await bundleBaseline(join(out, 'baseline')), ...(await bundleFunctions(functionNames(), 'runtime', out))];
    console.log(`load average ${formatLoad()} (${COLD_RUNS} cold runs per function, interleaved with the baseline)`);
    const runs = new Map(bundles.map((b) => [b.name, { inProcess: [] as number[], cpu: [] as number[], wall: [] as number[], first: [] as number[], firstCpu: [] as number[] }]));
    for (let i = 0; i < COLD_RUNS; i++) {
      for (const b of bundles) {
        const r = runs.get(b.name)!;
        const request = FIRST_REQUESTS[b.name]?.(i);
        const first = request ? [JSON.stringify({ event: toApiGatewayEvent(request, `cold-first-${i}`), status: request.status })] : [];
        const start = performance.now();
        const run1 = JSON.parse(execFileSync(process.execPath, ['-e', COLD_CHILD, join(b.outDir, 'handler.js'), ...first], { env, cwd: out }).toString());
        r.wall.push(performance.now() - start);
        r.inProcess.push(run1.ms);
        r.cpu.push(run1.cpuMs);
        if (request) {
          r.first.push(run1.firstMs);
          r.firstCpu.push(run1.firstCpuMs);
        }
      }
    }
    const baselineMs = median(runs.get('baseline')!.inProcess);
    const baselineCpuMs = median(runs.get('baseline')!.cpu);
    console.log('function       bundle KiB  < 600   cold init median ms (in-process)  ≤ 100   × baseline  ≤ 1.5   cold init CPU median ms   × baseline (CPU)   process wall median ms');
    for (const b of bundles) {
      const r = runs.get(b.name)!;
      const ms = median(r.inProcess);
      const cpuMs = median(r.cpu);
      const row: ColdFigures = { bundleKiB: b.handlerBytes / 1024, coldMs: ms, coldCpuMs: cpuMs, processMs: median(r.wall), overBaseline: ms / baselineMs, cpuOverBaseline: cpuMs / baselineCpuMs };
      const request = FIRST_REQUESTS[b.name]?.(0);
      if (request) {
        // Medians of the per-process sums, not sums of medians.
        const sums = (a: number[], c: number[]) => median(a.map((v, i) => v + c[i]));
        row.firstRequest = {
          route: `${request.method} ${request.path.replace(/\/[0-9a-f-]{36}$/, '/:id')}`,
          ms: median(r.first),
          cpuMs: median(r.firstCpu),
          initPlusFirstMs: sums(r.inProcess, r.first),
          initPlusFirstCpuMs: sums(r.cpu, r.firstCpu),
        };
      }
      cold[b.name] = row;
      const ok = (yes: boolean) => (yes ? 'yes' : 'NO');
      console.log(
        `${b.name.padEnd(14)} ${row.bundleKiB.toFixed(1).padStart(10)}  ${ok(b.handlerBytes < BUNDLE_LIMIT_BYTES).padStart(5)}   ${ms.toFixed(1).padStart(32)}  ${ok(ms <= TARGET.coldMedianMs).padStart(5)}   ${row.overBaseline.toFixed(2).padStart(10)}  ${ok(row.overBaseline <= TARGET.coldOverBaseline).padStart(5)}   ${row.coldCpuMs.toFixed(1).padStart(23)}   ${row.cpuOverBaseline.toFixed(2).padStart(16)}   ${row.processMs.toFixed(1).padStart(22)}`,
      );
    }
    console.log('\nfirst real request after the cold /health, same processes (medians, ms; init + first = median of the per-process sums)');
    console.log('function       route                  first wall   first CPU   init + first wall   init + first CPU');
    for (const [name, { firstRequest: f }] of Object.entries(cold)) {
      if (!f) continue;
      console.log(
        `${name.padEnd(14)} ${f.route.padEnd(20)} ${f.ms.toFixed(1).padStart(12)} ${f.cpuMs.toFixed(1).padStart(11)} ${f.initPlusFirstMs.toFixed(1).padStart(19)} ${f.initPlusFirstCpuMs.toFixed(1).padStart(18)}`,
      );
    }
  } catch (err) {
    await platform.teardown();
    throw err;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }

  try {
    const base = platform.urls['gateway-b2c'];
    const run = (opts: autocannon.Options) => autocannon({ connections: 10, duration: WARM_SECONDS, ...opts });
    await run({ url: `${base}/b2c/themes`, duration: 1 });
    const themes = await run({ url: `${base}/b2c/themes` });
    // What the gateway's theme cache saves: the theme service's own answer, from PostgreSQL each time.
    const themeService = await run({ url: `${platform.urls.theme}/themes` });
    const orders = await run({
      url: `${base}/b2c/orders`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'bench@example.test', name: 'Bench', theme: 'product-sheet', input: { product: 'Kettle' } }),
      setupClient: (client) => {
        client.on('response', () => client.setHeaders({ 'content-type': 'application/json', 'idempotency-key': randomBytes(18).toString('base64url') }));
        client.setHeaders({ 'content-type': 'application/json', 'idempotency-key': randomBytes(18).toString('base64url') });
      },
    });
    console.log('\nwarm (autocannon, 10 connections, %ds, local server, all services in one process; load average %s)', WARM_SECONDS, formatLoad());
    const routes = [['GET /b2c/themes', themes], ['GET /themes (theme service, no cache)', themeService], ['POST /b2c/orders', orders]] as const;
    for (const [name, r] of routes) {
      console.log(
        `${name.padEnd(38)} p50 ${r.latency.p50} ms  p99 ${r.latency.p99} ms  ${Math.round(r.requests.average)} req/s  non-2xx ${r.non2xx}  errors ${r.errors}`,
      );
    }
    const functions = Object.entries(cold).filter(([name]) => name !== 'baseline');
    printFigures('lambda', {
      coldRuns: COLD_RUNS,
      loadAverageBefore: loadBefore,
      cold,
      warm: Object.fromEntries(routes.map(([name, r]) => [name, { p50Ms: r.latency.p50, p99Ms: r.latency.p99, requestsPerSecond: r.requests.average, non2xx: r.non2xx, errors: r.errors }])),
      target: TARGET,
      withinTarget:
        functions.every(([, f]) => f.bundleKiB < TARGET.bundleKiB && f.coldMs <= TARGET.coldMedianMs && f.overBaseline <= TARGET.coldOverBaseline) &&
        themes.latency.p99 < TARGET.warmThemesP99Ms,
    });
    return 0;
  } finally {
    // autocannon stops at its deadline without waiting for the requests in flight: let the
    // services finish them before their database and emulator go away.
    await new Promise((r) => setTimeout(r, 2000));
    await platform.teardown();
  }
}

runCli(() => main(process.argv.slice(2)), { log, usage: USAGE });
