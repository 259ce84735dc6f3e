import type { Knex } from 'knex';
import type Redis from 'ioredis';
import { AppConfig, loadConfig } from './config';
import { createDb } from './db';
import { createInternalClient, InternalClient } from './internal-client';
import { Logger, createLogger } from './logger';
import { createJobQueue, JobQueue } from './queue';
import { createRedis } from './redis';
import type { ServiceName } from './services';
import { createStorage, Storage } from './storage';

/**
 * What a service needs at run time, built once per process (per Lambda execution environment).
 * Every client is created on first use, so a service that never touches Redis never opens it,
 * and init stays short.
 */
export interface Runtime {
  service: ServiceName;
  config: AppConfig;
  logger: Logger;
  readonly db: Knex;
  readonly redis: Redis;
  readonly queue: JobQueue;
  readonly storage: Storage;
  readonly internal: InternalClient;
  close(): Promise<void>;
}

export type RuntimeOverrides = Partial<Pick<Runtime, 'db' | 'redis' | 'queue' | 'storage' | 'internal' | 'logger'>>;

export function createRuntime(service: ServiceName, config: AppConfig, overrides: RuntimeOverrides = {}): Runtime {
  const logger = overrides.logger ?? createLogger({ service, env: config.appEnv }, config.logLevel);
  let db = overrides.db;
  let redis = overrides.redis;
  let queue = overrides.queue;
  let storage = overrides.storage;
  let internal = overrides.internal;
  const owned = { db: !overrides.db, redis: !overrides.redis };
  return {
    service,
    config,
    logger,
    get db() {
      return (db ??= createDb(config));
    },
    get redis() {
      if (!redis) {
        redis = createRedis(config);
        redis.on('error', (err) => logger.warn('redis error', { err: err.message }));
      }
      return redis;
    },
    get queue() {
      return (queue ??= createJobQueue(config));
    },
    get storage() {
      return (storage ??= createStorage(config));
    },
    get internal() {
      return (internal ??= createInternalClient(config));
    },
    close: async () => {
      if (owned.db && db) await db.destroy();
      if (owned.redis && redis) redis.disconnect();
    },
  };
}

export async function loadRuntime(service: ServiceName): Promise<Runtime> {
  return createRuntime(service, await loadConfig());
}
