import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { freePort } from '../test/support/local-dev';
import { createLlmStore } from '../functions/core-llm/store';
import { cacheAuthToken, type AwsCredentials } from './cache-auth';
import { classifyError } from './failures';
import { windowLimits } from './domain/generation-budget';
import { readConfig } from './config';
import { createLogger, type Logger } from './logger';
import { createRedis } from './redis';
import { cacheAccessString } from '../stacks/data';

/**
 * The IAM authentication against a real Redis: this test's own redis-server (a random port, a
 * temporary folder, never the machine's), whose ACL user has the tokens the client will sign as
 * its passwords, computed here from the same fixed clock and static credentials the client is given.
 */
jest.setTimeout(60_000);

const IAM = { user: 'docplatform-test-core-llm', cacheName: 'docplatform-test-cache', region: 'eu-west-3' };
const PREFIX = 'docplatform:test:';
const CREDENTIALS: AwsCredentials = { accessKeyId: 'ASIAEXAMPLEKEY12345', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', sessionToken: 'IQoJb3JpZ2luX2Vj+/Ab==' };
const T0 = new Date('2026-12-02T10:00:00Z');

let port: number;
let dir: string;
let server: ChildProcess;
let admin: Redis;
const clients: Redis[] = [];

/** Debian's redis-server, or redis-tools' redis-check-rdb started under that name (the same program). */
function redisServerBinary(): string {
  for (const name of ['redis-server', 'redis-check-rdb']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
    } catch {
      // Not on the PATH.
    }
  }
  throw new Error('no redis-server (or redis-check-rdb) on the PATH: bash scripts/install-system-deps.sh --for-tests installs redis-tools');
}

beforeAll(async () => {
  port = await freePort();
  dir = mkdtempSync(join(tmpdir(), 'redis-iam-'));
  server = spawn(redisServerBinary(), ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore', argv0: 'redis-server' });
  admin = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 50 });
  admin.on('error', () => undefined);
  for (const until = Date.now() + 10_000; ; await new Promise((r) => setTimeout(r, 50))) {
    try {
      if (admin.status === 'wait') await admin.connect();
      await admin.ping();
      break;
    } catch (err) {
      if (Date.now() > until) throw err;
    }
  }
});

afterAll(async () => {
  for (const c of clients) if (c.status !== 'end') c.disconnect();
  admin?.disconnect();
  if (server && server.exitCode === null) await new Promise<void>((resolve) => (server.once('exit', () => resolve()), server.kill('SIGTERM')));
  rmSync(dir, { recursive: true, force: true });
});

/** The cache user the data stack creates (its access string), its passwords the tokens given. */
const setUser = (...tokens: string[]) => admin.call('ACL', 'SETUSER', IAM.user, 'reset', ...cacheAccessString(PREFIX).split(' '), ...tokens.map((t) => `>${t}`));

const tokenAt = (at: Date) => cacheAuthToken(IAM, CREDENTIALS, at);

interface Run {
  redis: Redis;
  clock: { now: Date };
  signed: number;
  lines: Record<string, unknown>[];
  logger: Logger;
}

function iamClient(reauthAfterMs?: number): Run {
  const run = { clock: { now: T0 }, signed: 0, lines: [] as Record<string, unknown>[] } as Run;
  run.logger = createLogger({ service: 'core-llm' }, 'debug', (line) => run.lines.push(JSON.parse(line)));
  const config = readConfig({ REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_KEY_PREFIX: PREFIX, REDIS_IAM_USER: IAM.user, REDIS_IAM_CACHE_NAME: IAM.cacheName, AWS_REGION: IAM.region });
  run.redis = createRedis(config, run.logger, {
    credentials: async () => (run.signed++, CREDENTIALS),
    now: () => run.clock.now,
    reauthAfterMs,
  });
  clients.push(run.redis);
  return run;
}

const once = (redis: Redis, event: string) => new Promise((resolve) => redis.once(event, resolve));
/** The user the connection is authenticated as (CLIENT INFO: ACL WHOAMI is outside the cache user's commands). */
const whoAmI = async (redis: Redis) => /\buser=(\S+)/.exec(String(await redis.call('CLIENT', 'INFO')))?.[1];

test('without REDIS_IAM_USER the client sends no AUTH, as before', async () => {
  const redis = createRedis(readConfig({ REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_KEY_PREFIX: PREFIX }));
  clients.push(redis);
  await redis.connect();
  expect(await whoAmI(redis)).toBe('default');
  redis.disconnect();
});

