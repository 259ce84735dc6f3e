import { build, BuildOptions, Plugin } from 'esbuild';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Bundles the Lambda services (`functions/<name>/handler.ts`, exporting `handler`) into
 * `<root>/<name>/handler.js` + `handler.js.map`, the folder the compute stack zips as a
 * TerraformAsset. `npm run build:functions` bundles all of them into `.build/functions/` and
 * prints their sizes.
 *
 * cdktf builds constructs synchronously but esbuild runs plugins only in its async API, so
 * `bundleFunction` (what the Lambda module calls) runs one child process that bundles every
 * function in parallel, once per synth process however many environments use them. A synth
 * bundles into a folder of its own (removed when the process exits): concurrent synths and
 * builds never zip each other's half-written output.
 */

export const REPO_ROOT = path.resolve(__dirname, '..');
export const FUNCTIONS_ROOT = path.join(REPO_ROOT, 'functions');
export const BUILD_ROOT = path.join(REPO_ROOT, '.build', 'functions');

/**
 * How the AWS SDK v3 reaches the function: `runtime` leaves every `@aws-sdk/*` import to the
 * copy the nodejs22.x runtime ships (smaller bundle, SDK version chosen by AWS); `bundled`
 * ships the version pinned in package-lock (larger bundle).
 */
export type SdkMode = 'runtime' | 'bundled';

/**
 * Optional modules left as `require` calls: `pg-native` (pg's native bindings) and
 * `pg-query-stream` (knex `.stream()`) are only required on request, which we never make.
 */
export const NEVER_LOADED = ['pg-native', 'pg-query-stream'];

/** knex's dialects other than postgres, which knex/lib/dialects/index.js loads lazily by name. */
export const UNUSED_KNEX_DIALECTS = [
  'better-sqlite3',
  'cockroachdb',
  'mariadb',
  'mssql',
  'mysql',
  'mysql2',
  'oracle',
  'oracledb',
  'pgnative',
  'redshift',
  'sqlite3',
];

const posix = (p: string) => p.split(path.sep).join('/');

/**
 * knex's other dialects become a module that throws if ever loaded: their drivers are not
 * installed (the bundle would not build) and their code is dead weight.
 */
const postgresOnlyKnex: Plugin = {
  name: 'postgres-only-knex',
  setup(b) {
    const filter = new RegExp(`^\\./(${UNUSED_KNEX_DIALECTS.join('|')})$`);
    b.onResolve({ filter }, (args) =>
      posix(args.resolveDir).endsWith('knex/lib/dialects') ? { path: args.path.slice(2), namespace: 'unused-knex-dialect' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'unused-knex-dialect' }, (args) => ({
      contents: `throw new Error('knex dialect "${args.path}" is not bundled: this function ships the postgres dialect only');`,
      loader: 'js',
    }));
  },
};

/**
 * zod v4 re-exports all of its ~45 error-message locales as `z.locales` (about 250 KB minified),
 * from the classic API and from zod/mini; the services use the English messages only, so
 * `z.locales` keeps `en` alone.
 */
const englishOnlyZod: Plugin = {
  name: 'english-only-zod',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /zod\/v4\/(classic|core|mini)$/.test(posix(args.resolveDir))
        ? { path: path.join(args.resolveDir, '..', 'locales', 'en.js'), namespace: 'zod-english-locales' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-english-locales' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      loader: 'js',
      resolveDir: path.dirname(args.path),
    }));
  },
};

/**
 * Two majors of mime-types pull two copies of mime-db's 140 KB JSON (koa's and
 * @koa/bodyparser's); the newest one is a superset, so every import gets it, trimmed to what
 * mime-types (its only reader) uses: the types with extensions or a charset, and of each its
 * `source`, `charset` and `extensions` (~70 KB; `compressible` and the ~1,500 types without
 * extensions serve other packages).
 */
const singleMimeDb: Plugin = {
  name: 'single-mime-db',
  setup(b) {
    const newest = require.resolve('mime-db', { paths: [REPO_ROOT] });
    b.onResolve({ filter: /^mime-db$/ }, () => ({ path: newest, namespace: 'trimmed-mime-db' }));
    b.onLoad({ filter: /.*/, namespace: 'trimmed-mime-db' }, () => {
      const db = require(newest) as Record<string, { source?: string; charset?: string; extensions?: string[] }>;
      const trimmed = Object.entries(db)
        .filter(([, t]) => t.extensions || t.charset)
        .map(([type, { source, charset, extensions }]) => [type, { source, charset, extensions }]);
      return { contents: JSON.stringify(Object.fromEntries(trimmed)), loader: 'json' };
    });
  },
};

