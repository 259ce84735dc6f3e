import { randomBytes, randomUUID } from 'node:crypto';
import { connect, createServer, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import Redis from 'ioredis';
import { GenerationBudgetSettings, windowLimits } from '../../core/domain/generation-budget';
import type { TrafficKind } from '../../core/internal-api';
import { createLogger } from '../../core/logger';
import { Admission, BudgetRequest, LocalBudget, Settlement } from './budget';
import { createLlmStore } from './store';

/**
 * The generation budget on hand-computed cases, run twice: by the Redis script (the real
 * Redis of this machine, through core-llm's store) and by the in-process rules core-llm falls
 * back to while Redis is unreachable. Both must give the same answers.
 *
 * 60 requests and 60,000 tokens a minute make, per 10 s window: 10 requests, 10,000 tokens; the
 * interactive share of 20% keeps 2 requests and 2,000 tokens of each window for B2C.
 */
const SETTINGS: GenerationBudgetSettings = { requestsPerMinute: 60, tokensPerMinute: 60_000, interactiveSharePercent: 20, batchMaxInFlight: 100 };
const W = 10_000;
/** The start of a window (any window: the cases below each use their own). */
const T0 = 1_700_000_000_000 - (1_700_000_000_000 % W);

interface Budget {
  admit(r: BudgetRequest): Promise<Admission>;
  settle(s: Settlement): Promise<void>;
  close(): Promise<void>;
}

const redisBudget = (settings: GenerationBudgetSettings): Budget => {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { keyPrefix: `test:budget:${randomBytes(4).toString('hex')}:`, lazyConnect: true });
  const store = createLlmStore(() => redis, createLogger({}, 'error', () => undefined), windowLimits(settings));
  return {
    admit: (r) => store.admit(r),
    settle: (s) => store.settle(s),
    close: async () => {
      const keys = await redis.keys(`${redis.options.keyPrefix}*`);
      if (keys.length > 0) await redis.del(...keys.map((k) => k.slice(redis.options.keyPrefix!.length)));
      redis.disconnect();
    },
  };
};

const localBudget = (settings: GenerationBudgetSettings): Budget => {
  const budget = new LocalBudget(windowLimits(settings));
  return { admit: async (r) => budget.admit(r), settle: async (s) => budget.settle(s), close: async () => undefined };
};

