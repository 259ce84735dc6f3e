import { build } from 'esbuild';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { eagerModuleFactories } from '../../build/eager-modules';
import { extendBase } from '../../build/esbuild-base';
import { lazyMimeMaps, type BundleResult } from '../../build/functions';

/** The cold-start baseline (baseline-handler.ts) bundled as the functions are (esbuild base, mime-types' tables filled on first use, eager module factories), into `outDir/handler.js`. */
export async function bundleBaseline(outDir: string): Promise<BundleResult> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const handler = join(outDir, 'handler.js');
  await build(extendBase({ entryPoints: [join(__dirname, 'baseline-handler.ts')], outfile: handler, plugins: [lazyMimeMaps] }));
  eagerModuleFactories(handler);
  return { name: 'baseline', outDir, handlerBytes: statSync(handler).size, sourceMapBytes: statSync(`${handler}.map`).size };
}
