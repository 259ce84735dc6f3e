import type { Knex } from 'knex';
import type Redis from 'ioredis';
import { requireDatabase, type AppConfig } from '../../core/config';
import type { InternalClient } from '../../core/internal-client';
import { Logger, createLogger } from '../../core/logger';
import type { JobQueue } from '../../core/queue';
import type { ServiceName } from '../../core/contract';
import type { Storage } from '../../core/storage';

/**
 * What a service needs at run time, built once per process (per Lambda execution environment).
 * A service is given factories for the clients it uses, and only those: a handler imports
 * exactly the client code it needs (core-llm never bundles knex, theme never loads the SQS SDK),
 * which keeps bundles small and cold starts short. Each client is created on first use.
 */
export interface Clients {
  db: Knex;
  redis: Redis;
  queue: JobQueue;
  storage: Storage;
  internal: InternalClient;
}

export type ClientName = keyof Clients;

export type ClientFactories<K extends ClientName> = { [P in K]: (config: AppConfig, logger: Logger) => Clients[P] };

export type ServiceRuntime<K extends ClientName = never> = {
  service: ServiceName;
  config: AppConfig;
  logger: Logger;
  close(): Promise<void>;
} & { readonly [P in K]: Clients[P] };

export type RuntimeOverrides = Partial<Clients> & { logger?: Logger };

/** Clients the runtime created (not overrides) and must release on close. */
const release: { [P in ClientName]?: (client: Clients[P]) => Promise<void> | void } = {
  db: (db) => db.destroy(),
  redis: (redis) => redis.disconnect(),
};

export function composeRuntime<K extends ClientName>(
  service: ServiceName,
  config: AppConfig,
  factories: ClientFactories<K>,
  overrides: RuntimeOverrides = {},
): ServiceRuntime<K> {
  // A service that connects fails at start, naming the variables, not at its first query; one that
  // never connects is given no database settings at all (nor the secret behind them).
  if ('db' in factories && !overrides.db) requireDatabase(config);
  const logger = overrides.logger ?? createLogger({ service, env: config.appEnv }, config.logLevel);
  const created: Partial<Clients> = {};
  const runtime = {
    service,
    config,
    logger,
    close: async () => {
      for (const name of Object.keys(created) as ClientName[]) await (release[name] as ((c: unknown) => unknown) | undefined)?.(created[name]);
    },
  };
  for (const name of Object.keys(factories) as K[]) {
    let client = overrides[name] as Clients[K] | undefined;
    Object.defineProperty(runtime, name, {
      enumerable: true,
      get: () => {
        if (client === undefined) {
          client = factories[name](config, logger);
          (created as Record<string, unknown>)[name] = client;
        }
        return client;
      },
    });
  }
  return runtime as ServiceRuntime<K>;
}