test('the connection authenticates as the cache user with the token of that moment, and reaches its keys only', async () => {
  await setUser(tokenAt(T0));
  const { redis, signed } = iamClient();
  expect(signed).toBe(0);
  await redis.connect();
  expect(await whoAmI(redis)).toBe(IAM.user);
  await redis.set('k', 'v');
  expect(await admin.get(`${PREFIX}k`)).toBe('v');
  redis.disconnect();
  // The access string the infrastructure gives: no key outside the prefix (a client without the prefix tries one).
  const unprefixed = new Redis({ port, host: '127.0.0.1', username: IAM.user, password: tokenAt(T0), maxRetriesPerRequest: 0 });
  clients.push(unprefixed);
  await expect(unprefixed.get('other:key')).rejects.toThrow(/NOPERM/);
  unprefixed.disconnect();
});

test("core-llm's cache (texts and refusals), generation lease, rate limit and budget all work under the cache user's access string", async () => {
  await setUser(tokenAt(T0));
  const run = iamClient();
  const limits = windowLimits(readConfig({}).llm.budget);
  const store = createLlmStore(() => run.redis, run.logger, limits);
  await store.set('hash-1', 'cached text', 60);
  expect(await store.get('hash-1')).toEqual({ text: 'cached text' });
  await store.refuse('hash-3', 'the model refuses to answer this prompt', 60);
  expect(await store.get('hash-3')).toEqual({ refused: 'the model refuses to answer this prompt' });
  // Single-flight's lease: SET NX PX, and the token-checked renewal and release scripts.
  const lease = await store.lease('hash-2', 5000);
  if (lease.state !== 'taken') throw new Error(`lease not taken: ${JSON.stringify(lease)}`);
  expect(await store.lease('hash-2', 5000)).toEqual({ state: 'held' });
  await store.renew('hash-2', lease.token, 5000);
  await store.release('hash-2', lease.token);
  expect((await store.lease('hash-2', 5000)).state).toBe('taken');
  expect(await store.count('client-1', 1)).toBe(1);
  await store.uncount('client-1', 1);
  // A batch generation: the scripts' every key (windows, the clients' and tickets' sorted sets).
  const admission = await store.admit({ kind: 'batch', clientId: 'client-1', ticket: 't-1', estimatedTokens: 100, now: T0.getTime(), holdMs: 60_000, random: 0.5 });
  if (!admission.admitted) throw new Error(`refused: ${JSON.stringify(admission)}`);
  await store.settle({ kind: 'batch', clientId: 'client-1', ticket: 't-1', window: admission.window, sent: true, tokenDelta: -20, latencyMs: 1200 });
  // One never sent: its request taken back as well.
  const unsent = await store.admit({ kind: 'batch', clientId: 'client-1', ticket: 't-2', estimatedTokens: 100, now: T0.getTime(), holdMs: 60_000, random: 0.5 });
  if (!unsent.admitted) throw new Error(`refused: ${JSON.stringify(unsent)}`);
  await store.settle({ kind: 'batch', clientId: 'client-1', ticket: 't-2', window: unsent.window, sent: false, tokenDelta: -100 });
  expect(store.degraded).toBe(false);
  expect(run.lines.filter((l) => l.level === 'warn' || l.msg === 'redis error')).toEqual([]);
  await expect(run.redis.call('FLUSHALL')).rejects.toThrow(/NOPERM/);
  run.redis.disconnect();
});

test('a reconnect signs a new token: the one of the first connection is no longer accepted', async () => {
  await setUser(tokenAt(T0));
  const run = iamClient();
  await run.redis.connect();
  expect(run.signed).toBe(1);
  const t1 = new Date(T0.getTime() + 600_000);
  await setUser(tokenAt(t1));
  run.clock.now = t1;
  const ready = once(run.redis, 'ready');
  await admin.call('CLIENT', 'KILL', 'USER', IAM.user);
  await ready;
  expect(run.signed).toBe(2);
  expect(await whoAmI(run.redis)).toBe(IAM.user);
  expect(run.lines.filter((l) => l.level === 'warn')).toEqual([]);
  run.redis.disconnect();
});

test('before the 12-hour limit the open connection is renewed by an AUTH with a new token, without a reconnect', async () => {
  await setUser(tokenAt(T0));
  const run = iamClient(300);
  await run.redis.connect();
  const id = await run.redis.call('CLIENT', 'ID');
  const t1 = new Date(T0.getTime() + 11 * 3600_000);
  // From now on only the renewal's token is a password of the user; a reconnect would need it too.
  await setUser(tokenAt(t1));
  run.clock.now = t1;
  for (const until = Date.now() + 5000; !run.lines.some((l) => l.msg === 'cache connection renewed with a new IAM token'); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() > until) throw new Error(`no renewal: ${JSON.stringify(run.lines)}`);
  }
  expect(run.signed).toBe(2);
  expect(await run.redis.call('CLIENT', 'ID')).toBe(id);
  // The server took the new token: with a token it does not hold, the same AUTH is refused.
  await expect(admin.call('AUTH', IAM.user, tokenAt(T0))).rejects.toThrow(/WRONGPASS/);
  expect(run.lines.filter((l) => l.level === 'warn')).toEqual([]);
  run.redis.disconnect();
});

