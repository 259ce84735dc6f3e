import { build, BuildOptions } from 'esbuild';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { extendBase, REPO_ROOT } from './esbuild-base';

/**
 * Bundles a command-line tool into `.build/cli/<name>.js`, which `build/run-cli.cjs` runs with
 * plain node: tsx compiles the tool's TypeScript and the AWS SDK's module graph on every start
 * (about half a second), a bundle loads in a fraction of that. Next to the bundle,
 * `<name>.inputs.json` lists the repository files it was built from (and package-lock.json for
 * the packages), so the runner rebuilds it when one is newer. The AWS SDK is bundled.
 * Usage: tsx build/clis.ts <storage-move|data-move> [outDir]
 */
export const CLIS = { 'storage-move': 'migrations/storage-move/cli.ts', 'data-move': 'migrations/data-move/cli.ts' } as const;
export type Cli = keyof typeof CLIS;

export const CLI_OUT_DIR = path.join(REPO_ROOT, '.build', 'cli');

export function cliOptions(name: Cli, outDir: string): BuildOptions {
  return extendBase({ entryPoints: [path.join(REPO_ROOT, CLIS[name])], outfile: path.join(outDir, `${name}.js`), metafile: true });
}

/** Each file is written aside and renamed into place: a run starting meanwhile never loads half a bundle. */
async function put(file: string, contents: Uint8Array | string): Promise<void> {
  const aside = `${file}.${process.pid}.tmp`;
  await writeFile(aside, contents);
  await rename(aside, file);
}

export async function bundleCli(name: Cli, outDir = CLI_OUT_DIR): Promise<string> {
  const options = cliOptions(name, outDir);
  const { metafile, outputFiles } = await build({ ...options, write: false });
  await mkdir(outDir, { recursive: true });
  for (const f of outputFiles!) await put(f.path, f.contents);
  const own = Object.keys(metafile!.inputs).filter((f) => !f.split('/').includes('node_modules'));
  await put(path.join(outDir, `${name}.inputs.json`), JSON.stringify([...own, 'package-lock.json']));
  return options.outfile!;
}

if (require.main === module) {
  const name = process.argv[2] as Cli;
  if (!(name in CLIS)) {
    process.stderr.write(`usage: tsx build/clis.ts <${Object.keys(CLIS).join('|')}> [outDir]\n`);
    process.exit(2);
  }
  bundleCli(name, process.argv[3] ? path.resolve(process.argv[3]) : CLI_OUT_DIR).then(
    (file) => process.stdout.write(`${file}\n`),
    (err: Error) => {
      process.stderr.write(`bundling ${name} failed: ${err.message}\n`);
      process.exit(1);
    },
  );
}
