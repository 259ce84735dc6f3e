// Runs a command-line tool from its bundle with plain node (build/clis.ts says why), building
// the bundle first when it is missing or older than one of its inputs, and compiling it with
// V8's code cache of an earlier run.
// Usage: node build/run-cli.cjs <name> [args…]   (package.json scripts, e.g. storage:move)
'use strict';
const { createHash } = require('node:crypto');
const { readFileSync, renameSync, statSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const vm = require('node:vm');

const repo = path.resolve(__dirname, '..');
const name = process.argv[2];
const bundle = path.join(repo, '.build', 'cli', `${name}.js`);

// The bundler's options are inputs of every bundle too: a bundle built before they changed is stale.
const BUNDLER = ['build/clis.ts', 'build/esbuild-base.ts'];

function fresh() {
  try {
    const built = statSync(bundle).mtimeMs;
    const inputs = JSON.parse(readFileSync(path.join(repo, '.build', 'cli', `${name}.inputs.json`), 'utf8'));
    return [...inputs, ...BUNDLER].every((f) => statSync(path.join(repo, f)).mtimeMs <= built);
  } catch {
    return false;
  }
}

/**
 * The bundle, compiled with the code V8 cached from an earlier run: compiling the bundle and the
 * functions a run calls (V8 compiles each on its first call) was a third of storage:move's start
 * (a run with nothing to copy: 0.119 -> 0.080 s of CPU). The cache sits beside the bundle,
 * headed by the SHA-256 of the source it was made from (V8's own check is little more than the
 * source's length) and a byte saying whether a whole run made it: one made by --help, which
 * calls little, is replaced by the next run's. Written aside and renamed, as the bundle is.
 */
function load(args) {
  const cacheFile = `${bundle}.v8cache`;
  const source = readFileSync(bundle, 'utf8');
  const digest = createHash('sha256').update(source).digest();
  let header;
  let cachedData;
  try {
    const file = readFileSync(cacheFile);
    if (file.subarray(0, 32).equals(digest)) [header, cachedData] = [file[32], file.subarray(33)];
  } catch {
    // No cache yet: this run makes one.
  }
  const script = new vm.Script(Module.wrap(source), { filename: bundle, cachedData, importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER });
  const m = new Module(bundle, module);
  m.filename = bundle;
  script.runInThisContext().call(m.exports, m.exports, Module.createRequire(bundle), m, bundle, path.dirname(bundle));
  const whole = args.includes('--help') ? 0 : 1;
  const keep = () => {
    if (cachedData && !script.cachedDataRejected && header >= whole) return;
    const aside = `${cacheFile}.${process.pid}.tmp`;
    try {
      writeFileSync(aside, Buffer.concat([digest, Buffer.from([whole]), script.createCachedData()]));
      renameSync(aside, cacheFile);
    } catch {
      // A cache not written only costs the next run its compile.
    }
  };
  return { main: m.exports.main, keep };
}

async function main() {
  // What runCli (core/cli.ts) does for the CLIs run from their source: the bundle's main is called
  // here without it, and the SDK's Node-version notice would be nine plain lines among the JSON ones.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  if (!fresh()) {
    require('tsx/cjs/api').register();
    await require('./clis.ts').bundleCli(name);
  }
  const args = process.argv.slice(3);
  const cli = load(args);
  const code = await cli.main(args);
  cli.keep();
  return code;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`${name}: ${err.message}\n`);
    process.exitCode = 3;
  },
);
