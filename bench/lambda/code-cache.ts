import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleFunctions, functionNames } from '../../build/functions';
import { parseOptions, runCli } from '../../core/cli';
import { readEnv } from '../../core/config';
import { createLogger, stderrSink } from '../../core/logger';
import * as z from '../../core/zod';
import { formatLoad, loadAverage, median, printFigures } from '../figures';

/**
 * `npm run bench:lambda:code-cache`: what a V8 code cache shipped with a bundle would save at
 * cold start. Node 22's `module.enableCompileCache` writes the same V8 code cache this uses
 * (`vm.Script` cachedData, which Node 20 has too): one process loads handler.js, answers
 * `/health` and writes the cache (functions compiled by then included); then fresh processes
 * load it with and without that cache, interleaved, COLD_RUNS times. The cache is only accepted
 * by the same V8 version, flags and architecture that wrote it (`rejected` says when not).
 */
const USAGE = `usage: [COLD_RUNS=N] npm run bench:lambda:code-cache
  COLD_RUNS   processes per function with and without the cache, 1 to 1000 (default 12)`;

const log = createLogger({ component: 'bench-lambda-code-cache' }, 'info', stderrSink);

const envSchema = z.object({ COLD_RUNS: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(1000)), 12) });

const CHILD = `
const c0 = process.cpuUsage(); const t0 = performance.now();
const fs = require('fs'), vm = require('vm'), path = require('path'), Module = require('module');
const [file, cacheFile, mode] = process.argv.slice(1);
const script = new vm.Script(Module.wrap(fs.readFileSync(file, 'utf8')), { filename: file, ...(mode === 'cached' ? { cachedData: fs.readFileSync(cacheFile) } : {}) });
const m = new Module(file, module);
m.filename = file;
m.paths = Module._nodeModulePaths(path.dirname(file));
const req = Object.assign((id) => m.require(id), { resolve: (id) => Module._resolveFilename(id, m), cache: require.cache });
script.runInThisContext()(m.exports, req, m, file, path.dirname(file));
m.exports.handler({ resource: '/{proxy+}', path: '/health', httpMethod: 'GET', headers: {}, multiValueHeaders: {},
  queryStringParameters: null, multiValueQueryStringParameters: null, pathParameters: null, stageVariables: null,
  requestContext: { requestId: 'cold', httpMethod: 'GET', path: '/health', stage: 'bench', identity: { sourceIp: '127.0.0.1' } },
  body: null, isBase64Encoded: false }, {}).then((r) => {
  if (r.statusCode !== 200) { console.error(JSON.stringify(r)); process.exit(1); }
  const cpu = process.cpuUsage(c0);
  const out = { ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000, rejected: script.cachedDataRejected === true };
  if (mode === 'produce') { const data = script.createCachedData(); fs.writeFileSync(cacheFile, data); out.cacheBytes = data.length; }
  process.stdout.write(JSON.stringify(out));
});
`;

async function main(argv: string[]): Promise<number> {
  parseOptions({ args: argv, options: {} });
  const { COLD_RUNS } = readEnv(envSchema, process.env, 'bench:lambda:code-cache environment');
  const out = mkdtempSync(join(tmpdir(), 'bench-code-cache-'));
  const env = { PATH: process.env.PATH ?? '', APP_ENV: 'bench', LOG_LEVEL: 'error', DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres', NODE_PATH: join(__dirname, '..', '..', 'node_modules') };
  const loadBefore = loadAverage();
  try {
    const bundles = await bundleFunctions(functionNames(), 'runtime', out);
    const run = (handler: string, cache: string, mode: 'produce' | 'cached' | 'plain') =>
      JSON.parse(execFileSync(process.execPath, ['-e', CHILD, handler, cache, mode], { env, cwd: out }).toString()) as { ms: number; cpuMs: number; rejected: boolean; cacheBytes?: number };
    const figures: Record<string, { cacheKiB: number; plainCpuMs: number; cachedCpuMs: number; plainMs: number; cachedMs: number; rejected: boolean }> = {};
    console.log(`V8 code cache at cold start, node ${process.version}, ${COLD_RUNS} interleaved runs each (load average ${formatLoad()}; the machine may be shared)`);
    console.log('function       cache KiB   CPU ms plain → cached   wall ms plain → cached   rejected');
    for (const b of bundles) {
      const handler = join(b.outDir, 'handler.js');
      const cache = join(b.outDir, 'handler.cache');
      const produced = run(handler, cache, 'produce');
      const plain: { ms: number; cpuMs: number }[] = [];
      const cached: { ms: number; cpuMs: number; rejected: boolean }[] = [];
      for (let i = 0; i < COLD_RUNS; i++) {
        plain.push(run(handler, cache, 'plain'));
        cached.push(run(handler, cache, 'cached'));
      }
      const f = {
        cacheKiB: (produced.cacheBytes ?? 0) / 1024,
        plainCpuMs: median(plain.map((r) => r.cpuMs)),
        cachedCpuMs: median(cached.map((r) => r.cpuMs)),
        plainMs: median(plain.map((r) => r.ms)),
        cachedMs: median(cached.map((r) => r.ms)),
        rejected: cached.some((r) => r.rejected),
      };
      figures[b.name] = f;
      console.log(
        `${b.name.padEnd(14)} ${f.cacheKiB.toFixed(0).padStart(9)}   ${`${f.plainCpuMs.toFixed(1)} → ${f.cachedCpuMs.toFixed(1)}`.padStart(21)}   ${`${f.plainMs.toFixed(1)} → ${f.cachedMs.toFixed(1)}`.padStart(22)}   ${f.rejected ? 'yes' : 'no'}`,
      );
    }
    console.log(`load average at the end: ${formatLoad()}`);
    printFigures('lambda-code-cache', { coldRuns: COLD_RUNS, loadAverageBefore: loadBefore, functions: figures });
    return 0;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

runCli(() => main(process.argv.slice(2)), { log, usage: USAGE });
