import Redis from 'ioredis';
import type { AppConfig } from './config';
import type { Logger } from './logger';

/**
 * One ioredis client per process. Commands fail fast when Redis is down (one retry, short
 * connect timeout) so a request answers 503 quickly instead of hanging until the Lambda timeout.
 */
export function createRedis(config: Pick<AppConfig, 'redis'>, logger?: Logger): Redis {
  const redis = new Redis(config.redis.url, {
    keyPrefix: config.redis.keyPrefix,
    lazyConnect: true,
    connectTimeout: 1500,
    commandTimeout: 2000,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    tls: config.redis.url.startsWith('rediss:') ? {} : undefined,
  });
  // Without a listener ioredis reports every failed reconnect as an unhandled error event.
  if (logger) redis.on('error', (err) => logger.warn('redis error', { err: err.message }));
  return redis;
}
