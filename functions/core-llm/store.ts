import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import type { Logger } from '../../core/logger';
import { REDIS_TIMEOUTS } from '../../core/redis';
import { ADMIT_SCRIPT, admitArgs, Admission, budgetKeys, BudgetRequest, LocalBudget, SETTLE_SCRIPT, settleArgs, settleKeys, Settlement } from './budget';
import type { WindowLimits } from '../../core/domain/generation-budget';

/**
 * core-llm's cache (texts, and the model's refusals and quota refusals for a while), generation leases (single-flight.ts), per-client rate limit and generation budget (budget.ts), kept in Redis (ElastiCache in AWS) and shared by
 * every execution environment, and what core-llm does while Redis cannot be reached: it keeps
 * generating, with no cache, and counts the rate limit and the budget in this process instead (per execution
 * environment: docs/services.md says how far that lets a client past the shared limit).
 *
 * The switch is made once per outage, with one log line each way: the first Redis command that
 * fails (refused at once while the client is disconnected, or timed out after
 * REDIS_TIMEOUTS.commandMs) puts the store in degraded mode, where requests no longer touch
 * Redis; it goes back when the client reconnects (ioredis keeps trying in the background) or,
 * for a Redis that kept the connection but stopped answering, when a PING sent at most every
 * PROBE_EVERY_MS answers.
 */
export const PROBE_EVERY_MS = 5000;
/** The in-process counts kept at most (one per client seen in the current minute); older windows go first. */
export const LOCAL_LIMIT_MAX_CLIENTS = 10_000;

export interface LlmStore {
  /** True while Redis is unreachable: no cache, in-process rate limit. */
  readonly degraded: boolean;
  /** What the cache holds for a prompt hash: its text, else the model's refusal of it, else its quota's; null on a miss, or with no cache. */
  get(promptHash: string): Promise<Cached | null>;
  set(promptHash: string, text: string, ttlSeconds: number): Promise<void>;
  /** Keeps the model's refusal of a prompt (its message) for `ttlSeconds`, under a key of its own beside the text's. */
  refuse(promptHash: string, message: string, ttlSeconds: number): Promise<void>;
  /**
   * Keeps the model's quota refusal of a prompt (its message) for `ms`, the wait it named, under a
   * key of its own: the value holds when that wait ends, so whoever finds it says what is left of it.
   */
  throttle(promptHash: string, message: string, ms: number): Promise<void>;
  /** Takes the prompt's generation lease for `ms` (SET NX PX) unless another caller holds it. */
  lease(promptHash: string, ms: number): Promise<Lease>;
  /** Extends a lease still held under `token` to `ms` from now. */
  renew(promptHash: string, token: string, ms: number): Promise<void>;
  /** Gives back a lease still held under `token`. */
  release(promptHash: string, token: string): Promise<void>;
  /** Counts one model call of the client in the one-minute window and returns the window's count so far. */
  count(clientId: string, window: number): Promise<number>;
  /** Takes back a count of `count` whose call did not reach the model after all (refused by the limit or the budget, or out of time). */
  uncount(clientId: string, window: number): Promise<void>;
  /** Takes a generation from the budget, or says when to come back. */
  admit(request: BudgetRequest): Promise<Admission>;
  /** Gives back what an admitted generation did not use (tokens, its batch slot). */
  settle(settlement: Settlement): Promise<void>;
}

/**
 * A prompt's cached answer: the text generated for it, the message of the model's refusal to
 * answer it, or the model's quota refusal and the epoch ms its wait ends (app.ts keeps a refusal
 * briefly, a quota refusal until its wait ends, a text for LLM_CACHE_TTL_SECONDS).
 */
export type Cached = { text: string } | { refused: string } | { throttled: string; retryAt: number };

/** A prompt's generation lease (single-flight.ts): taken with its token, held by another caller, or out of reach without Redis. */
export type Lease = { state: 'taken'; token: string } | { state: 'held' } | { state: 'unavailable' };

