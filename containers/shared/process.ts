import { readConfig } from '../../core/config';
import { createLogger, Logger } from '../../core/logger';
import { SPOT_STOP_BUDGET } from '../../core/contract';

/**
 * The process entry of a worker container: start it, and on SIGTERM (Fargate Spot's
 * two-minute notice, or ECS stopping the task) or SIGINT drain it and exit 0. A hard
 * deadline exits even if the drain hangs, before ECS's SIGKILL at `stopTimeout`.
 * Health is the process staying up: any failure to start, or an uncaught error, exits 1
 * so ECS replaces the task.
 */
export interface RunningWorker {
  stop(): Promise<void>;
}

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
  const started = start();

  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info('stopping on signal', { signal });
    setTimeout(() => {
      log.error('drain exceeded the hard deadline; exiting', { hardDeadlineSeconds });
      process.exit(1);
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
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    log.error('unhandled rejection', { err });
    process.exit(1);
  });

  started.catch((err) => {
    log.error('worker failed to start', { err });
    process.exit(1);
  });
}
