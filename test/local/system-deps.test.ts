import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DevRun, REPO, startDev } from '../support/local-dev';
import { createTestDatabase, TestDatabase } from '../support/postgres';

/**
 * scripts/install-system-deps.sh off Debian: on a PATH without apt-get, Chromium, Pandoc,
 * pdftotext or pg_dump (a fake `bin` folder), it says what to install and how to point the
 * workers at it; `npm run dev`'s call (no flag) exits 0, `npm test`'s (--for-tests) exits 1.
 * And `npm run dev` without Chromium or Pandoc serves the API and says in its banner which
 * documents it cannot render.
 */
jest.setTimeout(120_000);
const SCRIPT = join(REPO, 'scripts', 'install-system-deps.sh');
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'system-deps-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A bin folder holding only what is named: links to this machine's commands, or scripts. */
function bin(name: string, commands: Record<string, string>): string {
  const path = join(dir, name);
  mkdirSync(path);
  for (const [cmd, target] of Object.entries(commands)) {
    if (target.startsWith('/')) symlinkSync(target, join(path, cmd));
    else {
      writeFileSync(join(path, cmd), `#!/bin/sh\n${target}\n`);
      chmodSync(join(path, cmd), 0o755);
    }
  }
  return path;
}

function run(path: string, args: string[] = [], env: Record<string, string> = {}) {
  const res = spawnSync('/bin/bash', [SCRIPT, ...args], { env: { PATH: path, HOME: dir, ...env }, encoding: 'utf8' });
  return { status: res.status, out: res.stdout + res.stderr };
}

test('no apt-get: it lists what to install and the variables that point the workers at it; npm run dev goes on (0), npm test stops (1)', () => {
  const path = bin('bare', { id: '/usr/bin/id' });
  const dev = run(path);
  expect(dev.status).toBe(0);
  expect(dev.out).toContain('system packages missing, not installed: this system has no apt-get');
  for (const what of ['Chromium: renders the PDF documents', 'Pandoc: renders the DOCX documents', 'poppler-utils (pdftotext)', 'PostgreSQL client tools (pg_dump, psql): the data move']) {
    expect(dev.out).toContain(what);
  }
  expect(dev.out).toContain('export CHROMIUM_PATH=');
  expect(dev.out).toContain('export PANDOC_PATH=');
  expect(dev.out).toContain('npm run dev goes on without them');

  const tests = run(path, ['--for-tests']);
  expect(tests.status).toBe(1);
  expect(tests.out).toContain('npm test needs them');
  expect(run(path, ['--bogus']).status).toBe(2);
});

test('a browser and a Pandoc named by CHROMIUM_PATH and PANDOC_PATH count as present; a known package manager gets its command', () => {
  const tools = bin('tools', { chrome: 'exit 0', pandoc: 'exit 0' });
  const path = bin('fedora', { id: '/usr/bin/id', dnf: 'exit 0' });
  const res = run(path, [], { CHROMIUM_PATH: join(tools, 'chrome'), PANDOC_PATH: join(tools, 'pandoc') });
  expect(res.status).toBe(0);
  expect(res.out).not.toContain('Chromium:');
  expect(res.out).not.toContain('Pandoc:');
  expect(res.out).toContain('Install them, for example: sudo dnf install poppler-utils postgresql openssl');
});

test('Debian without root or sudo: it says so instead of failing on sudo', () => {
  const path = bin('debian-user', { id: 'echo 1000', 'apt-get': 'exit 0' });
  const res = run(path);
  expect(res.status).toBe(0);
  expect(res.out).toContain('not installed: apt-get needs root, and there is no sudo');
  expect(run(path, ['--for-tests']).status).toBe(1);
});

test('this machine (Debian, everything installed): nothing to do, nothing printed, in both modes', () => {
  for (const args of [[], ['--for-tests']]) {
    const res = spawnSync('/bin/bash', [SCRIPT, ...args], { encoding: 'utf8' });
    expect({ status: res.status, out: res.stdout + res.stderr }).toEqual({ status: 0, out: '' });
  }
});

describe('npm run dev without Chromium and Pandoc', () => {
  let database: TestDatabase;
  let dev: DevRun | undefined;
  beforeAll(async () => {
    database = await createTestDatabase('local_no_renderers');
  });
  afterAll(async () => {
    await dev?.stop();
    await database.drop();
  });

  test('serves the API and says which documents it cannot render', async () => {
    dev = await startDev({ DATABASE_URL: database.url, LOCAL_STATE_DIR: join(dir, 'state'), CHROMIUM_PATH: '/nonexistent/chromium', PANDOC_PATH: '/nonexistent/pandoc' });
    expect(dev.banner).toContain(
      'documents    PDF cannot be rendered (themes business-plan, market-study): no Chromium at /nonexistent/chromium; install it (scripts/install-system-deps.sh says how) or set CHROMIUM_PATH',
    );
    expect(dev.banner).toContain('DOCX cannot be rendered (themes cover-letter): no Pandoc at /nonexistent/pandoc');
    expect(dev.banner).toContain('HTML in process');
    expect((await fetch(`${dev.urls['gateway-b2c']}/b2c/themes`)).status).toBe(200);
    expect(await dev.stop()).toBe(0);
    dev = undefined;
  });
});
