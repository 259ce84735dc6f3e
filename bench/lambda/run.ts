import autocannon from 'autocannon';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleFunctions, functionNames } from '../../build/functions';
import { startTestPlatform } from '../../test/support/functions-platform';

/**
 * `npm run bench:lambda`: bundle size per function, cold init (fresh process loads the bundle
 * and serves a first API Gateway event) over COLD_RUNS processes, and warm p50/p99 with
 * autocannon against the local server. Targets: bundle < 1 MB, cold init < 150 ms median,
 * GET /b2c/themes warm p99 < 25 ms. The machine may be shared: the load average is printed, and
 * cold init also as CPU time (user + system), which other processes disturb far less than wall time.
 * `npm run bench:lambda:analyze` shows what each bundle is made of.
 */
const MB = 1_000_000;
const COLD_RUNS = Number(process.env.COLD_RUNS ?? 20);
const WARM_SECONDS = Number(process.env.WARM_SECONDS ?? 5);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const COLD_CHILD = `
const c0 = process.cpuUsage();
const t0 = performance.now();
const { handler } = require(process.argv[1]);
handler({ resource: '/{proxy+}', path: '/health', httpMethod: 'GET', headers: {}, multiValueHeaders: {},
  queryStringParameters: null, multiValueQueryStringParameters: null, pathParameters: null, stageVariables: null,
  requestContext: { requestId: 'cold', httpMethod: 'GET', path: '/health', stage: 'bench', identity: { sourceIp: '127.0.0.1' } },
  body: null, isBase64Encoded: false }, {}).then((r) => {
  if (r.statusCode !== 200) { console.error(JSON.stringify(r)); process.exit(1); }
  const cpu = process.cpuUsage(c0);
  process.stdout.write(JSON.stringify({ ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 }));
});
`;

async function main(): Promise<void> {
  const out = mkdtempSync(join(tmpdir(), 'bench-lambda-'));
  const env = {
    PATH: process.env.PATH ?? '',
    APP_ENV: 'bench',
    LOG_LEVEL: 'error',
    DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
    STRIPE_SECRET_KEY: 'sk_test_bench',
    STRIPE_WEBHOOK_SECRET: 'whsec_bench',
    NODE_PATH: join(__dirname, '..', '..', 'node_modules'),
  };
  try {
    const bundles = await bundleFunctions(functionNames(), 'runtime', out);
    console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} (${COLD_RUNS} cold runs per function)`);
    console.log('function       bundle KiB  < 1 MB   cold init median ms (in-process)  < 150   cold init CPU median ms   process wall median ms');
    for (const b of bundles) {
      const inProcess: number[] = [];
      const cpu: number[] = [];
      const wall: number[] = [];
      for (let i = 0; i < COLD_RUNS; i++) {
        const start = performance.now();
        const run1 = JSON.parse(execFileSync(process.execPath, ['-e', COLD_CHILD, join(b.outDir, 'handler.js')], { env, cwd: out }).toString());
        wall.push(performance.now() - start);
        inProcess.push(run1.ms);
        cpu.push(run1.cpuMs);
      }
      const cold = median(inProcess);
      console.log(
        `${b.name.padEnd(14)} ${(b.handlerBytes / 1024).toFixed(1).padStart(10)}  ${(b.handlerBytes < MB ? 'yes' : 'NO').padStart(6)}   ${cold.toFixed(1).padStart(32)}  ${(cold < 150 ? 'yes' : 'NO').padStart(5)}   ${median(cpu).toFixed(1).padStart(23)}   ${median(wall).toFixed(1).padStart(22)}`,
      );
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }

  const platform = await startTestPlatform('bench_lambda');
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
    console.log('\nwarm (autocannon, 10 connections, %ds, local server, all services in one process; load average %s)', WARM_SECONDS, loadavg().map((l) => l.toFixed(2)).join(' '));
    const routes = [['GET /b2c/themes', themes], ['GET /themes (theme service, no cache)', themeService], ['POST /b2c/orders', orders]] as const;
    for (const [name, r] of routes) {
      console.log(
        `${name.padEnd(38)} p50 ${r.latency.p50} ms  p99 ${r.latency.p99} ms  ${Math.round(r.requests.average)} req/s  non-2xx ${r.non2xx}  errors ${r.errors}`,
      );
    }
  } finally {
    // autocannon stops at its deadline without waiting for the requests in flight: let the
    // services finish them before their database and emulator go away.
    await new Promise((r) => setTimeout(r, 2000));
    await platform.teardown();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
