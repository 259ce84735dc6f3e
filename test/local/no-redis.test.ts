import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DevRun, freePort, startDev } from '../support/local-dev';
import { createTestDatabase, TestDatabase } from '../support/postgres';

/**
 * `npm run dev` on a machine with PostgreSQL but no Redis: it uses that PostgreSQL as it is, says
 * in its banner that core-llm runs degraded, and core-llm generates (no cache) with one log line
 * about it, not one per request.
 */
jest.setTimeout(120_000);

let database: TestDatabase;
let state: string;
let run: DevRun | undefined;

beforeAll(async () => {
  database = await createTestDatabase('local_no_redis');
  state = mkdtempSync(join(tmpdir(), 'no-redis-'));
});
afterAll(async () => {
  await run?.stop();
  await database.drop();
  rmSync(state, { recursive: true, force: true });
});

test('no Redis: the banner says core-llm runs degraded, and it generates without cache, logging the switch once', async () => {
  const redisPort = await freePort();
  run = await startDev({ DATABASE_URL: database.url, REDIS_URL: `redis://127.0.0.1:${redisPort}`, LOCAL_STATE_DIR: state, LOG_LEVEL: 'warn' });
  expect(run.banner).toContain(`postgresql   the PostgreSQL already running at ${new URL(database.url).host}`);
  expect(run.banner).toContain(`redis        nothing answers at 127.0.0.1:${redisPort}: core-llm runs degraded (no cache, rate limit counted in its process)`);

  const generate = () =>
    fetch(`${run!.urls['core-llm']}/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ clientId: '6f1c1d1e-0000-4000-8000-0000000000ee', prompt: 'A kettle, without Redis.' }),
    }).then(async (res) => ({ status: res.status, json: (await res.json()) as { cached: boolean } }));
  for (let i = 0; i < 3; i++) expect(await generate()).toMatchObject({ status: 200, json: { cached: false } });
  expect(run.output().match(/cache unreachable: core-llm generates without cache/g)).toHaveLength(1);
  expect(await run.stop()).toBe(0);
  run = undefined;
});