describe.each([
  ['Redis', redisBudget],
  ['in process (Redis unreachable)', localBudget],
])('generation budget, %s', (_name, make) => {
  let budget: Budget;
  const open = (settings: Partial<GenerationBudgetSettings> = {}) => (budget = make({ ...SETTINGS, ...settings }));
  afterEach(() => budget?.close());

  const ask = (kind: TrafficKind, clientId: string, now: number, extra: Partial<BudgetRequest> = {}) =>
    budget.admit({ kind, clientId, ticket: randomUUID(), estimatedTokens: 100, now, holdMs: 60_000, random: 0, ...extra });
  /** How many of `n` requests are admitted. */
  const admitted = async (n: number, kind: TrafficKind, clientId: string, now: number, extra: Partial<BudgetRequest> = {}) => {
    let ok = 0;
    for (let i = 0; i < n; i++) if ((await ask(kind, clientId, now, extra)).admitted) ok += 1;
    return ok;
  };

  test('B2C keeps its share under batch load: a batch takes 8 of 10 requests, B2C still gets its 2, then the window is full for both', async () => {
    open();
    const batch = randomUUID();
    expect(await admitted(20, 'batch', batch, T0 + 1000)).toBe(8);
    expect(await admitted(2, 'interactive', randomUUID(), T0 + 2000)).toBe(2);
    // 10 of 10 used: a third B2C order waits for the next window (8 s from now), and so does the batch.
    expect(await ask('interactive', randomUUID(), T0 + 2000)).toEqual({ admitted: false, retryAfterMs: 8000 });
    expect((await ask('batch', batch, T0 + 2000)).admitted).toBe(false);
  });

  test('B2C may use what the batch leaves; the batch never takes what B2C already used', async () => {
    open();
    expect(await admitted(7, 'interactive', randomUUID(), T0 + 1000)).toBe(7);
    // 10 - max(2, 7) = 3 left for the batch.
    expect(await admitted(10, 'batch', randomUUID(), T0 + 1000)).toBe(3);
  });

  test('two batch clients share the batch part fairly: alone, one takes 8; together, 4 each in the next window', async () => {
    open();
    const [a, b] = [randomUUID(), randomUUID()];
    expect(await admitted(10, 'batch', a, T0 + 1000)).toBe(8);
    expect(await admitted(10, 'batch', b, T0 + 2000)).toBe(0);
    // Both seen in the last two windows: ceil(8 / 2) = 4 each, whoever asks first.
    expect(await admitted(10, 'batch', a, T0 + W + 1000)).toBe(4);
    expect(await admitted(10, 'batch', b, T0 + W + 2000)).toBe(4);
    // A client not seen for two windows no longer counts: a alone again takes the 8.
    expect(await admitted(10, 'batch', a, T0 + 4 * W)).toBe(8);
  });

  test('batch generations in flight are capped and shared, and a finished one frees its slot', async () => {
    open({ batchMaxInFlight: 4 });
    const [a, b] = [randomUUID(), randomUUID()];
    expect(await ask('batch', a, T0 + 1000, { ticket: 't1' })).toEqual({ admitted: true, window: T0 / W });
    expect((await ask('batch', a, T0 + 1000)).admitted).toBe(true);
    // b arrives: ceil(4 / 2) = 2 in flight each; a has its 2, though the pool has room.
    expect((await ask('batch', b, T0 + 1000)).admitted).toBe(true);
    expect((await ask('batch', a, T0 + 1000)).admitted).toBe(false);
    expect((await ask('batch', b, T0 + 1000)).admitted).toBe(true);
    expect((await ask('batch', b, T0 + 1000)).admitted).toBe(false);
    await budget.settle({ kind: 'batch', clientId: a, ticket: 't1', window: T0 / W, sent: true, tokenDelta: 0, latencyMs: 2000 });
    expect((await ask('batch', a, T0 + 1500)).admitted).toBe(true);
    expect((await ask('batch', a, T0 + 1500)).admitted).toBe(false);
  });

  test('a crashed generation stops holding its slot at its deadline', async () => {
    open({ batchMaxInFlight: 1 });
    const a = randomUUID();
    expect((await ask('batch', a, T0 + 1000, { holdMs: 3000 })).admitted).toBe(true);
    expect((await ask('batch', a, T0 + 3999)).admitted).toBe(false);
    expect((await ask('batch', a, T0 + 4000)).admitted).toBe(true);
  });

  test('refused batch requests are booked into the next windows at the client\'s pace, spread within their window', async () => {
    open();
    const a = randomUUID();
    expect(await admitted(8, 'batch', a, T0 + 1000)).toBe(8);
    // Pace 8 a window: refusals 1-8 come back in the next window (9 s from now, + random × 10 s), 9-16 in the one after.
    const refusals: number[] = [];
    for (let i = 0; i < 17; i++) {
      const r = await ask('batch', a, T0 + 1000, { random: i === 0 ? 0.5 : 0 });
      if (!r.admitted) refusals.push(r.retryAfterMs);
    }
    expect(refusals).toEqual([14_000, ...Array(7).fill(9000), ...Array(8).fill(19_000), 29_000]);
  });

  test('the booking pace follows the generation time when the in-flight cap is what limits the batch', async () => {
    open({ batchMaxInFlight: 4 });
    const a = randomUUID();
    // One generation of 10 s measured: 4 in flight for 10 s serve 4 a window, 5 booked with the overbooking (x 1.25), fewer than the 8 the rate allows.
    expect(await ask('batch', a, T0 + 1000, { ticket: 'm' })).toEqual({ admitted: true, window: T0 / W });
    await budget.settle({ kind: 'batch', clientId: a, ticket: 'm', window: T0 / W, sent: true, tokenDelta: 0, latencyMs: 10_000 });
    expect(await admitted(4, 'batch', a, T0 + 1000)).toBe(4);
    const refusals: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await ask('batch', a, T0 + 1000);
      if (!r.admitted) refusals.push(r.retryAfterMs);
    }
    expect(refusals).toEqual([9000, 9000, 9000, 9000, 9000, 19_000]);
  });

  test('a generation never sent (no time left for an attempt) gives back its request and its tokens, and its batch slot', async () => {
    open({ batchMaxInFlight: 8 });
    const [a, b] = [randomUUID(), randomUUID()];
    // The window full: B2C 2 of 10 requests and 2,000 of 10,000 tokens (1,000 each), the batch its 8 slots.
    expect(await ask('interactive', b, T0 + 1000, { estimatedTokens: 1000, ticket: 'i' })).toEqual({ admitted: true, window: T0 / W });
    expect((await ask('interactive', b, T0 + 1000, { estimatedTokens: 1000 })).admitted).toBe(true);
    expect(await ask('batch', a, T0 + 1000, { ticket: 'b' })).toEqual({ admitted: true, window: T0 / W });
    expect(await admitted(7, 'batch', a, T0 + 1000)).toBe(7);
    expect((await ask('interactive', b, T0 + 1000, { estimatedTokens: 1000 })).admitted).toBe(false);
    expect((await ask('batch', a, T0 + 1000)).admitted).toBe(false);
    // Each gives its place back to its own lane: one more of each is admitted, then the window is full again.
    await budget.settle({ kind: 'interactive', clientId: b, ticket: 'i', window: T0 / W, sent: false, tokenDelta: -1000 });
    await budget.settle({ kind: 'batch', clientId: a, ticket: 'b', window: T0 / W, sent: false, tokenDelta: -100 });
    expect((await ask('interactive', b, T0 + 2000, { estimatedTokens: 1000 })).admitted).toBe(true);
    expect((await ask('batch', a, T0 + 2000)).admitted).toBe(true);
    expect((await ask('interactive', b, T0 + 2000, { estimatedTokens: 1000 })).admitted).toBe(false);
    expect((await ask('batch', a, T0 + 2000)).admitted).toBe(false);
  });

  test('a generation sent and failed keeps its request counted: it reached the model', async () => {
    open();
    const a = randomUUID();
    expect(await ask('batch', a, T0 + 1000, { ticket: 'f' })).toEqual({ admitted: true, window: T0 / W });
    expect(await admitted(7, 'batch', a, T0 + 1000)).toBe(7);
    await budget.settle({ kind: 'batch', clientId: a, ticket: 'f', window: T0 / W, sent: true, tokenDelta: 0 });
    expect((await ask('batch', a, T0 + 2000)).admitted).toBe(false);
  });

  test('tokens: counted by estimate at admission, corrected by the real count, B2C keeps its 2,000 of them', async () => {
    open();
    const a = randomUUID();
    const big = { estimatedTokens: 3000 };
    // The batch part is 10,000 - 2,000 = 8,000 tokens: two 3,000-token estimates fit, a third does not.
    expect(await ask('batch', a, T0 + 1000, { ...big, ticket: 'x' })).toEqual({ admitted: true, window: T0 / W });
    expect((await ask('batch', a, T0 + 1000, big)).admitted).toBe(true);
    expect((await ask('batch', a, T0 + 1000, big)).admitted).toBe(false);
    // The first answer used 500 tokens: 3,500 counted, and a third fits (6,500 <= 8,000).
    await budget.settle({ kind: 'batch', clientId: a, ticket: 'x', window: T0 / W, sent: true, tokenDelta: -2500 });
    expect((await ask('batch', a, T0 + 1000, big)).admitted).toBe(true);
    // B2C may take the 3,500 the batch left: 1,500 fits, then 2,001 does not (8,000 counted, 2,000 left).
    expect((await ask('interactive', randomUUID(), T0 + 1000, { estimatedTokens: 1500 })).admitted).toBe(true);
    expect((await ask('interactive', randomUUID(), T0 + 1000, { estimatedTokens: 2001 })).admitted).toBe(false);
    expect((await ask('interactive', randomUUID(), T0 + 1000, { estimatedTokens: 2000 })).admitted).toBe(true);
  });
});