/** Token-checked, so a leader whose lease ran out and was taken by another never extends or frees the other's. */
const RENEW_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** A kept quota refusal, or null for a value this code did not write (the prompt then meets the model). */
function throttledOf(value: string): Cached | null {
  try {
    const { message, retryAt } = JSON.parse(value) as { message?: unknown; retryAt?: unknown };
    return typeof message === 'string' && typeof retryAt === 'number' ? { throttled: message, retryAt } : null;
  } catch {
    return null;
  }
}

type Attempt<T> = { ok: true; value: T } | { ok: false };

export function createLlmStore(redisOf: () => Redis, logger: Logger, limits: WindowLimits, now: () => number = Date.now): LlmStore {
  let redis: Redis | undefined;
  let degradedSince: number | undefined;
  let lastProbe = 0;
  let probing = false;
  const local = new Map<string, { window: number; used: number }>();
  let localBudget = new LocalBudget(limits);
  /**
   * The generations admitted in process, each with the budget that admitted it, until settled:
   * each is settled where it was counted, whatever Redis is by then. Settled in Redis after an
   * outage, one would take its tokens (or, never sent, its request) from a shared window that never
   * counted it; a Redis admission settled in process would take from counts that never had it.
   */
  const admittedLocally = new Map<string, LocalBudget>();
  let sweptWindow = -Infinity;

  const recover = (how: string) => {
    if (degradedSince === undefined) return;
    logger.warn('cache reachable again: core-llm uses the shared Redis cache and rate limit', { how, degradedMs: now() - degradedSince });
    degradedSince = undefined;
    local.clear();
    localBudget = new LocalBudget(limits);
  };
  const degrade = (err: unknown) => {
    if (degradedSince !== undefined) return;
    degradedSince = now();
    lastProbe = degradedSince;
    logger.warn('cache unreachable: core-llm generates without cache, rate limit counted in this process until Redis answers again', {
      err: (err as Error)?.message ?? String(err),
    });
  };
  const client = (): Redis => {
    if (!redis) {
      redis = redisOf();
      // A reconnect (Redis back after a restart or a failover) ends the outage.
      redis.on('ready', () => recover('reconnected'));
    }
    return redis;
  };
  /** While degraded: a PING now and then, for a Redis that stopped answering without closing the connection. */
  const probe = (r: Redis) => {
    if (probing || r.status !== 'ready' || now() - lastProbe < PROBE_EVERY_MS) return;
    probing = true;
    lastProbe = now();
    r.ping().then(
      () => recover('answered a ping'),
      () => undefined,
    ).finally(() => (probing = false));
  };
  /**
   * The connection of a fresh client (or one reconnecting) is given one connect timeout, shared
   * by the requests that arrive meanwhile; a client known to be down is not waited for.
   */
  let connecting: Promise<void> | undefined;
  const connected = (r: Redis): Promise<void> | undefined => {
    if (r.status === 'wait') r.connect().catch(() => undefined);
    if (r.status !== 'connecting' && r.status !== 'connect') return undefined;
    connecting ??= new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        r.off('ready', done);
        r.off('error', done);
        connecting = undefined;
        resolve();
      };
      const timer = setTimeout(done, REDIS_TIMEOUTS.connectMs);
      r.once('ready', done);
      r.once('error', done);
    });
    return connecting;
  };
  const attempt = async <T>(command: (r: Redis) => Promise<T>): Promise<Attempt<T>> => {
    const r = client();
    if (degradedSince !== undefined) {
      probe(r);
      return { ok: false };
    }
    try {
      await connected(r);
      return { ok: true, value: await command(r) };
    } catch (err) {
      degrade(err);
      return { ok: false };
    }
  };

  const countLocally = (clientId: string, window: number): number => {
    const entry = local.get(clientId);
    if (entry && entry.window === window) return ++entry.used;
    if (local.size >= LOCAL_LIMIT_MAX_CLIENTS) {
      if (sweptWindow < window) {
        sweptWindow = window;
        for (const [id, e] of local) if (e.window < window) local.delete(id);
      }
      // Still full of this minute's clients: the oldest entries go (Map keeps insertion order).
      for (const id of local.keys()) {
        if (local.size < LOCAL_LIMIT_MAX_CLIENTS) break;
        local.delete(id);
      }
    }
    local.delete(clientId);
    local.set(clientId, { window, used: 1 });
    return 1;
  };

  return {
    get degraded() {
      return degradedSince !== undefined;
    },
    get: async (promptHash) => {
      // GETs sent together, not one MGET: the keys are in different slots of a cluster (ElastiCache Serverless).
      const [text, refused, throttled] = await Promise.all(
        ['cache', 'refused', 'throttled'].map((kind) => attempt((r) => r.get(`llm:${kind}:${promptHash}`))),
      );
      if (text.ok && text.value !== null) return { text: text.value };
      if (refused.ok && refused.value !== null) return { refused: refused.value };
      return throttled.ok && throttled.value !== null ? throttledOf(throttled.value) : null;
    },
    set: async (promptHash, text, ttlSeconds) => {
      await attempt((r) => r.set(`llm:cache:${promptHash}`, text, 'EX', ttlSeconds));
    },
    refuse: async (promptHash, message, ttlSeconds) => {
      await attempt((r) => r.set(`llm:refused:${promptHash}`, message, 'EX', ttlSeconds));
    },
    throttle: async (promptHash, message, ms) => {
      const value = JSON.stringify({ message, retryAt: now() + ms });
      await attempt((r) => r.set(`llm:throttled:${promptHash}`, value, 'PX', ms));
    },
    lease: async (promptHash, ms) => {
      const token = randomUUID();
      const got = await attempt((r) => r.set(`llm:lease:${promptHash}`, token, 'PX', ms, 'NX'));
      if (!got.ok) return { state: 'unavailable' };
      return got.value === 'OK' ? { state: 'taken', token } : { state: 'held' };
    },
    renew: async (promptHash, token, ms) => {
      await attempt((r) => r.eval(RENEW_SCRIPT, 1, `llm:lease:${promptHash}`, token, ms));
    },
    release: async (promptHash, token) => {
      await attempt((r) => r.eval(RELEASE_SCRIPT, 1, `llm:lease:${promptHash}`, token));
    },
    count: async (clientId, window) => {
      const key = `llm:rate:${clientId}:${window}`;
      const got = await attempt(async (r) => {
        const replies = await r.multi().incr(key).expire(key, 120).exec();
        const [incr] = replies ?? [];
        if (!incr || incr[0]) throw incr?.[0] ?? new Error('rate limit transaction aborted');
        return Number(incr[1]);
      });
      return got.ok ? got.value : countLocally(clientId, window);
    },
    uncount: async (clientId, window) => {
      const key = `llm:rate:${clientId}:${window}`;
      // With the count's expiry again: a count made in this process before Redis came back leaves no key behind for good.
      const got = await attempt((r) => r.multi().decr(key).expire(key, 120).exec());
      const entry = local.get(clientId);
      if (!got.ok && entry && entry.window === window && entry.used > 0) entry.used -= 1;
    },
    admit: async (request) => {
      const keys = budgetKeys(request.clientId, Math.floor(request.now / limits.windowMs));
      const got = await attempt(async (r) => (await r.eval(ADMIT_SCRIPT, keys.length, ...keys, ...admitArgs(request, limits))) as [number, number]);
      if (!got.ok) {
        const admission = localBudget.admit(request);
        if (admission.admitted) admittedLocally.set(request.ticket, localBudget);
        return admission;
      }
      const [admitted, value] = got.value;
      return admitted === 1 ? { admitted: true, window: value } : { admitted: false, retryAfterMs: value };
    },
    settle: async (settlement) => {
      const local = admittedLocally.get(settlement.ticket);
      if (local) {
        admittedLocally.delete(settlement.ticket);
        return local.settle(settlement);
      }
      const keys = settleKeys(settlement);
      // Redis unreachable now: nothing is settled, the window's counts expire and a batch slot is freed at its deadline.
      await attempt((r) => r.eval(SETTLE_SCRIPT, keys.length, ...keys, ...settleArgs(settlement)));
    },
  };
}
