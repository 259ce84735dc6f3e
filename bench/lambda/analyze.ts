import { analyzeMetafile, build, Metafile } from 'esbuild';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { functionNames, functionOptions } from '../../build/functions';
import { parseOptions, runCli, UsageError } from '../../core/cli';
import { createLogger, stderrSink } from '../../core/logger';

/**
 * `npm run bench:lambda:analyze [-- <function>… --verbose]`: what each function's bundle is made
 * of, from an esbuild metafile built with the compute stack's bundler options. Bytes are those
 * each package contributes to the minified output.
 */
const USAGE = `usage: npm run bench:lambda:analyze [-- <function>… --verbose]
  <function>…   the functions to show (default: every one)
  --verbose     also esbuild's analysis of each bundle, file by file`;

const log = createLogger({ component: 'bench-lambda-analyze' }, 'info', stderrSink);

const byPackage = (metafile: Metafile): [string, number][] => {
  const out = Object.values(metafile.outputs).find((o) => o.entryPoint)!;
  const sizes = new Map<string, number>();
  for (const [file, input] of Object.entries(out.inputs)) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1] ?? file.split('/').slice(0, 2).join('/');
    sizes.set(pkg, (sizes.get(pkg) ?? 0) + input.bytesInOutput);
  }
  return [...sizes].sort((a, b) => b[1] - a[1]);
};

async function main(argv: string[]): Promise<number> {
  const { values, positionals: names } = parseOptions({ args: argv, allowPositionals: true, options: { verbose: { type: 'boolean', default: false } } });
  const unknown = names.find((name) => !functionNames().includes(name));
  if (unknown !== undefined) throw new UsageError('function', `unknown "${unknown}" (known: ${functionNames().join(', ')})`);
  const out = mkdtempSync(join(tmpdir(), 'bench-lambda-analyze-'));
  try {
    for (const name of names.length > 0 ? names : functionNames()) {
      const { metafile } = await build({ ...functionOptions(name, 'runtime', join(out, name)), metafile: true });
      const total = Object.values(metafile.outputs).find((o) => o.entryPoint)!.bytes;
      console.log(`${name}: ${(total / 1024).toFixed(1)} KiB`);
      for (const [pkg, bytes] of byPackage(metafile).filter(([, b]) => b >= 2048)) {
        console.log(`  ${pkg.padEnd(40)} ${(bytes / 1024).toFixed(1).padStart(8)} KiB`);
      }
      if (values.verbose) console.log(await analyzeMetafile(metafile));
    }
    return 0;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

runCli(() => main(process.argv.slice(2)), { log, usage: USAGE });
