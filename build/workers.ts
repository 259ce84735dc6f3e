import { build, BuildOptions } from 'esbuild';
import * as path from 'node:path';
import { WORKER_NAMES, WorkerName } from '../core/contract';
import { extendBase, REPO_ROOT } from './esbuild-base';

/**
 * Bundles a worker (`containers/<name>/main.ts`) into `<outDir>/main.js` for its container
 * image: the shared esbuild base (`build/esbuild-base.ts`: postgres-only knex, English-only zod,
 * one trimmed mime-db), with the AWS SDK bundled (a container has no SDK of its own) and
 * playwright-core left external: it locates its own files at run time, so the image carries its
 * package folder next to the bundle.
 * Usage: tsx build/workers.ts <doc-generation|b2b-batch> [outDir]
 */

/** A worker's options: the shared base plus its main.ts as entry and playwright-core external. */
export function workerOptions(name: WorkerName, outDir: string): BuildOptions {
  return extendBase({
    entryPoints: [path.join(REPO_ROOT, 'containers', name, 'main.ts')],
    outfile: path.join(outDir, 'main.js'),
    external: ['playwright-core'],
  });
}

export async function bundleWorker(name: WorkerName, outDir: string): Promise<string> {
  const options = workerOptions(name, outDir);
  await build(options);
  return options.outfile!;
}

if (require.main === module) {
  const name = process.argv[2] as WorkerName;
  if (!WORKER_NAMES.includes(name)) {
    process.stderr.write(`usage: tsx build/workers.ts <${WORKER_NAMES.join('|')}> [outDir]\n`);
    process.exit(2);
  }
  const outDir = path.resolve(process.argv[3] ?? path.join(REPO_ROOT, '.build', 'workers', name));
  bundleWorker(name, outDir).then(
    (file) => process.stdout.write(`${file}\n`),
    (err: Error) => {
      process.stderr.write(`bundling ${name} failed: ${err.message}\n`);
      process.exit(1);
    },
  );
}
