import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { WORKER_NAMES } from '../../core/contract';

/**
 * An image's build stage sees only what its Dockerfile copies and its .dockerignore lets
 * through. Without a Docker engine here, this bundles each worker and the data-move CLI from
 * their entry points and checks that every repository file the bundle reads is copied (and,
 * for the workers, not ignored): moving shared code into a new folder fails here, not in the
 * release pipeline.
 */
const REPO = join(__dirname, '..', '..');

async function sourceFiles(entry: string): Promise<string[]> {
  const result = await build({
    entryPoints: [join(REPO, entry)],
    bundle: true,
    platform: 'node',
    write: false,
    metafile: true,
    logLevel: 'silent',
    packages: 'external',
  });
  return Object.keys(result.metafile.inputs).sort();
}

/** The repository paths the build stage copies (COPY sources, `--from` stages excluded). */
function copiedPaths(dockerfile: string): string[] {
  return dockerfile
    .split('\n')
    .filter((l) => l.startsWith('COPY ') && !l.includes('--from='))
    .flatMap((l) => l.split(/\s+/).slice(1, -1))
    .map((s) => s.replace(/\/$/, ''));
}

const covers = (paths: string[], file: string): boolean => paths.some((p) => file === p || file.startsWith(`${p}/`));

/** A `**`-then-allow-list .dockerignore: the paths it lets through (`!dir/**` or `!file`). */
function allowed(ignore: string): string[] {
  return ignore
    .split('\n')
    .filter((l) => l.startsWith('!'))
    .map((l) => l.slice(1).replace(/\/\*\*$/, ''));
}

const missing = (files: string[], paths: string[]) => files.filter((f) => !covers(paths, f));

describe.each(WORKER_NAMES)('%s image build context', (worker) => {
  test('copies, and does not ignore, every file the worker bundle reads', async () => {
    const files = await sourceFiles(`containers/${worker}/main.ts`);
    expect(files).toContain(`containers/${worker}/main.ts`);
    const dockerfile = readFileSync(join(REPO, 'containers', worker, 'Dockerfile'), 'utf8');
    const ignore = readFileSync(join(REPO, 'containers', worker, 'Dockerfile.dockerignore'), 'utf8');
    expect(missing(files, copiedPaths(dockerfile))).toEqual([]);
    expect(missing(files, allowed(ignore))).toEqual([]);
  });
});

test.each(['migrations/data-move/cli.ts', 'migrations/migrate-cli.ts', 'migrations/storage-move/cli.ts', 'build/clis.ts'])('the migration image copies every file %s reads', async (entry) => {
  const files = await sourceFiles(entry);
  expect(files).toContain(entry);
  const dockerfile = readFileSync(join(REPO, 'migrations', 'Dockerfile'), 'utf8');
  expect(missing(files, copiedPaths(dockerfile))).toEqual([]);
});
