import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { envStem, SERVICE_NAMES } from '../../core/contract';
import { DevRun, freePort, runScript, startDev } from '../support/local-dev';
import { createTestDatabase, TestDatabase } from '../support/postgres';

/**
 * A second `npm run dev` while one runs, with the same ports (the defaults, in a second
 * terminal): it stops before touching anything, with one line naming the ports taken and the
 * variables that move them, exit 2. It went as far as the emulator, whose EADDRINUSE stack trace
 * it printed, and with `--fresh` it first dropped the running one's database.
 */
jest.setTimeout(180_000);

let database: TestDatabase;
let state: string;
let run: DevRun | undefined;

beforeAll(async () => {
  database = await createTestDatabase('local_second_dev');
  state = mkdtempSync(join(tmpdir(), 'second-dev-'));
});
afterAll(async () => {
  await run?.stop();
  await database.drop();
  rmSync(state, { recursive: true, force: true });
});

async function ordersOf(url: string): Promise<number> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return Number((await c.query('SELECT count(*) AS n FROM orders')).rows[0].n);
  } finally {
    await c.end();
  }
}

test('a second npm run dev on the same ports says which are taken, exit 2, and leaves the running one and its data alone', async () => {
  const fixed: Record<string, string> = { EMULATOR_PORT: '', STRIPE_STANDIN_PORT: '', EDGE_PORT: '', ...Object.fromEntries(SERVICE_NAMES.map((n) => [`PORT_${envStem(n)}`, ''])) };
  for (const variable of Object.keys(fixed)) fixed[variable] = String(await freePort());
  const env = { DATABASE_URL: database.url, LOCAL_STATE_DIR: state, LOG_LEVEL: 'warn', ...fixed };
  run = await startDev(env);
  const created = await fetch(`${run.urls['gateway-b2c']}/b2c/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': `second-dev-${Date.now()}-order-key` },
    body: JSON.stringify({ email: 'ada@example.test', name: 'Ada', theme: 'product-sheet', input: { product: 'Solar kettle' } }),
  });
  expect(created.status).toBe(201);
  expect(await ordersOf(database.url)).toBe(1);

  const second = await runScript('scripts/dev.ts', ['--fresh'], env);
  expect(second.code).toBe(2);
  const lines = second.output.split('\n').filter((l) => l.startsWith('{'));
  expect(lines).toHaveLength(1);
  const line = JSON.parse(lines[0]) as { level: string; msg: string; field: string };
  expect(line).toMatchObject({ level: 'error', field: 'EMULATOR_PORT' });
  for (const [variable, port] of Object.entries(fixed)) expect(line.msg).toContain(`${port} (${variable})`);
  expect(line.msg).toMatch(/npm run dev is already running/);
  expect(second.output).not.toMatch(/^\s+at /m);
  expect(second.output).not.toContain('EADDRINUSE');

  expect(await ordersOf(database.url)).toBe(1);
  expect((await fetch(`${run.urls['gateway-b2c']}/b2c/themes`)).status).toBe(200);
  expect(await run.stop()).toBe(0);
  run = undefined;
});
