import { EventEmitter } from 'node:events';
import type Redis from 'ioredis';
import { createLogger } from '../../core/logger';
import { windowLimits } from '../../core/domain/generation-budget';
import { createLlmStore, LOCAL_LIMIT_MAX_CLIENTS, PROBE_EVERY_MS } from './store';

/** What the store uses of an ioredis client, in memory: `mode` says how it answers. */
class FakeRedis extends EventEmitter {
  status = 'ready';
  mode: 'up' | 'refused' | 'timeout' = 'up';
  data = new Map<string, string>();
  calls = 0;
  private answer<T>(value: () => T): Promise<T> {
    this.calls += 1;
    if (this.mode === 'refused') return Promise.reject(new Error("Stream isn't writeable and enableOfflineQueue options is false"));
    if (this.mode === 'timeout') return Promise.reject(new Error('Command timed out'));
    return Promise.resolve(value());
  }
  get(key: string) {
    return this.answer(() => this.data.get(key) ?? null);
  }
  set(key: string, value: string) {
    return this.answer(() => void this.data.set(key, value));
  }
  ping() {
    return this.answer(() => 'PONG');
  }
  multi() {
    const ops: (() => [null, number])[] = [];
    const chain = {
      incr: (key: string) => {
        ops.push(() => {
          const n = Number(this.data.get(key) ?? 0) + 1;
          this.data.set(key, String(n));
          return [null, n];
        });
        return chain;
      },
      expire: () => {
        ops.push(() => [null, 1]);
        return chain;
      },
      exec: () => this.answer(() => ops.map((op) => op())),
    };
    return chain;
  }
  /** Drops the connection, then gets it back (ioredis's reconnect). */
  down() {
    this.status = 'reconnecting';
    this.mode = 'refused';
  }
  up() {
    this.status = 'ready';
    this.mode = 'up';
    this.emit('ready');
  }
}

function setup() {
  const redis = new FakeRedis();
  const lines: { level: string; msg: string }[] = [];
  const logger = createLogger({}, 'debug', (line) => lines.push(JSON.parse(line)));
  let clock = 1_000_000;
  const limits = windowLimits({ requestsPerMinute: 1000, tokensPerMinute: 1_000_000, interactiveSharePercent: 20, batchMaxInFlight: 10 });
  const store = createLlmStore(() => redis as unknown as Redis, logger, limits, () => clock);
  return { redis, lines, store, tick: (ms: number) => (clock += ms) };
}

test('Redis up: the cache and the counts are Redis\'s', async () => {
  const { redis, store, lines } = setup();
  expect(await store.get('h')).toBeNull();
  await store.set('h', 'text', 60);
  expect(redis.data.get('llm:cache:h')).toBe('text');
  expect(await store.get('h')).toEqual({ text: 'text' });
  expect([await store.count('c1', 7), await store.count('c1', 7), await store.count('c1', 8)]).toEqual([1, 2, 1]);
  expect(redis.data.get('llm:rate:c1:7')).toBe('2');
  expect(store.degraded).toBe(false);
  expect(lines).toEqual([]);
});

test('Redis gone: one line, then no cache and the limit counted in-process without touching Redis; back with one line on reconnect', async () => {
  const { redis, store, lines } = setup();
  await store.set('h', 'text', 60);
  expect(await store.count('c1', 7)).toBe(1);
  redis.down();
  expect(await store.get('h')).toBeNull();
  expect(store.degraded).toBe(true);
  const calls = redis.calls;
  // The window's shared count is out of reach: the in-process count starts again.
  expect([await store.count('c1', 7), await store.count('c1', 7), await store.count('c2', 7)]).toEqual([1, 2, 1]);
  for (let i = 0; i < 20; i++) expect(await store.get('h')).toBeNull();
  await store.set('h2', 'other', 60);
  expect(redis.calls).toBe(calls);
  expect(lines.map((l) => l.msg)).toEqual(['cache unreachable: core-llm generates without cache, rate limit counted in this process until Redis answers again']);

  redis.up();
  expect(store.degraded).toBe(false);
  expect(await store.get('h')).toEqual({ text: 'text' });
  expect(await store.count('c1', 7)).toBe(2);
  expect(lines.map((l) => l.msg)).toEqual([
    'cache unreachable: core-llm generates without cache, rate limit counted in this process until Redis answers again',
    'cache reachable again: core-llm uses the shared Redis cache and rate limit',
  ]);
});

test('a Redis that keeps the connection but stops answering: degraded after one timeout, back when a PING (at most every 5 s) answers', async () => {
  const { redis, store, lines, tick } = setup();
  redis.mode = 'timeout';
  expect(await store.get('h')).toBeNull();
  expect(store.degraded).toBe(true);
  const calls = redis.calls;
  tick(PROBE_EVERY_MS - 1);
  await store.get('h');
  expect(redis.calls).toBe(calls); // too soon for a probe
  tick(1);
  await store.get('h'); // probe: times out, still degraded
  await new Promise((r) => setImmediate(r));
  expect(redis.calls).toBe(calls + 1);
  expect(store.degraded).toBe(true);
  redis.mode = 'up';
  tick(PROBE_EVERY_MS);
  await store.get('h'); // probe answers
  await new Promise((r) => setImmediate(r));
  expect(store.degraded).toBe(false);
  expect(lines.filter((l) => l.level === 'warn')).toHaveLength(2);
});

test('the in-process counts stay bounded', async () => {
  const { redis, store } = setup();
  redis.down();
  await store.get('x');
  for (let i = 0; i < LOCAL_LIMIT_MAX_CLIENTS + 50; i++) await store.count(`c${i}`, 7);
  // The newest clients keep their count; a client seen again continues from it.
  expect(await store.count(`c${LOCAL_LIMIT_MAX_CLIENTS + 49}`, 7)).toBe(2);
  // A new minute starts every count again.
  expect(await store.count('c1', 8)).toBe(1);
});

test('requests that arrive while the client connects share one wait (no listener per request), then use Redis', async () => {
  const { redis, store } = setup();
  redis.status = 'connecting';
  await store.get('warm'); // creates the client and its one permanent 'ready' listener (the wait times out: 1 s)
  redis.status = 'connecting';
  const pending = Array.from({ length: 20 }, (_, i) => store.get(`h${i}`));
  expect(redis.listenerCount('ready')).toBe(2);
  redis.status = 'ready';
  redis.emit('ready');
  expect(await Promise.all(pending)).toEqual(Array(20).fill(null));
  expect(redis.listenerCount('ready')).toBe(1);
  expect(store.degraded).toBe(false);
});
