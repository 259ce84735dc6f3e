import Redis from 'ioredis';
import type { AppConfig } from './config';

/**
 * One ioredis client per process. Commands fail fast when Redis is down (one retry, short
 * connect timeout) so a request answers 503 quickly instead of hanging until the Lambda timeout.
 */
export function createRedis(config: Pick<AppConfig, 'redis'>): Redis {
  return new Redis(config.redis.url, {
    keyPrefix: config.redis.keyPrefix,
    lazyConnect: true,
    connectTimeout: 1500,
    commandTimeout: 2000,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    tls: config.redis.url.startsWith('rediss:') ? {} : undefined,
  });
}
