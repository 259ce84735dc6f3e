import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { builtinModules } from 'node:module';
import { promisify } from 'node:util';
import knexFactory from 'knex';
import { NEVER_LOADED, REPO_ROOT } from '../../build/esbuild-base';
import { BundleResult, bundleFunctions, functionNames, LAZY_CHUNKS } from '../../build/functions';
import { migrateLatest, seed } from '../../migrations/migrate';
import { createTestDatabase, TestDatabase } from '../support/postgres';

/**
 * The Lambda bundles as the nodejs22.x runtime loads them: each handler.js is required by a
 * fresh Node process in which only the AWS SDK resolves from outside the bundle (NODE_PATH
 * stands in for the runtime's copy), then fed an API Gateway REST proxy event.
 */
const run = promisify(execFile);
let outDir: string;
let bundles: BundleResult[];
let db: TestDatabase;

const INVOKE = `
const { handler } = require(process.argv[1]);
const [method, path] = [process.argv[2], process.argv[3]];
const event = {
  resource: '/{proxy+}', path, httpMethod: method, headers: { accept: 'application/json' },
  multiValueHeaders: { accept: ['application/json'] }, queryStringParameters: null,
  multiValueQueryStringParameters: null, pathParameters: { proxy: path.slice(1) }, stageVariables: null,
  requestContext: { requestId: 'bundle-test', stage: 'v1', httpMethod: method, path: '/v1' + path, identity: { sourceIp: '127.0.0.1' } },
  body: null, isBase64Encoded: false,
};
handler(event, { awsRequestId: 'bundle-test', getRemainingTimeInMillis: () => 10000 })
  .then((r) => { process.stdout.write(JSON.stringify(r)); process.exit(0); })
  .catch((e) => { console.error(e); process.exit(1); });
`;

async function invoke(bundle: BundleResult, method: string, urlPath: string): Promise<{ statusCode: number; body: any }> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    NODE_PATH: path.join(REPO_ROOT, 'node_modules'),
    NODE_OPTIONS: '--enable-source-maps',
    APP_ENV: 'test',
    LOG_LEVEL: 'error',
    DATABASE_URL: db.url,
    REDIS_URL: 'redis://127.0.0.1:6379',
    REDIS_KEY_PREFIX: `bundle-test-${process.pid}:`,
  };
  const { stdout } = await run(process.execPath, ['-e', INVOKE, path.join(bundle.outDir, 'handler.js'), method, urlPath], {
    cwd: os.tmpdir(),
    env,
  });
  const response = JSON.parse(stdout);
  return { statusCode: response.statusCode, body: JSON.parse(response.body) };
}

beforeAll(async () => {
  outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bundle-test-'));
  db = await createTestDatabase('bundle_test');
  const knex = knexFactory({ client: 'pg', connection: db.url });
  try {
    await migrateLatest(knex);
    await seed(knex);
  } finally {
    await knex.destroy();
  }
  bundles = await bundleFunctions(functionNames(), 'runtime', outDir);
}, 120_000);

afterAll(async () => {
  fs.rmSync(outDir, { recursive: true, force: true });
  await db?.drop();
});

test('the six services are bundled', () => {
  expect(bundles.map((b) => b.name).sort()).toEqual(['client', 'core-llm', 'gateway-b2b', 'gateway-b2c', 'order', 'theme']);
});

test('a bundle requires nothing but Node built-ins, the runtime’s AWS SDK, never-loaded optional drivers and its lazy chunks, which sit beside it', () => {
  const chunks = Object.values(LAZY_CHUNKS).map((c) => `./${c.file}`);
  const allowed = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`), ...NEVER_LOADED, ...chunks]);
  for (const b of bundles) {
    const code = fs.readFileSync(path.join(b.outDir, 'handler.js'), 'utf8');
    const required = [...code.matchAll(/(?:require|import)\("([^"]+)"\)/g)].map((m) => m[1]);
    for (const chunk of required.filter((r) => chunks.includes(r))) expect(fs.existsSync(path.join(b.outDir, chunk))).toBe(true);
    const foreign = required.filter((r) => !allowed.has(r) && !r.startsWith('@aws-sdk/'));
    expect({ name: b.name, foreign }).toEqual({ name: b.name, foreign: [] });
  }
});

test('bundles ship a source map without embedded sources', () => {
  for (const b of bundles) {
    const code = fs.readFileSync(path.join(b.outDir, 'handler.js'), 'utf8');
    expect(code.trimEnd().endsWith('//# sourceMappingURL=handler.js.map')).toBe(true);
    const map = JSON.parse(fs.readFileSync(path.join(b.outDir, 'handler.js.map'), 'utf8'));
    expect(map.sourcesContent).toBeUndefined();
    expect(map.mappings.length).toBeGreaterThan(0);
  }
});

test('every bundle loads in a fresh process and answers GET /health through an API Gateway event', async () => {
  for (const b of bundles) {
    const res = await invoke(b, 'GET', '/health');
    expect({ name: b.name, ...res }).toEqual({ name: b.name, statusCode: 200, body: { status: 'ok', service: b.name } });
  }
}, 60_000);

test('the theme bundle queries PostgreSQL through knex’s postgres dialect', async () => {
  const theme = bundles.find((b) => b.name === 'theme')!;
  const res = await invoke(theme, 'GET', '/themes');
  expect(res.statusCode).toBe(200);
  expect(JSON.stringify(res.body)).toMatch(/"slug"/);
}, 30_000);

test('identical code gives byte-identical bundle files with a fixed mtime (no new Lambda version)', async () => {
  const again = fs.mkdtempSync(path.join(os.tmpdir(), 'bundle-test-again-'));
  try {
    const [first] = bundles.filter((b) => b.name === 'client');
    const [second] = await bundleFunctions(['client'], 'runtime', again);
    for (const file of ['handler.js', 'handler.js.map']) {
      expect(fs.readFileSync(path.join(second.outDir, file)).equals(fs.readFileSync(path.join(first.outDir, file)))).toBe(true);
      expect(fs.statSync(path.join(second.outDir, file)).mtime.toISOString()).toBe('2000-01-01T00:00:00.000Z');
    }
  } finally {
    fs.rmSync(again, { recursive: true, force: true });
  }
}, 60_000);
