import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { devEnv, REPO } from '../support/local-dev';

/**
 * `npm run dev` with a DATABASE_URL at which something answers that it cannot use: another
 * program on the port (here the machine's Redis, which never answers a PostgreSQL greeting), or a
 * PostgreSQL that refuses the URL's user. It stops in seconds, exit 2, one line naming
 * DATABASE_URL, the host and what went wrong, never the password. The first waited for ever,
 * with nothing printed; the second was exit 1 'role "nobody" does not exist'. Likewise a value
 * that is no URL (exit 1 'Invalid URL', a TypeError, after the front-end build) and another
 * machine where nothing answers (exit 1, no field).
 */
jest.setTimeout(60_000);

let state: string;
beforeAll(() => {
  state = mkdtempSync(join(tmpdir(), 'database-url-'));
});
afterAll(() => rmSync(state, { recursive: true, force: true }));

/** scripts/dev.ts to its end, killed after `limitMs`. */
function dev(databaseUrl: string, limitMs = 30_000): Promise<{ code: number | null; output: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'scripts', 'dev.ts')], {
      cwd: REPO,
      env: devEnv({ DATABASE_URL: databaseUrl, LOCAL_STATE_DIR: state }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output, ms: Date.now() - started });
    });
  });
}

const errorLine = (output: string) => output.split('\n').filter((l) => l.startsWith('{') && l.includes('"level":"error"')).map((l) => JSON.parse(l) as { msg: string; field?: string });

test('another program on the port: exit 2 in seconds, naming DATABASE_URL and the host, not the password', async () => {
  const result = await dev('postgres://postgres:s3cret-pw@127.0.0.1:6379/docplatform');
  expect(result.code).toBe(2);
  expect(result.ms).toBeLessThan(20_000);
  const lines = errorLine(result.output);
  expect(lines).toHaveLength(1);
  expect(lines[0].field).toBe('DATABASE_URL');
  expect(lines[0].msg).toContain('127.0.0.1:6379');
  expect(lines[0].msg).toMatch(/not a PostgreSQL/);
  expect(result.output).not.toContain('s3cret-pw');
});

test('a PostgreSQL that refuses the user: exit 2 naming DATABASE_URL and the server\'s reason', async () => {
  const result = await dev('postgres://nobody@127.0.0.1:5432/docplatform');
  expect(result.code).toBe(2);
  const lines = errorLine(result.output);
  expect(lines).toHaveLength(1);
  expect(lines[0].field).toBe('DATABASE_URL');
  expect(lines[0].msg).toContain('127.0.0.1:5432');
  expect(lines[0].msg).toContain('role "nobody" does not exist');
});

test('a DATABASE_URL that is no URL at all: exit 2 in seconds naming DATABASE_URL, no TypeError', async () => {
  const result = await dev('127.0.0.1:5432/docplatform');
  expect(result.code).toBe(2);
  expect(result.ms).toBeLessThan(20_000);
  const lines = errorLine(result.output);
  expect(lines).toHaveLength(1);
  expect(lines[0].msg).toContain('DATABASE_URL');
  expect(lines[0].msg).not.toMatch(/^Invalid URL$/);
});

test('nothing answering at a DATABASE_URL on another machine: exit 2 naming DATABASE_URL and the host', async () => {
  // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): nothing answers there.
  const result = await dev('postgres://postgres@192.0.2.1:5432/docplatform');
  expect(result.code).toBe(2);
  const lines = errorLine(result.output);
  expect(lines).toHaveLength(1);
  expect(lines[0].field).toBe('DATABASE_URL');
  expect(lines[0].msg).toContain('192.0.2.1:5432');
});
