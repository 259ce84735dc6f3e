import { readFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { bundleWorker } from '../../build/workers';
import { WORKER_NAMES } from '../../core/contract';
import { CONTAINER_RDS_CA_PATH } from '../../stacks/compute';

/**
 * No Docker engine here: these check what the Dockerfiles promise (pinned multi-arch base,
 * multi-stage, non-root, no browser download, Chromium/Pandoc from Debian) and that what the
 * build stage runs — the esbuild bundle — really produces a worker that starts.
 */
const REPO = join(__dirname, '..', '..');
const dockerfile = (w: string) => readFileSync(join(REPO, 'containers', w, 'Dockerfile'), 'utf8');
const instructions = (text: string) => text.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));

describe.each(WORKER_NAMES)('%s image', (worker) => {
  const text = dockerfile(worker);
  const lines = instructions(text);

  test('is multi-stage on a base pinned to an exact Node release', () => {
    const froms = lines.filter((l) => l.startsWith('FROM '));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    const arg = lines.find((l) => l.startsWith('ARG NODE_IMAGE='))!;
    expect(arg).toMatch(/^ARG NODE_IMAGE=node:\d+\.\d+\.\d+-bookworm-slim(@sha256:[0-9a-f]{64})?$/);
    for (const f of froms) expect(f).toMatch(/^FROM \$\{NODE_IMAGE\}( AS \w+)?$/);
  });

  test('carries the RDS CA bundle where the compute stack points NODE_EXTRA_CA_CERTS', () => {
    expect(text).toContain(`https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem ${CONTAINER_RDS_CA_PATH}`);
  });

  test('runs as a non-root user with tini as PID 1', () => {
    const finalStage = text.slice(text.lastIndexOf('\nFROM '));
    expect(instructions(finalStage).filter((l) => l.startsWith('USER ')).pop()).toBe('USER node');
    expect(finalStage).toMatch(/ENTRYPOINT \["\/usr\/bin\/tini", "--", "node"/);
  });

  test('never downloads a browser, and copies only paths that exist in the repository', () => {
    expect(text).not.toMatch(/playwright(-core)?\s+install/);
    for (const l of lines.filter((x) => x.startsWith('COPY ') && !x.includes('--from='))) {
      const sources = l.split(/\s+/).slice(1, -1);
      for (const s of sources) expect(existsSync(join(REPO, s))).toBe(true);
    }
  });
});

test('the migration image runs on the same pinned Node base as the workers (Node 22, as Lambda nodejs22.x)', () => {
  const base = (text: string) => instructions(text).find((l) => l.startsWith('ARG NODE_IMAGE='));
  const migration = readFileSync(join(REPO, 'migrations', 'Dockerfile'), 'utf8');
  for (const worker of WORKER_NAMES) expect({ worker, base: base(dockerfile(worker)) }).toEqual({ worker, base: base(migration) });
  expect(base(migration)).toMatch(/^ARG NODE_IMAGE=node:22\.\d+\.\d+-bookworm-slim(@sha256:[0-9a-f]{64})?$/);
  for (const f of instructions(migration).filter((l) => l.startsWith('FROM '))) expect(f).toMatch(/^FROM \$\{NODE_IMAGE\}( AS \w+)?$/);
});

test('the doc-generation image installs Chromium and Pandoc from Debian and points Playwright at that Chromium', () => {
  const text = dockerfile('doc-generation');
  expect(text).toMatch(/apt-get install -y --no-install-recommends [^\n]*\bchromium\b[^\n]*\bpandoc\b/);
  expect(text).toContain('CHROMIUM_PATH=/usr/bin/chromium');
  expect(text).toContain('PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1');
  expect(text).toContain('COPY --from=build /src/node_modules/playwright-core ./node_modules/playwright-core');
});

test('the bundles the images run start as workers: a bad environment ends in a JSON error naming the variable', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'worker-bundle-'));
  try {
    for (const worker of WORKER_NAMES) {
      const file = await bundleWorker(worker, join(dir, worker));
      const code = readFileSync(file, 'utf8');
      expect(code.includes('require("playwright-core")')).toBe(worker === 'doc-generation');
      const run = spawnSync(process.execPath, [file], { env: { PATH: process.env.PATH, NODE_PATH: join(REPO, 'node_modules') }, encoding: 'utf8', timeout: 20_000 });
      expect(run.status).toBe(2);
      const line = JSON.parse(run.stdout.trim().split('\n').pop()!);
      expect(line).toMatchObject({ level: 'error', service: worker, exitCode: 2 });
      expect(line.msg).toMatch(/^worker failed to start: .*DATABASE_URL/);
      expect(line.err).toBeUndefined();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