export function esbuildOptions(name: string, sdk: SdkMode, outDir: string): BuildOptions {
  return {
    entryPoints: [path.join(FUNCTIONS_ROOT, name, 'handler.ts')],
    outfile: path.join(outDir, 'handler.js'),
    absWorkingDir: REPO_ROOT,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    minify: true,
    sourcemap: 'linked',
    // Stack traces need the mappings only; embedding the sources would double the zip.
    sourcesContent: false,
    legalComments: 'none',
    external: [...(sdk === 'runtime' ? ['@aws-sdk/*'] : []), ...NEVER_LOADED],
    // @google/genai's node entry adds google-auth-library, gaxios, ws and node-fetch (~300 KB)
    // for Vertex AI auth and Live sessions; core-llm calls the Gemini API with a key over the
    // platform fetch, which the web entry does with the same API.
    alias: { '@google/genai': '@google/genai/web' },
    plugins: [postgresOnlyKnex, englishOnlyZod, singleMimeDb],
    logLevel: 'silent',
  };
}

export interface BundleResult {
  name: string;
  /** Folder holding handler.js and handler.js.map: the asset to zip. */
  outDir: string;
  handlerBytes: number;
  sourceMapBytes: number;
}

/** Every file of a bundle gets this mtime, so the zip cdktf builds from identical code is byte-identical (no new Lambda version). */
const FIXED_MTIME = new Date('2000-01-01T00:00:00Z');

/** The services: every folder under functions/ with a handler.ts. */
export function functionNames(): string[] {
  return fs
    .readdirSync(FUNCTIONS_ROOT, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(FUNCTIONS_ROOT, d.name, 'handler.ts')))
    .map((d) => d.name)
    .sort();
}

export async function bundleFunctionTo(name: string, outDir: string, sdk: SdkMode = 'runtime'): Promise<BundleResult> {
  const entry = path.join(FUNCTIONS_ROOT, name, 'handler.ts');
  if (!fs.existsSync(entry)) throw new Error(`cannot bundle function "${name}": ${path.relative(REPO_ROOT, entry)} does not exist`);
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir, { recursive: true });
  try {
    await build(esbuildOptions(name, sdk, outDir));
  } catch (err) {
    const errors = (err as { errors?: Array<{ text: string; location?: { file: string; line: number } }> }).errors ?? [];
    const detail = errors.map((e) => (e.location ? `${e.location.file}:${e.location.line}: ${e.text}` : e.text)).join('; ');
    throw new Error(`bundling ${name} failed: ${detail || (err as Error).message}`);
  }
  const handler = path.join(outDir, 'handler.js');
  const map = `${handler}.map`;
  for (const file of [handler, map, outDir]) fs.utimesSync(file, FIXED_MTIME, FIXED_MTIME);
  return { name, outDir, handlerBytes: fs.statSync(handler).size, sourceMapBytes: fs.statSync(map).size };
}

export function bundleFunctions(names: string[], sdk: SdkMode = 'runtime', root: string = BUILD_ROOT): Promise<BundleResult[]> {
  return Promise.all(names.map((name) => bundleFunctionTo(name, path.join(root, name), sdk)));
}

const bundled = new Map<string, BundleResult>();
let synthRoot: string | undefined;

function ownBuildRoot(): string {
  if (!synthRoot) {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'docplatform-functions-'));
    process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));
    synthRoot = root;
  }
  return synthRoot;
}

/**
 * The bundle of `functions/<name>`, in a build folder private to this process. The first call
 * bundles every function (one child process, parallel builds); later calls reuse them.
 */
export function bundleFunction(name: string): BundleResult {
  if (!bundled.has(name)) {
    const names = functionNames();
    if (!names.includes(name)) throw new Error(`cannot bundle function "${name}": functions/${name}/handler.ts does not exist`);
    let stdout: string;
    try {
      stdout = execFileSync(process.execPath, [require.resolve('tsx/cli'), __filename, '--json', `--out=${ownBuildRoot()}`, ...names], {
        cwd: REPO_ROOT,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (err) {
      throw new Error(`bundling functions failed: ${(err as { stderr?: string }).stderr || (err as Error).message}`);
    }
    for (const result of JSON.parse(stdout) as BundleResult[]) bundled.set(result.name, result);
  }
  return bundled.get(name)!;
}

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

async function main(args: string[]): Promise<void> {
  const json = args.includes('--json');
  const out = args.find((a) => a.startsWith('--out='))?.slice('--out='.length) ?? BUILD_ROOT;
  const names = args.filter((a) => !a.startsWith('--'));
  const results = await bundleFunctions(names.length > 0 ? names : functionNames(), 'runtime', out);
  if (json) {
    process.stdout.write(JSON.stringify(results));
    return;
  }
  for (const r of results) {
    console.log(`${r.name.padEnd(12)} handler.js ${kib(r.handlerBytes).padStart(11)}  map ${kib(r.sourceMapBytes).padStart(11)}  ${path.relative(REPO_ROOT, r.outDir)}`);
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).catch((err: Error) => {
    console.error(err.message);
    process.exit(1);
  });
}