test('windows follow the configured quota: 1,000 requests and 1,000,000 tokens a minute with a 20% share', () => {
  expect(windowLimits({ requestsPerMinute: 1000, tokensPerMinute: 1_000_000, interactiveSharePercent: 20, batchMaxInFlight: 10 })).toEqual({
    windowMs: 10_000,
    requests: 166,
    tokens: 166_666,
    interactiveRequests: 34,
    interactiveTokens: 33_334,
    batchMaxInFlight: 10,
  });
});

test('Redis unreachable: the store admits by the in-process rules, so generation goes on', async () => {
  const lines: string[] = [];
  const redis = new Redis({ port: 1, lazyConnect: true, enableOfflineQueue: false, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  redis.on('error', () => undefined);
  const store = createLlmStore(() => redis, createLogger({}, 'warn', (l) => lines.push(JSON.parse(l).msg)), windowLimits(SETTINGS));
  const a = randomUUID();
  let ok = 0;
  for (let i = 0; i < 10; i++) if ((await store.admit({ kind: 'batch', clientId: a, ticket: randomUUID(), estimatedTokens: 100, now: T0, holdMs: 60_000, random: 0 })).admitted) ok += 1;
  expect({ ok, degraded: store.degraded, lines: lines.length }).toEqual({ ok: 8, degraded: true, lines: 1 });
  redis.disconnect();
});

/** An in-process TCP relay to this machine's Redis that can drop its connections and refuse new ones, then let them through again. */
async function relayToRedis(): Promise<{ port: number; down(): void; up(): void; close(): Promise<void> }> {
  const target = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const sockets = new Set<Socket>();
  let refusing = false;
  const server = createServer((client) => {
    if (refusing) return void client.destroy();
    const upstream = connect(Number(target.port || 6379), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => (client.destroy(), upstream.destroy(), sockets.delete(s)));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    down: () => {
      refusing = true;
      for (const s of sockets) s.destroy();
    },
    up: () => void (refusing = false),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

test('a generation admitted in process while Redis was unreachable is settled in process after Redis is back: the shared window never counted it', async () => {
  const relay = await relayToRedis();
  const keyPrefix = `test:budget-switch:${randomBytes(4).toString('hex')}:`;
  const redis = new Redis({ port: relay.port, keyPrefix, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
  redis.on('error', () => undefined);
  const admin = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { keyPrefix });
  const store = createLlmStore(() => redis, createLogger({}, 'error', () => undefined), windowLimits(SETTINGS));
  try {
    const request = (ticket: string): BudgetRequest => ({ kind: 'interactive', clientId: 'c', ticket, estimatedTokens: 1000, now: Date.now(), holdMs: 60_000, random: 0 });
    const shared = await store.admit(request('shared'));
    if (!shared.admitted) throw new Error('refused');
    relay.down();
    const local = await store.admit(request('local'));
    expect({ admitted: local.admitted, degraded: store.degraded }).toEqual({ admitted: true, degraded: true });
    relay.up();
    for (let i = 0; i < 100 && store.degraded; i++) await new Promise((r) => setTimeout(r, 50));
    expect(store.degraded).toBe(false);
    const window = (await admin.mget(`llm:{budget}:req:${shared.window}`, `llm:{budget}:tok:${shared.window}`)).map(Number);
    expect(window).toEqual([1, 1000]);
    // The one admitted in process, never sent: what it gives back is not the shared window's to lose.
    await store.settle({ kind: 'interactive', clientId: 'c', ticket: 'local', window: shared.window, sent: false, tokenDelta: -1000 });
    expect((await admin.mget(`llm:{budget}:req:${shared.window}`, `llm:{budget}:tok:${shared.window}`)).map(Number)).toEqual(window);
    // The one admitted in Redis is settled there.
    await store.settle({ kind: 'interactive', clientId: 'c', ticket: 'shared', window: shared.window, sent: true, tokenDelta: -970 });
    expect((await admin.mget(`llm:{budget}:req:${shared.window}`, `llm:{budget}:tok:${shared.window}`)).map(Number)).toEqual([1, 30]);
  } finally {
    redis.disconnect();
    const keys = await admin.keys(`${keyPrefix}*`);
    if (keys.length > 0) await admin.del(...keys.map((k) => k.slice(keyPrefix.length)));
    admin.disconnect();
    await relay.close();
  }
});
