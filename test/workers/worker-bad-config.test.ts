import { spawn } from 'node:child_process';
import { join } from 'node:path';

/**
 * A worker started by hand (`node --import tsx containers/<name>/main.ts`, docs/workers.md) with a
 * variable missing or malformed: one line naming it, no stack, exit 2. It was exit 1 with the
 * ConfigError's whole stack in the line, as if the code had failed.
 */
const REPO = join(__dirname, '..', '..');

function startWorker(name: string, env: Record<string, string | undefined>): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'containers', name, 'main.ts')], {
      cwd: REPO,
      env: Object.fromEntries(Object.entries({ ...process.env, ...env }).filter(([, v]) => v !== undefined)) as Record<string, string>,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout });
    });
  });
}

const errorLines = (stdout: string) => stdout.split('\n').filter((l) => l.includes('"level":"error"')).map((l) => JSON.parse(l) as Record<string, unknown>);

test.each(['doc-generation', 'b2b-batch'])('%s without DATABASE_URL: exit 2, one line naming it, no stack', async (name) => {
  const result = await startWorker(name, { DATABASE_URL: undefined, DB_HOST: undefined, DB_NAME: undefined, DB_SECRET_ARN: undefined });
  expect(result.code).toBe(2);
  const lines = errorLines(result.stdout);
  expect(lines).toHaveLength(1);
  expect(lines[0].msg).toContain('DATABASE_URL');
  expect(result.stdout).not.toContain('"stack"');
}, 40_000);

test('a malformed worker knob: exit 2 naming it', async () => {
  const result = await startWorker('doc-generation', { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/docplatform', WORKER_CONCURRENCY: 'many' });
  expect(result.code).toBe(2);
  const lines = errorLines(result.stdout);
  expect(lines).toHaveLength(1);
  expect(lines[0].msg).toContain('WORKER_CONCURRENCY');
  expect(result.stdout).not.toContain('"stack"');
}, 40_000);
