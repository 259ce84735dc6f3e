import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { SERVICE_NAMES, envStem } from '../../core/contract';
import { FRONTEND_BUILD_SWITCH } from '../../scripts/local/frontend';

/**
 * `npm run dev` (scripts/dev.ts) as a child process on free ports, for the tests and the bench of
 * the local run: every service, the emulator and the Stripe stand-in on port 0, so it never meets
 * a developer's own `npm run dev`. It resolves once the banner is printed.
 */
export const REPO = join(__dirname, '..', '..');

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

export interface DevRun {
  child: ChildProcess;
  /** Everything printed so far (stdout and stderr). */
  output(): string;
  banner: string;
  /** Service URLs as the banner prints them. */
  urls: Record<string, string>;
  /** Milliseconds from spawn to the banner. */
  startedInMs: number;
  /** SIGINT (Ctrl-C), then the exit code (or the signal that ended it). */
  stop(): Promise<number | string | null>;
}

export const devEnv = (env: Record<string, string>): Record<string, string> => ({
  ...(process.env as Record<string, string>),
  EMULATOR_PORT: '0',
  STRIPE_STANDIN_PORT: '0',
  EDGE_PORT: '0',
  // The Angular client's install and build are the browser test's (test/frontend/); these tests start the API.
  [FRONTEND_BUILD_SWITCH]: 'off',
  ...Object.fromEntries(SERVICE_NAMES.map((n) => [`PORT_${envStem(n)}`, '0'])),
  ...env,
});

export function startDev(env: Record<string, string>, args: string[] = [], timeoutMs = 120_000): Promise<DevRun> {
  const started = Date.now();
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'scripts', 'dev.ts'), ...args], {
    cwd: REPO,
    env: devEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  return new Promise<DevRun>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`npm run dev printed no banner within ${timeoutMs} ms:\n${out}`));
    }, timeoutMs);
    const onData = () => {
      const end = out.indexOf('Ctrl-C stops everything.');
      if (end < 0) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      const begin = out.indexOf('docplatform is running locally');
      const banner = out.slice(begin, end);
      const urls: Record<string, string> = {};
      for (const m of banner.matchAll(/^ {2}([a-z0-9/-]+)\s+(http:\/\/\S+)/gm)) urls[m[1]] = m[2];
      resolve({
        child,
        output: () => out,
        banner,
        urls,
        startedInMs: Date.now() - started,
        stop: async () => {
          if (child.exitCode === null) child.kill('SIGINT');
          return exited;
        },
      });
    };
    child.stdout!.on('data', onData);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`npm run dev exited (${code}) before its banner:\n${out}`));
    });
  });
}

/** Runs a CLI of the repository (`node --import tsx <file> …args`) to its end. */
export function runScript(file: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, file), ...args], { cwd: REPO, env: devEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.once('exit', (code) => resolve({ code, output }));
  });
}
