import autocannon from 'autocannon';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleFunctions, functionNames } from '../../scripts/build/bundle-function';
import { startTestPlatform } from '../../test/functions/platform';

/**
 * `npm run bench:lambda`: bundle size per function, cold init (fresh process loads the bundle
 * and serves a first API Gateway event) over COLD_RUNS processes, and warm p50/p99 with
 * autocannon against the local server. Targets: bundle < 1 MB, cold init < 150 ms median,
 * GET /b2c/themes warm p99 < 25 ms.
 */
const COLD_RUNS = Number(process.env.COLD_RUNS ?? 20);
const WARM_SECONDS = Number(process.env.WARM_SECONDS ?? 5);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const COLD_CHILD = `
const t0 = performance.now();
const { handler } = require(process.argv[1]);
handler({ resource: '/{proxy+}', path: '/health', httpMethod: 'GET', headers: {}, multiValueHeaders: {},
  queryStringParameters: null, multiValueQueryStringParameters: null, pathParameters: null, stageVariables: null,
  requestContext: { requestId: 'cold', httpMethod: 'GET', path: '/health', stage: 'bench', identity: { sourceIp: '127.0.0.1' } },
  body: null, isBase64Encoded: false }, {}).then((r) => {
  if (r.statusCode !== 200) { console.error(JSON.stringify(r)); process.exit(1); }
  process.stdout.write(String(performance.now() - t0));
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
    console.log('function       bundle KiB   cold init median ms (in-process)   cold wall median ms');
    for (const b of bundles) {
      const inProcess: number[] = [];
      const wall: number[] = [];
      for (let i = 0; i < COLD_RUNS; i++) {
        const start = performance.now();
        const ms = execFileSync(process.execPath, ['-e', COLD_CHILD, join(b.outDir, 'handler.js')], { env, cwd: out }).toString();
        wall.push(performance.now() - start);
        inProcess.push(Number(ms));
      }
      console.log(
        `${b.name.padEnd(14)} ${(b.handlerBytes / 1024).toFixed(1).padStart(10)}   ${median(inProcess).toFixed(1).padStart(32)}   ${median(wall).toFixed(1).padStart(19)}`,
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
    console.log('\nwarm (autocannon, 10 connections, %ds, local server, all services in one process)', WARM_SECONDS);
    for (const [name, r] of [['GET /b2c/themes', themes], ['POST /b2c/orders', orders]] as const) {
      console.log(
        `${name.padEnd(18)} p50 ${r.latency.p50} ms  p99 ${r.latency.p99} ms  ${Math.round(r.requests.average)} req/s  non-2xx ${r.non2xx}  errors ${r.errors}`,
      );
    }
  } finally {
    await platform.teardown();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
