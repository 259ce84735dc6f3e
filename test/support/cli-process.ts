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
 * build/run-cli.cjs) with plain node. `killWhen` sees each stderr log line and returns true to SIGKILL it; `env` is added
 * to this process's environment.
 */
export function runCliProcess(cli: string, args: string[], opts: { env?: Record<string, string>; killWhen?: (line: string) => boolean } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const loader = cli.endsWith('.ts') ? ['--import', 'tsx'] : [];
    const child = spawn(process.execPath, [...loader, cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
    let stdout = '';
    let stderr = '';
    let pending = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
      pending += b.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      if (opts.killWhen && lines.some(opts.killWhen)) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}
