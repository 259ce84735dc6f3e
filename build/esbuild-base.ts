import { BuildOptions, Plugin } from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The esbuild options every bundle of the repository shares: the Lambda functions
 * (`build/functions.ts`) and the Fargate workers (`build/workers.ts`) extend `BASE_OPTIONS` with
 * their entry point, output file, externals and aliases. Node 22 CommonJS, minified, a linked
 * source map without the sources, postgres-only knex, standalone-only ioredis, `debug` only
 * when DEBUG is set, English-only zod, one trimmed mime-db, pg without its Cloudflare probe and
 * ioredis's command table written in setup mode.
 */

export const REPO_ROOT = path.resolve(__dirname, '..');

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
 * ioredis's cluster client (`Redis.Cluster`, `new Cluster(…)`) becomes a class that throws if
 * ever constructed: the platform talks to one endpoint with the standalone client (core/redis.ts;
 * ElastiCache Serverless is reached through its single endpoint), and evaluating the cluster
 * modules cost ~1.6 ms of CPU at core-llm's cold start (40 interleaved processes) for 32 KiB.
 */
const standaloneIoredis: Plugin = {
  name: 'standalone-ioredis',
  setup(b) {
    b.onResolve({ filter: /^\.\/cluster$/ }, (args) => (posix(args.resolveDir).endsWith('ioredis/built') ? { path: 'ioredis/built/cluster', namespace: 'unused-ioredis-cluster' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'unused-ioredis-cluster' }, () => ({
      contents: `exports.default = class Cluster { constructor() { throw new Error('ioredis Cluster is not bundled: this bundle ships the standalone client only'); } };`,
      loader: 'js',
    }));
  },
};

/**
 * `debug` (knex's and ioredis's logging) evaluated only when DEBUG is set at start: unset, it
 * enables no namespace, and evaluating it (colour support, tty, the DEBUG_* options) cost
 * 1.2-2.5 ms of CPU at every cold start (40 interleaved processes). Without DEBUG a bundle gets
 * what debug gives then, every namespace disabled; with DEBUG it gets debug itself. Nothing in
 * the bundles enables a namespace at run time.
 */
const debugWhenSet: Plugin = {
  name: 'debug-when-set',
  setup(b) {
    b.onResolve({ filter: /^debug$/ }, async (args) => {
      if (args.pluginData === 'debug-itself') return undefined;
      const itself = await b.resolve('debug', { resolveDir: args.resolveDir, kind: args.kind, importer: args.importer, pluginData: 'debug-itself' });
      return itself.errors.length > 0 ? { errors: itself.errors } : { path: itself.path, namespace: 'debug-when-set' };
    });
    b.onLoad({ filter: /.*/, namespace: 'debug-when-set' }, (args) => ({
      contents: `function disabled(namespace) {
  const debug = () => {};
  Object.assign(debug, { namespace, enabled: false, useColors: false, color: 0, diff: 0, destroy: () => false });
  debug.extend = (sub, delimiter) => disabled(namespace + (delimiter === undefined ? ':' : delimiter) + sub);
  return debug;
}
disabled.default = disabled;
disabled.debug = disabled;
disabled.enabled = () => false;
module.exports = process.env.DEBUG ? require(${JSON.stringify(args.path)}) : disabled;`,
      loader: 'js',
      resolveDir: path.dirname(args.path),
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
 * Two majors of mime-types pull two copies of mime-db's 140 KB JSON (koa's own and its
 * `accepts`'s); the newest one is a superset, so every import gets it, trimmed to what
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

/**
 * A dependency file with its one `anchor` replaced by `replacement`. The build fails when the
 * anchor is gone or ambiguous (an upgraded package), so a patch never silently stops applying.
 */
export function patchAt(name: string, file: RegExp, anchor: string, replacement: string): Plugin {
  return {
    name,
    setup(b) {
      b.onLoad({ filter: file }, (args) => {
        const source = fs.readFileSync(args.path, 'utf8');
        const at = source.indexOf(anchor);
        if (at < 0 || source.indexOf(anchor, at + 1) >= 0) throw new Error(`${name}: ${args.path} no longer holds "${anchor}" once; review the patch for this version`);
        return { contents: source.slice(0, at) + replacement + source.slice(at + anchor.length), loader: 'js' };
      });
    },
  };
}

/**
 * pg picks its sockets at load by probing for Cloudflare Workers: on Node 20, which has no
 * `navigator`, the probe builds a `Response`, and that loads undici (~12 ms of CPU in the theme
 * bundle's first query). Every bundle here runs on Node, so pg takes its Node sockets (net, tls)
 * without the probe.
 */
const nodeSocketsPg = patchAt('node-sockets-pg', /[\\/]pg[\\/]lib[\\/]stream\.js$/, 'function getStreamFuncs() {', 'function getStreamFuncs() {\n  return getNodejsStreamFuncs();');

/**
 * ioredis writes its ~290 commands, twice each (string and Buffer replies), onto
 * `Commander.prototype` at load. V8 adds each property to a class prototype that nothing inherits
 * from yet in fast mode, copying the prototype's descriptors every time (~6 ms of CPU at a cold
 * start here); once an object inherits from it the prototype is in setup mode, and the same 580
 * assignments take ~0.3 ms. So an object inherits from it first; the prototype ends with the same
 * own properties.
 */
const fastIoredisCommands = patchAt(
  'fast-ioredis-commands',
  /[\\/]ioredis[\\/]built[\\/]utils[\\/]Commander\.js$/,
  'commands.forEach(function (commandName) {',
  'Object.create(Commander.prototype);\ncommands.forEach(function (commandName) {',
);

/** The options every bundle shares (read-only: a bundle extends them with `extendBase`). */
export const BASE_OPTIONS: Readonly<BuildOptions> = Object.freeze({
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
  external: NEVER_LOADED,
  plugins: [postgresOnlyKnex, standaloneIoredis, debugWhenSet, englishOnlyZod, singleMimeDb, nodeSocketsPg, fastIoredisCommands],
  logLevel: 'silent',
} satisfies BuildOptions);

/**
 * A bundle's options: the base plus the bundle's own (entry point, output file, alias, …). Its
 * `external` and `plugins` are added to the base's, never in place of them.
 */
export function extendBase(own: BuildOptions): BuildOptions {
  return {
    ...BASE_OPTIONS,
    ...own,
    external: [...BASE_OPTIONS.external!, ...(own.external ?? [])],
    plugins: [...BASE_OPTIONS.plugins!, ...(own.plugins ?? [])],
  };
}
