import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { integerOption, parseOptions, runCli } from '../../core/cli';
import { createLogger, stderrSink } from '../../core/logger';
import { API_REQUEST, SPA_REWRITE } from '../../modules/edge-behaviour';
import { LOCAL_FRONTEND_BUCKET } from '../../scripts/local/defaults';
import { loadCloudFrontFunction, ViewerRequestEvent } from '../../scripts/local/edge/cloudfront-function';
import { frontendSource } from '../../scripts/local/edge/frontend-source';
import { startLocalEdge } from '../../scripts/local/edge/server';
import { emulatorS3Client } from '../../scripts/local/emulator';
import { publish } from '../../scripts/release/publish-frontend';
import { OPENAPI_PATH } from '../../scripts/openapi/document';
import { writeFrontendFixture } from '../../test/support/frontend-fixture';
import { startTestPlatform } from '../../test/support/functions-platform';
import { formatLoad, loadAverage, median, printFigures } from '../figures';

/**
 * `npm run bench:edge [-- --requests 300]`: what the local edge costs a request, side by side and
 * interleaved (A, B, A, B, … one request each, sequential, keep-alive):
 *  - API: `GET /b2c/themes` straight to gateway-b2c vs `GET /api/b2c/themes` through the edge
 *    (the API function executed, the request proxied);
 *  - front end: a deep link (`/orders/<id>`: SPA rewrite, index.html) from the folder vs from
 *    the emulator's bucket after a local publish;
 *  - the functions alone: one call of each CloudFront Function in its vm context.
 * Medians per request and the ratio B/A; the load average before and after (the machine may be shared).
 */
const USAGE = `usage: npm run bench:edge [-- --requests N]
  --requests N   interleaved requests per pair, 1 to 100000 (default 300)`;

const log = createLogger({ component: 'bench-edge' }, 'info', stderrSink);

async function timed(url: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const res = await fetch(url);
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`${url}: ${res.status}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function interleaved(a: string, b: string, requests: number): Promise<{ a: number; b: number; ratio: number }> {
  for (let i = 0; i < 20; i++) await Promise.all([timed(a), timed(b)]);
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < requests; i++) {
    ta.push(await timed(a));
    tb.push(await timed(b));
  }
  const [ma, mb] = [median(ta), median(tb)];
  return { a: ma, b: mb, ratio: mb / ma };
}

const event = (uri: string): ViewerRequestEvent => ({
  version: '1.0',
  context: { distributionDomainName: 'bench', distributionId: 'BENCH', eventType: 'viewer-request', requestId: 'r' },
  viewer: { ip: '127.0.0.1' },
  request: { method: 'GET', uri, querystring: {}, headers: { accept: { value: '*/*' } }, cookies: {} },
});

async function functionMicros(code: string, uri: string): Promise<number> {
  const fn = loadCloudFrontFunction('bench', code, { 'origin-verify': 'secret' });
  for (let i = 0; i < 1000; i++) await fn(event(uri));
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 10_000; i++) await fn(event(uri));
    rounds.push(Number(process.hrtime.bigint() - t0) / 1e3 / 10_000);
  }
  return median(rounds);
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseOptions({ args: argv, options: { requests: { type: 'string' } } });
  const requests = integerOption('--requests', values.requests, { min: 1, max: 100_000 }, 300);
  console.log(`local edge: ${requests} interleaved requests per pair (node ${process.version})`);
  const loadBefore = loadAverage();
  console.log(`load average before: ${formatLoad()}`);
  const platform = await startTestPlatform('bench_edge');
  const dist = writeFrontendFixture();
  const s3 = emulatorS3Client(platform.emulator.endpoint);
  const common = { gateways: { b2c: platform.urls['gateway-b2c'], b2b: platform.urls['gateway-b2b'] }, originSecret: 'bench', openApiFile: join(__dirname, '..', '..', OPENAPI_PATH) };
  const folder = await startLocalEdge({ ...common, frontend: frontendSource('folder', platform.emulator.endpoint, dist) });
  const bucket = await startLocalEdge({ ...common, frontend: frontendSource('bucket', platform.emulator.endpoint) });
  try {
    await publish({ s3, bucket: LOCAL_FRONTEND_BUCKET, distDir: dist, pruneAfterDays: 7, cacheControlMetadata: true });
    const api = await interleaved(`${platform.urls['gateway-b2c']}/b2c/themes`, `${folder.url}/api/b2c/themes`, requests);
    const deepLink = '/orders/6f1c2b4e-8a3d-4c5e-9f10-1a2b3c4d5e6f';
    const spa = await interleaved(`${folder.url}${deepLink}`, `${bucket.url}${deepLink}`, requests);
    const fnApi = await functionMicros(API_REQUEST, '/api/b2c/themes');
    const fnSpa = await functionMicros(SPA_REWRITE, deepLink);
    const loadAfter = loadAverage();
    console.log('');
    console.log('| pair | A (median ms) | B (median ms) | B/A |');
    console.log('|---|---|---|---|');
    console.log(`| GET /b2c/themes: A gateway direct, B through the edge | ${api.a.toFixed(2)} | ${api.b.toFixed(2)} | ${api.ratio.toFixed(2)} |`);
    console.log(`| deep link: A from the folder, B from the bucket | ${spa.a.toFixed(2)} | ${spa.b.toFixed(2)} | ${spa.ratio.toFixed(2)} |`);
    console.log('');
    console.log(`one call of the API function: ${fnApi.toFixed(1)} µs; of the SPA rewrite: ${fnSpa.toFixed(1)} µs (median of 5 × 10,000)`);
    console.log(`load average after: ${formatLoad()}`);
    printFigures('edge', {
      requests,
      apiDirectMs: api.a,
      apiThroughEdgeMs: api.b,
      apiRatio: api.ratio,
      deepLinkFolderMs: spa.a,
      deepLinkBucketMs: spa.b,
      deepLinkRatio: spa.ratio,
      apiFunctionMicros: fnApi,
      spaFunctionMicros: fnSpa,
      loadBefore,
      loadAfter,
    });
    return 0;
  } finally {
    s3.destroy();
    await folder.close();
    await bucket.close();
    await platform.teardown();
    rmSync(dist, { recursive: true, force: true });
  }
}

// The run is over once the figures are out: a socket or timer the teardown leaves behind must not hold the process.
runCli(() => main(process.argv.slice(2)).then((code) => process.exit(code)), { log, usage: USAGE });
