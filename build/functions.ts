import { build, BuildOptions, Plugin } from 'esbuild';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { eagerModuleFactories } from './eager-modules';
import { extendBase, patchAt, REPO_ROOT } from './esbuild-base';

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

export const FUNCTIONS_ROOT = path.join(REPO_ROOT, 'functions');
export const BUILD_ROOT = path.join(REPO_ROOT, '.build', 'functions');

/**
 * How the AWS SDK v3 reaches the function: `runtime` leaves every `@aws-sdk/*` import to the
 * copy the nodejs22.x runtime ships (smaller bundle, SDK version chosen by AWS); `bundled`
 * ships the version pinned in package-lock (larger bundle).
 */
export type SdkMode = 'runtime' | 'bundled';

/**
 * Packages a function loads with `import()` on first use, shipped beside handler.js as a file
 * of their own instead of inside it: esbuild's CommonJS output has no code splitting, so a
 * lazily imported package would otherwise still be read and parsed at every cold start.
 * @google/genai is core-llm's largest module (~400 KiB) and is needed only when a prompt misses
 * the cache, after which the call waits seconds for the model anyway. Its web entry: the node
 * entry adds google-auth-library, gaxios, ws and node-fetch (~300 KB) for Vertex AI auth and
 * Live sessions; core-llm calls the Gemini API with a key over the platform fetch, which the web
 * entry does with the same API.
 */
export const LAZY_CHUNKS: Readonly<Record<string, { file: string; entry: string }>> = {
  '@google/genai': { file: 'genai.mjs', entry: '@google/genai/web' },
  // gateway-b2c's largest module (~240 KiB), needed by a payment, not by the theme list.
  stripe: { file: 'stripe.mjs', entry: 'stripe' },
};

/** A dynamic import of a lazy chunk's package becomes an import of its file beside handler.js. */
const lazyChunks: Plugin = {
  name: 'lazy-chunks',
  setup(b) {
    const filter = new RegExp(`^(${Object.keys(LAZY_CHUNKS).map((p) => p.replace(/[/@]/g, '\\$&')).join('|')})$`);
    b.onResolve({ filter }, (args) => (args.kind === 'dynamic-import' ? { path: `./${LAZY_CHUNKS[args.path].file}`, external: true } : undefined));
    // A static import (none today) is bundled, from the same entry as the chunk's.
  },
};

/**
 * knex's modules that only migrations, seeds and schema building (`knex.migrate`, `knex.seed`,
 * `knex.schema`) construct, which no service calls (the schema is `npm run db:migrate`'s, a
 * bundle of its own): each becomes a class that throws when constructed, naming itself. knex
 * still requires them at load, and evaluating them cost ~3 ms of CPU at every cold start of the
 * database services (~59 KiB of their handler.js). Queries, transactions and the pool are untouched.
 */
export const QUERIES_ONLY_KNEX = [
  'migrations/migrate/Migrator',
  'migrations/seed/Seeder',
  ...['builder', 'compiler', 'tablebuilder', 'tablecompiler', 'columnbuilder', 'columncompiler', 'viewbuilder', 'viewcompiler'].map((m) => `schema/${m}`),
  ...['compiler', 'tablecompiler', 'columncompiler', 'viewbuilder', 'viewcompiler'].map((m) => `dialects/postgres/schema/pg-${m}`),
];

const queriesOnlyKnex: Plugin = {
  name: 'queries-only-knex',
  setup(b) {
    const filter = new RegExp(`[\\\\/]knex[\\\\/]lib[\\\\/](${QUERIES_ONLY_KNEX.join('|').replace(/\//g, '[\\\\/]')})\\.js$`);
    b.onLoad({ filter }, (args) => {
      const module = filter.exec(args.path)![1].replace(/\\/g, '/');
      const name = path.basename(module);
      const notBundled = `class NotBundled { constructor() { throw new Error(${JSON.stringify(`knex/lib/${module} is not bundled: a function runs queries, never migrations, seeds or schema changes`)}); } static extend() { new NotBundled(); } }`;
      // Migrator.js exports { Migrator }, every other one its class.
      return { contents: `${notBundled}\nmodule.exports = ${name === 'Migrator' ? '{ Migrator: NotBundled }' : 'NotBundled'};`, loader: 'js' };
    });
  },
};

/**
 * mime-types (koa's 3.x and accepts' 2.x) fills its extension → type and type → extensions
 * tables at load, a pass over all of mime-db: 3.5-4.6 ms of CPU at every cold start, the largest
 * module evaluation of the baseline and of every function. Only `lookup`, `extension` and a
 * `contentType` of a bare extension read them, which the services' JSON answers no longer make
 * (functions/shared/http.ts), so the tables are filled on the first read of `types` or
 * `extensions`, the same objects with the same entries. The bench's baseline is bundled with it too.
 */
