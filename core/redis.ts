import { Socket } from 'node:net';
import Redis from 'ioredis';
import StandaloneConnector, { type StandaloneConnectionOptions } from 'ioredis/built/connectors/StandaloneConnector';
import type { ErrorEmitter } from 'ioredis/built/connectors/AbstractConnector';
import type { NetStream } from 'ioredis/built/types';
import { closeHandler } from 'ioredis/built/redis/event_handler';
import { credentialsSdk } from './aws-sdk';
import { cacheAuthToken, type CacheIamSettings, type CredentialsProvider } from './cache-auth';
import type { AppConfig } from './config';
import { DependencyUnavailableError } from './failures';
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

/**
 * ElastiCache closes a connection authenticated with IAM 12 hours after its last AUTH, and an
 * AUTH with a new token on the open connection gives it 12 more: the client sends one an hour
 * before, which loses no command (a reconnect would refuse those sent meanwhile, and core-llm
 * would count that as a cache outage).
 */
export const IAM_REAUTH_AFTER_MS = 11 * 3600_000;

/** What the IAM authentication is given in place of the real clock and the default credentials chain (tests). */
export interface CacheIamOptions {
  credentials?: CredentialsProvider;
  now?: () => Date;
  reauthAfterMs?: number;
}

/**
 * ioredis closes a client by ending its socket and waiting up to its disconnect timeout (2 s) for
 * the close. A client between two attempts (Redis down) has a socket that closed already: that wait
 * held the process (Ctrl-C of `npm run dev`, jest's exit) and the client stayed 'reconnecting'.
 * Such a client ends at once, as ioredis ends one that never connected; a live one still ends its
 * socket, which sends what was written before the close.
 */
class ClosingConnector extends StandaloneConnector {
  // ioredis gives a connector its own options, typed `unknown` in its constructor signature.
  constructor(options: unknown) {
    super(options as StandaloneConnectionOptions);
  }

  disconnect(): void {
    if (this.stream?.destroyed) this.connecting = false;
    else super.disconnect();
  }
}

class PlatformRedis extends Redis {
  disconnect(reconnect = false): void {
    const betweenAttempts = !reconnect && this.status === 'reconnecting';
    super.disconnect(reconnect);
    if (betweenAttempts) closeHandler(this)();
  }
}

export function createRedis(config: Pick<AppConfig, 'redis'>, logger: Logger = driverLogger(), iamOptions: CacheIamOptions = {}): Redis {
  const { iam } = config.redis;
  const sign = iam && iamSigner(iam, iamOptions);
  const redis: Redis = new PlatformRedis(config.redis.url, {
    keyPrefix: config.redis.keyPrefix,
    lazyConnect: true,
    enableOfflineQueue: false,
    connectTimeout: REDIS_TIMEOUTS.connectMs,
    commandTimeout: REDIS_TIMEOUTS.commandMs,
    maxRetriesPerRequest: 0,
    retryStrategy: (times) => Math.min(times * 200, REDIS_TIMEOUTS.maxReconnectDelayMs),
    tls: config.redis.url.startsWith('rediss:') ? {} : undefined,
    Connector: sign ? iamConnector(iam, sign, () => redis) : ClosingConnector,
  });
  // Without a listener ioredis reports every failed reconnect as an unhandled error event. Each
  // attempt fails again while Redis is away: the caller logs the outage once, these stay at debug.
  redis.on('error', (err) => logger.debug('redis error', { err: err.message }));
  if (sign) watchIamConnection(redis, iam, sign, logger, iamOptions.reauthAfterMs ?? IAM_REAUTH_AFTER_MS);
  return redis;
}

/** A token for a connection about to authenticate, from the credentials of that moment (the chain renews them). */
function iamSigner(iam: CacheIamSettings, options: CacheIamOptions): () => Promise<string> {
  let credentials = options.credentials;
  const now = options.now ?? (() => new Date());
  return async () => {
    credentials ??= credentialsSdk().defaultProvider();
    return cacheAuthToken(iam, await credentials(), now());
  };
}

/**
 * ioredis sends `AUTH` with the credentials it copied when the connection began (its `condition`),
 * before it asks the connector for a socket; this connector, which every connect and reconnect
 * goes through, puts a token signed for that very connection there first. A token that cannot be
 * signed (no credentials) fails the attempt as an unreachable Redis does: the error is reported,
 * and ioredis tries again after its retry delay.
 */
function iamConnector(iam: CacheIamSettings, sign: () => Promise<string>, client: () => Redis) {
  return class IamConnector extends ClosingConnector {
    async connect(onEvent: ErrorEmitter): Promise<NetStream> {
      this.connecting = true;
      let token: string;
      try {
        token = await sign();
      } catch (err) {
        this.firstError = new DependencyUnavailableError('cache', `cannot sign the IAM token of cache user ${iam.user}: ${(err as Error).message}`);
        const failed = new Socket();
        failed.destroy();
        return failed;
      }
      const condition = client().condition;
      if (condition) condition.auth = [iam.user, token];
      return super.connect(onEvent);
    }
  };
}

/**
 * The IAM connection's two events of its own: a refused token (said once per outage, at warn,
 * naming the user: a token is refused when the user, its policy or the clock is wrong, which
 * retries do not mend), and the AUTH that renews the connection before the 12-hour limit; should
 * that one fail, the client reconnects, with a token of its own.
 */
function watchIamConnection(redis: Redis, iam: CacheIamSettings, sign: () => Promise<string>, logger: Logger, reauthAfterMs: number): void {
  let refusalLogged = false;
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(reauth, reauthAfterMs).unref();
  };
  const reauth = () => {
    if (redis.status !== 'ready') return;
    sign()
      .then((token) => redis.auth(iam.user, token))
      .then(
        () => {
          logger.info('cache connection renewed with a new IAM token', { user: iam.user });
          schedule();
        },
        (err: Error) => {
          logger.warn('cache connection could not be renewed with a new IAM token: reconnecting', { user: iam.user, err: err.message });
          redis.disconnect(true);
        },
      );
  };
  redis.on('error', (err) => {
    if (refusalLogged || !/^(WRONGPASS|NOAUTH|NOPERM)/.test(err.message)) return;
    refusalLogged = true;
    logger.warn('cache refused the IAM authentication', { user: iam.user, cache: iam.cacheName, err: err.message });
  });
  redis.on('ready', () => {
    refusalLogged = false;
    schedule();
  });
  redis.on('end', () => clearTimeout(timer));
}
