import Redis from 'ioredis';
import type { AppConfig } from './config';
import { driverLogger, type Logger } from './logger';

/**
 * One ioredis client per process (per Lambda execution environment). A Redis that is down fails
 * each command at once instead of holding it: no offline queue (a command sent while the client
 * is disconnected is refused, not queued until a reconnect), a short command timeout (a Redis
 * that accepts the connection but does not answer), no retry of a command. The client itself
 * keeps reconnecting in the background (at most 2 s apart), so a caller that works without Redis
 * while it is away (core-llm: functions/core-llm/store.ts) finds it again by itself.
 */
export const REDIS_TIMEOUTS = { connectMs: 1000, commandMs: 500, maxReconnectDelayMs: 2000 };

export function createRedis(config: Pick<AppConfig, 'redis'>, logger: Logger = driverLogger()): Redis {
  const redis = new Redis(config.redis.url, {
    keyPrefix: config.redis.keyPrefix,
    lazyConnect: true,
    enableOfflineQueue: false,
    connectTimeout: REDIS_TIMEOUTS.connectMs,
    commandTimeout: REDIS_TIMEOUTS.commandMs,
    maxRetriesPerRequest: 0,
    retryStrategy: (times) => Math.min(times * 200, REDIS_TIMEOUTS.maxReconnectDelayMs),
    tls: config.redis.url.startsWith('rediss:') ? {} : undefined,
  });
  // Without a listener ioredis reports every failed reconnect as an unhandled error event. Each
  // attempt fails again while Redis is away: the caller logs the outage once, these stay at debug.
  redis.on('error', (err) => logger.debug('redis error', { err: err.message }));
  return redis;
}