export const lazyMimeMaps = patchAt(
  'lazy-mime-maps',
  /[\\/]mime-types[\\/]index\.js$/,
  'populateMaps(exports.extensions, exports.types)',
  `var lazyMaps = { extensions: exports.extensions, types: exports.types }, mapsPopulated = false;
function populatedMaps(name) {
  if (!mapsPopulated) { mapsPopulated = true; populateMaps(lazyMaps.extensions, lazyMaps.types); }
  return lazyMaps[name];
}
['extensions', 'types'].forEach(function (name) {
  Object.defineProperty(exports, name, {
    enumerable: true,
    configurable: true,
    get: function () { return populatedMaps(name); },
    set: function (value) { populatedMaps(name); lazyMaps[name] = value; },
  });
});`,
);

/**
 * A function's options: the shared base (`build/esbuild-base.ts`) plus its handler as entry, the
 * runtime's AWS SDK left external when `sdk` is `runtime`, and the lazy chunks left to their own files.
 */
export function functionOptions(name: string, sdk: SdkMode, outDir: string): BuildOptions {
  return extendBase({
    entryPoints: [path.join(FUNCTIONS_ROOT, name, 'handler.ts')],
    outfile: path.join(outDir, 'handler.js'),
    external: sdk === 'runtime' ? ['@aws-sdk/*'] : [],
    plugins: [lazyChunks, queriesOnlyKnex, lazyMimeMaps],
    alias: Object.fromEntries(Object.entries(LAZY_CHUNKS).filter(([pkg, chunk]) => pkg !== chunk.entry).map(([pkg, chunk]) => [pkg, chunk.entry])),
  });
}

/** The lazy chunks a function's handler.js imports, each bundled to its file in `outDir`. */
async function bundleLazyChunks(handlerImports: string[], sdk: SdkMode, outDir: string): Promise<void> {
  for (const chunk of Object.values(LAZY_CHUNKS)) {
    if (!handlerImports.includes(`./${chunk.file}`)) continue;
    // An ES module, so that `import()` sees the package's own exports (its default included)
    // rather than a CommonJS object standing for them.
    await build(extendBase({ entryPoints: [chunk.entry], outfile: path.join(outDir, chunk.file), format: 'esm', external: sdk === 'runtime' ? ['@aws-sdk/*'] : [] }));
  }
}

/** Largest handler.js of a function: what the cold start reads and compiles grows with it. */
export const BUNDLE_LIMIT_BYTES = 600 * 1024;

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
    const { metafile } = await build({ ...functionOptions(name, sdk, outDir), metafile: true });
    const imports = Object.values(metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path));
    await bundleLazyChunks(imports, sdk, outDir);
    for (const file of fs.readdirSync(outDir).filter((f) => /\.m?js$/.test(f))) eagerModuleFactories(path.join(outDir, file));
  } catch (err) {
    const errors = (err as { errors?: Array<{ text: string; location?: { file: string; line: number } }> }).errors ?? [];
    const detail = errors.map((e) => (e.location ? `${e.location.file}:${e.location.line}: ${e.text}` : e.text)).join('; ');
    throw new Error(`bundling ${name} failed: ${detail || (err as Error).message}`);
  }
  const handler = path.join(outDir, 'handler.js');
  const map = `${handler}.map`;
  for (const file of [...fs.readdirSync(outDir).map((f) => path.join(outDir, f)), outDir]) fs.utimesSync(file, FIXED_MTIME, FIXED_MTIME);
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

const USAGE = 'usage: npm run build:functions [-- <function>… --out=DIR --json]   every function when none is named, into .build/functions';

/**
 * The command line, where bad input is exit 2 with a line naming it and the usage, and --help the
 * usage on stdout: core/cli.ts's rule, written out here because build/ may import only the
 * contract (test/architecture/imports.test.ts). An option it does not know is refused, not
 * ignored: `--ouut=dir` would otherwise build every function into .build/functions.
 */
function commandLine(args: string[]): { json: boolean; out: string; names: string[] } | number {
  let parsed;
  try {
    parsed = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean', default: false }, out: { type: 'string', default: BUILD_ROOT }, help: { type: 'boolean', short: 'h', default: false } } });
  } catch (err) {
    const option = /'(?:-\w, )?(-{1,2}[\w-]+)/.exec((err as Error).message)?.[1] ?? 'arguments';
    const { code, message } = err as { code?: string; message: string };
    const why = code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? 'unknown option (known: --json, --out)' : /argument missing/.test(message) ? 'needs a value' : message.split('\n')[0];
    process.stderr.write(`${option}: ${why}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals: names } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const known = functionNames();
  const unknown = names.find((n) => !known.includes(n));
  if (unknown !== undefined) {
    process.stderr.write(`function: no functions/${unknown}/handler.ts (have: ${known.join(', ')})\n${USAGE}\n`);
    return 2;
  }
  return { json: values.json, out: values.out, names: names.length > 0 ? names : known };
}

async function main(args: string[]): Promise<number> {
  const options = commandLine(args);
  if (typeof options === 'number') return options;
  const results = await bundleFunctions(options.names, 'runtime', options.out);
  if (options.json) {
    process.stdout.write(JSON.stringify(results));
    return 0;
  }
  for (const r of results) {
    console.log(`${r.name.padEnd(12)} handler.js ${kib(r.handlerBytes).padStart(11)}  map ${kib(r.sourceMapBytes).padStart(11)}  ${path.relative(REPO_ROOT, r.outDir)}`);
  }
  return 0;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: Error) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
