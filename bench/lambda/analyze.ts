import { analyzeMetafile, build, Metafile } from 'esbuild';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { functionNames, functionOptions } from '../../build/functions';

/**
 * `npm run bench:lambda:analyze [-- <function>… --verbose]`: what each function's bundle is made
 * of, from an esbuild metafile built with the compute stack's bundler options. Bytes are those
 * each package contributes to the minified output.
 */
const byPackage = (metafile: Metafile): [string, number][] => {
  const out = Object.values(metafile.outputs).find((o) => o.entryPoint)!;
  const sizes = new Map<string, number>();
  for (const [file, input] of Object.entries(out.inputs)) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1] ?? file.split('/').slice(0, 2).join('/');
    sizes.set(pkg, (sizes.get(pkg) ?? 0) + input.bytesInOutput);
  }
  return [...sizes].sort((a, b) => b[1] - a[1]);
};

async function main(args: string[]): Promise<void> {
  const verbose = args.includes('--verbose');
  const names = args.filter((a) => !a.startsWith('--'));
  const out = mkdtempSync(join(tmpdir(), 'bench-lambda-analyze-'));
  try {
    for (const name of names.length > 0 ? names : functionNames()) {
      const { metafile } = await build({ ...functionOptions(name, 'runtime', join(out, name)), metafile: true });
      const total = Object.values(metafile.outputs).find((o) => o.entryPoint)!.bytes;
      console.log(`${name}: ${(total / 1024).toFixed(1)} KiB`);
      for (const [pkg, bytes] of byPackage(metafile).filter(([, b]) => b >= 2048)) {
        console.log(`  ${pkg.padEnd(40)} ${(bytes / 1024).toFixed(1).padStart(8)} KiB`);
      }
      if (verbose) console.log(await analyzeMetafile(metafile));
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
