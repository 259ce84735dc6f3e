import type { AppConfig } from '../../core/config';
import { createDb } from '../../core/db';
import { createInternalClient } from '../../core/internal-client';
import { createJobQueue } from '../../core/queue';
import { createRedis } from '../../core/redis';
import { ClientFactories, ClientName, composeRuntime, RuntimeOverrides, ServiceRuntime } from './service-runtime';
import type { ServiceName } from '../../core/contract';
import { createStorage } from '../../core/storage';

/**
 * The runtime with every client, for processes that host several services at once (the local
 * platform of `npm run dev`, tests). A Lambda handler composes only the clients its service
 * uses (see service-runtime.ts and each `functions/<name>/handler.ts`).
 */
export type Runtime = ServiceRuntime<ClientName>;
export type { RuntimeOverrides } from './service-runtime';

export const ALL_CLIENTS: ClientFactories<ClientName> = {
  db: createDb,
  redis: createRedis,
  queue: (config) => createJobQueue(config),
  storage: (config) => createStorage(config),
  internal: (config) => createInternalClient(config),
};

export function createRuntime(service: ServiceName, config: AppConfig, overrides: RuntimeOverrides = {}): Runtime {
  return composeRuntime(service, config, ALL_CLIENTS, overrides);
}
