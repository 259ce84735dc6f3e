import type { Knex } from 'knex';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { WorkerName } from '../../core/contract';
import { AppConfig, loadConfig } from '../../core/config';
import { createDb } from '../../core/db';
import { createLogger, Logger } from '../../core/logger';
import { createSqsClient } from '../../core/queue';
import { createStorage, Storage } from '../../core/storage';
import { readWorkerConfig, WorkerConfig } from './worker-config';

/**
 * What a worker process needs, built from the one config loader: validated config, JSON
 * logger, one knex pool (DB_POOL_MAX, `poolMaxPerWorker` in AWS), SQS and S3 clients.
 * `overrides` lets the local runner and tests inject a config or worker knobs.
 */
export interface WorkerOverrides {
  config?: AppConfig;
  worker?: Partial<WorkerConfig>;
  logger?: Logger;
}

export interface WorkerRuntime {
  name: WorkerName;
  config: AppConfig;
  worker: WorkerConfig;
  logger: Logger;
  db: Knex;
  sqs: SQSClient;
  storage: Storage;
  close(): Promise<void>;
}

export async function createWorkerRuntime(name: WorkerName, overrides: WorkerOverrides = {}): Promise<WorkerRuntime> {
  const config = overrides.config ?? (await loadConfig());
  const worker = { ...readWorkerConfig(), ...overrides.worker };
  const logger = overrides.logger ?? createLogger({ service: name, env: config.appEnv }, config.logLevel);
  const db = createDb(config, logger);
  const sqs = createSqsClient(config);
  return {
    name,
    config,
    worker,
    logger,
    db,
    sqs,
    storage: createStorage(config),
    close: async () => {
      sqs.destroy();
      await db.destroy();
    },
  };
}
