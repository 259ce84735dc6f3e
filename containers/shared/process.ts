import { readConfig } from '../../core/config';
import { ConfigError } from '../../core/errors';
import { createLogger, Logger } from '../../core/logger';
import { SPOT_STOP_BUDGET } from '../../core/contract';

/**
 * The process entry of a worker container: start it, and on SIGTERM (Fargate Spot's
 * two-minute notice, or ECS stopping the task) or SIGINT drain it and exit 0. A hard
 * deadline exits even if the drain hangs, before ECS's SIGKILL at `stopTimeout`.
 * Health is the process staying up: any failure to start, or an uncaught error, exits 1
 * so ECS replaces the task; a configuration the reader refuses exits 2, its line naming the variable. Such an exit, and the hard deadline's, first hands the messages in
 * flight back (visibility 0, at most ABANDON_MS): another task takes them at once, instead of
 * after the rest of their visibility timeout (180 s in AWS).
 */
export interface RunningWorker {
  stop(): Promise<void>;
  /** Hands the messages in flight back at once, for an exit that will not finish them (consumer.ts `abandon`). */
  abandon(): Promise<void>;
}

/**
 * How long an exit that will not finish its jobs (a fatal error, the hard deadline) spends handing
 * their messages back: the hard deadline (115 s) leaves 5 s before ECS's SIGKILL at 120 s.
 */
export const ABANDON_MS = 3_000;

/**
 * The `env` field of the process's own lines, as the config reader reads it (APP_ENV, its default
 * included). A configuration the reader refuses leaves the field out: the start fails on the same
 * reading, and its line says which variable is wrong.
 */
function envField(): { env?: string } {
  try {
    return { env: readConfig().appEnv };
  } catch {
    return {};
  }
}

export function runWorkerProcess(name: string, start: () => Promise<RunningWorker>, hardDeadlineSeconds: number = SPOT_STOP_BUDGET.hardExitSeconds): void {
  const log: Logger = createLogger({ service: name, ...envField() }, 'info');
  let stopping = false;
  let exiting = false;
  const started = start();

  /** Exit 1 without finishing the jobs in hand: their messages go back first, for at most ABANDON_MS. */
  const exitAbandoning = (): void => {
    if (exiting) return;
    exiting = true;
    setTimeout(() => process.exit(1), ABANDON_MS).unref();
    started
      .then((worker) => worker.abandon())
      .catch((err: unknown) => log.error('handing the messages back failed; they return after their visibility timeout', { err }))
      .finally(() => process.exit(1));
  };

  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('stopping on signal', { signal });
    setTimeout(() => {
      log.error('drain exceeded the hard deadline; exiting', { hardDeadlineSeconds });
      exitAbandoning();
    }, hardDeadlineSeconds * 1000).unref();
    started
      .then((worker) => worker.stop())
      .then(() => {
        log.info('stopped cleanly');
        process.exit(0);
      })
      .catch((err) => {
        log.error('stop failed', { err });
        process.exit(1);
      });
  };

  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('uncaughtException', (err) => {
    log.error('uncaught exception', { err });
    exitAbandoning();
  });
  process.on('unhandledRejection', (err) => {
    log.error('unhandled rejection', { err });
    exitAbandoning();
  });

  started.catch((err) => {
    // A variable missing or malformed is the operator's to fix, not the code's: its line names it, without a stack.
    if (err instanceof ConfigError) {
      log.error(`worker failed to start: ${err.message}`, { exitCode: 2 });
      process.exit(2);
    }
    log.error('worker failed to start', { err });
    process.exit(1);
  });
}
