// Runs a command-line tool from its bundle with plain node (build/clis.ts says why), building
// the bundle first when it is missing or older than one of its inputs.
// Usage: node build/run-cli.cjs <name> [args…]   (package.json scripts, e.g. storage:move)
'use strict';
const { readFileSync, statSync } = require('node:fs');
const path = require('node:path');

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

async function main() {
  if (!fresh()) {
    require('tsx/cjs/api').register();
    await require('./clis.ts').bundleCli(name);
  }
  return require(bundle).main(process.argv.slice(3));
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
