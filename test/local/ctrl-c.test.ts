import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { readLocalLog } from '../../scripts/local/log-file';
import { devEnv, REPO, runScript } from '../support/local-dev';
import { createTestDatabase, TestDatabase } from '../support/postgres';

/**
 * Ctrl-C in the terminal of `npm run dev` sends SIGINT to its whole process group, not to the
 * dev process alone. The platform then drains its workers before it stops the emulator: a
 * document being made at that moment is stored and its order ready. The emulator, a child in the
 * same group, stopped on the signal at once, so the job in flight failed on S3
 * (ECONNREFUSED), its order stayed `generating` and the message, held in the emulator's memory,
 * was gone.
 */
jest.setTimeout(180_000);

let database: TestDatabase;
let state: string;

beforeAll(async () => {
  database = await createTestDatabase('local_ctrl_c');
  state = mkdtempSync(join(tmpdir(), 'ctrl-c-'));
});
afterAll(async () => {
  await database.drop();
  rmSync(state, { recursive: true, force: true });
});

test('Ctrl-C (SIGINT to the process group) while a document is made: it is stored, the order is ready, dev exits 0', async () => {
  // Its own process group, as a terminal gives the command it runs.
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'scripts', 'dev.ts')], {
    cwd: REPO,
    env: devEnv({ DATABASE_URL: database.url, LOCAL_STATE_DIR: state, LOG_LEVEL: 'warn' }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  try {
    for (const until = Date.now() + 120_000; !out.includes('Ctrl-C stops everything.'); await new Promise((r) => setTimeout(r, 100))) {
      if (Date.now() > until || child.exitCode !== null) throw new Error(`npm run dev printed no banner:\n${out}`);
    }
    const b2c = /^ {2}gateway-b2c +(http:\S+)/m.exec(out)![1];
    const created = await fetch(`${b2c}/b2c/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': `ctrl-c-${Date.now()}-order-key` },
      body: JSON.stringify({ email: 'ada@example.test', name: 'Ada', theme: 'market-study', input: { topic: 'Tea', country: 'Peru' } }),
    });
    expect(created.status).toBe(201);
    const orderId = ((await created.json()) as { order: { id: string } }).order.id;
    const paid = await runScript('scripts/local/pay.ts', [orderId], { DATABASE_URL: database.url, SERVICE_URL_GATEWAY_B2C: b2c });
    expect(paid.code).toBe(0);

    const logFile = join(state, 'logs', 'platform.jsonl');
    const taken = () => readLocalLog(logFile).some((l) => l.msg === 'order taken for generation' && l.orderId === orderId);
    for (const until = Date.now() + 30_000; !taken(); await new Promise((r) => setTimeout(r, 20))) {
      if (Date.now() > until) throw new Error(`the worker never took order ${orderId}:\n${out}`);
    }
    process.kill(-child.pid!, 'SIGINT');
    expect(await exited).toBe(0);

    const lines = readLocalLog(logFile).filter((l) => l.orderId === orderId);
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
    const c = new Client({ connectionString: database.url });
    await c.connect();
    try {
      expect((await c.query('SELECT status FROM orders WHERE id = $1', [orderId])).rows[0].status).toBe('ready');
    } finally {
      await c.end();
    }
  } finally {
    if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
  }
});
