import { readdirSync, readFileSync } from 'node:fs';

/**
 * Jest's global teardown: ends the child processes a test left running. The suite runs in band on
 * a two-core machine, so one child whose pipes the test process still holds (a CLI a failed test
 * never stopped) keeps Jest from exiting, and CI waits for its time limit instead of reporting the
 * failure. Each one is named on stderr, so the test that leaked it can be found; Linux only (/proc).
 */
export default function endLeakedChildren(): void {
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${process.pid}/task`);
  } catch {
    return;
  }
  const children = tasks.flatMap((tid) => {
    try {
      return readFileSync(`/proc/${process.pid}/task/${tid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  });
  for (const pid of children) {
    let argv: string;
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch {
      continue;
    }
    // Jest's own workers (a run with more than one) end themselves.
    if (argv.includes('jest-worker')) continue;
    process.stderr.write(`a test left child process ${pid} running (${argv.slice(0, 200)}): ended by the global teardown\n`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}