test('a refused token: a cache outage to core-llm (it degrades, answers 503 where it needs Redis), said once at warn, without the token', async () => {
  await setUser('not-the-token');
  const run = iamClient();
  await expect(run.redis.connect()).rejects.toThrow();
  const failed = await run.redis.get('k').catch((err: unknown) => err);
  expect(classifyError(failed)).toMatchObject({ status: 503, message: 'cache unavailable, please retry shortly' });

  const store = createLlmStore(() => run.redis, run.logger, windowLimits(readConfig({}).llm.budget));
  expect(await store.get('some-hash')).toBeNull();
  expect(store.degraded).toBe(true);

  // ioredis keeps retrying, each attempt with a token of its own, each refused: one warn line.
  const signedBefore = run.signed;
  for (const until = Date.now() + 5000; run.signed < signedBefore + 2; await new Promise((r) => setTimeout(r, 50))) {
    if (Date.now() > until) throw new Error('no retry');
  }
  const refusals = run.lines.filter((l) => l.msg === 'cache refused the IAM authentication');
  expect(refusals).toEqual([expect.objectContaining({ level: 'warn', user: IAM.user, cache: IAM.cacheName, err: expect.stringMatching(/^WRONGPASS/) })]);
  const logged = JSON.stringify(run.lines);
  expect(logged).not.toContain('X-Amz-Signature=');
  expect(logged).not.toContain(CREDENTIALS.sessionToken!);

  // The user fixed (its token accepted again): the client is back by itself, and so is the cache.
  await setUser(tokenAt(run.clock.now));
  await once(run.redis, 'ready');
  expect(await whoAmI(run.redis)).toBe(IAM.user);
  run.redis.disconnect();
});

test('credentials that cannot be had fail the attempt as an unreachable cache does, and the client retries', async () => {
  await setUser(tokenAt(T0));
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ service: 'core-llm' }, 'debug', (line) => lines.push(JSON.parse(line)));
  let calls = 0;
  const config = readConfig({ REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_KEY_PREFIX: PREFIX, REDIS_IAM_USER: IAM.user, REDIS_IAM_CACHE_NAME: IAM.cacheName });
  const redis = createRedis(config, logger, {
    credentials: async () => {
      calls += 1;
      if (calls === 1) throw new Error('Could not load credentials from any providers');
      return CREDENTIALS;
    },
    now: () => T0,
  });
  clients.push(redis);
  const ready = once(redis, 'ready');
  redis.connect().catch(() => undefined);
  await ready;
  expect(calls).toBe(2);
  expect(lines).toContainEqual(expect.objectContaining({ msg: 'redis error', err: `cannot sign the IAM token of cache user ${IAM.user}: Could not load credentials from any providers` }));
  expect(await whoAmI(redis)).toBe(IAM.user);
  redis.disconnect();
});

/**
 * A client closed while Redis is down (its connection already failed) lets its process end at once: ioredis waited its
 * disconnect timeout (2 s) for that socket to close again, which held Ctrl-C of `npm run dev` and jest's exit. Its own
 * node process, since what is measured is when the process may end.
 */
test('closing a client whose connection failed ends it at once, and the process with it', async () => {
  const dead = await freePort();
  const script = `
    const { createRedis } = require('./core/redis.ts');
    const redis = createRedis({ redis: { url: 'redis://127.0.0.1:${dead}', keyPrefix: '${PREFIX}' } });
    redis.connect().catch(() => {
      const closing = Date.now();
      redis.disconnect();
      process.on('exit', () => console.log(JSON.stringify({ status: redis.status, ms: Date.now() - closing })));
    });`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: join(__dirname, '..'), encoding: 'utf8' });
  const { status, ms } = JSON.parse(out.trim().split('\n').pop() as string);
  expect(status).toBe('end');
  expect(ms).toBeLessThan(500);
});

test('closing a live client still sends what was written before it', async () => {
  const redis = createRedis(readConfig({ REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_KEY_PREFIX: PREFIX }));
  clients.push(redis);
  await redis.connect();
  const key = `flushed-${Date.now()}`;
  const written = redis.set(key, 'sent before the close').catch(() => undefined);
  const ended = once(redis, 'end');
  redis.disconnect();
  await Promise.all([written, ended]);
  expect(await admin.get(`${PREFIX}${key}`)).toBe('sent before the close');
});
