import { AppConfig, loadConfig } from './config';
import { Logger, createLogger } from './logger';
import type { ServiceName } from './services';

/**
 * What a service needs at run time, built once per process (per Lambda execution environment).
 * Connections are opened lazily on first use, so a route that needs no database opens none.
 */
export interface Runtime {
  service: ServiceName;
  config: AppConfig;
  logger: Logger;
  close(): Promise<void>;
}

export function createRuntime(service: ServiceName, config: AppConfig): Runtime {
  const logger = createLogger({ service, env: config.appEnv }, config.logLevel);
  return {
    service,
    config,
    logger,
    close: async () => undefined,
  };
}

export async function loadRuntime(service: ServiceName): Promise<Runtime> {
  return createRuntime(service, await loadConfig());
}
