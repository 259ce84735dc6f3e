import { spawn } from 'node:child_process';

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a CLI of the repository in its own node process (not through the tsx wrapper, so a
 * SIGKILL hits the process doing the work): a `.ts` entry with tsx's loader, JavaScript (a bundle,
 * build/run-cli.cjs) with plain node. `killWhen` sees each stderr log line and returns true to send
 * it `killWith` (SIGKILL unless told), once: a second SIGTERM or SIGINT is another request; `env` is
 * added to this process's environment.
 */
export function runCliProcess(
  cli: string,
  args: string[],
  opts: { env?: Record<string, string>; killWhen?: (line: string) => boolean; killWith?: NodeJS.Signals } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const loader = cli.endsWith('.ts') ? ['--import', 'tsx'] : [];
    const child = spawn(process.execPath, [...loader, cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    let stdout = '';
    let stderr = '';
    let pending = '';
    let signalled = false;
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      pending += b.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      if (!signalled && opts.killWhen && lines.some(opts.killWhen)) {
        signalled = true;
        child.kill(opts.killWith ?? 'SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
