import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { readLocalLog } from '../../scripts/local/log-file';
import { answers } from '../../scripts/local/postgres';
import { startGeminiStandIn } from '../support/stand-ins/gemini';
import { devEnv, REPO, runScript } from '../support/local-dev';
import { createTestDatabase, TestDatabase } from '../support/postgres';

/**
 * Ctrl-C in the terminal of `npm run dev` sends SIGINT to its whole process group, not to the
 * dev process alone. The platform then drains its workers before it stops the emulator: a
 * document being made at that moment is stored and its order ready. The emulator, a child in the
 * same group, stopped on the signal at once, so the job in flight failed on S3
 * (ECONNREFUSED), its order stayed `generating` and the message, held in the emulator's memory,
 * was gone. The drain can be long (a slow model call): the first Ctrl-C says so, and a second one
 * stops at once, which it ignored.
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

interface GroupRun {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | string | null>;
  b2c: string;
}

/** scripts/dev.ts in its own process group, as a terminal gives the command it runs, up to its banner. */
async function startInGroup(env: Record<string, string>): Promise<GroupRun> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'scripts', 'dev.ts')], {
    cwd: REPO,
    env: devEnv({ DATABASE_URL: database.url, LOCAL_STATE_DIR: state, LOG_LEVEL: 'warn', ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  for (const until = Date.now() + 120_000; !out.includes('Ctrl-C stops everything.'); await new Promise((r) => setTimeout(r, 100))) {
    if (Date.now() > until || child.exitCode !== null) {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGKILL');
      throw new Error(`npm run dev printed no banner:\n${out}`);
    }
  }
  return { child, output: () => out, exited, b2c: /^ {2}gateway-b2c +(http:\S+)/m.exec(out)![1] };
}

/** An order of a PDF theme, paid, once the worker has taken it. */
async function orderTaken(run: GroupRun): Promise<string> {
  const created = await fetch(`${run.b2c}/b2c/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': `ctrl-c-${Date.now()}-order-key` },
    body: JSON.stringify({ email: 'ada@example.test', name: 'Ada', theme: 'market-study', input: { topic: 'Tea', country: 'Peru' } }),
  });
  expect(created.status).toBe(201);
  const orderId = ((await created.json()) as { order: { id: string } }).order.id;
  const paid = await runScript('scripts/local/pay.ts', [orderId], { DATABASE_URL: database.url, SERVICE_URL_GATEWAY_B2C: run.b2c });
  expect(paid.code).toBe(0);
  const taken = () => readLocalLog(logFile()).some((l) => l.msg === 'order taken for generation' && l.orderId === orderId);
  for (const until = Date.now() + 30_000; !taken(); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() > until) throw new Error(`the worker never took order ${orderId}:\n${run.output()}`);
  }
  return orderId;
}

const logFile = () => join(state, 'logs', 'platform.jsonl');

async function orderStatus(orderId: string): Promise<string> {
  const c = new Client({ connectionString: database.url });
  await c.connect();
  try {
    return (await c.query('SELECT status FROM orders WHERE id = $1', [orderId])).rows[0].status;
  } finally {
    await c.end();
  }
}

test('Ctrl-C (SIGINT to the process group) while a document is made: it is stored, the order is ready, dev exits 0', async () => {
  const run = await startInGroup({});
  try {
    const orderId = await orderTaken(run);
    process.kill(-run.child.pid!, 'SIGINT');
    expect(await run.exited).toBe(0);

    const lines = readLocalLog(logFile()).filter((l) => l.orderId === orderId);
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
    expect(await orderStatus(orderId)).toBe('ready');
  } finally {
    if (run.child.exitCode === null) process.kill(-run.child.pid!, 'SIGKILL');
  }
});

test('one Ctrl-C that reaches dev twice at once (the terminal\'s SIGINT and a wrapper\'s relay of it) is one: the drain goes on, exit 0', async () => {
  // npm forwards the signal to its child, and under a shell that execs the command (bash) that child
  // is dev itself; tsx's CLI, which npm run dev ran until then, relayed it too when the child's
  // report of the signal took over 30 ms (a loaded machine). The second copy stopped dev at once (130).
  expect(JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).scripts.dev).toBe('node --import tsx scripts/dev.ts');
  const run = await startInGroup({});
  try {
    const orderId = await orderTaken(run);
    process.kill(-run.child.pid!, 'SIGINT');
    await new Promise((r) => setTimeout(r, 40));
    process.kill(-run.child.pid!, 'SIGINT');
    expect(await run.exited).toBe(0);
    expect(run.output()).not.toContain('stopping now');
    expect(await orderStatus(orderId)).toBe('ready');
  } finally {
    if (run.child.exitCode === null) process.kill(-run.child.pid!, 'SIGKILL');
  }
});

test('Ctrl-C says it waits for the jobs in flight; a second one stops at once (130), the emulator with it', async () => {
  const gemini = await startGeminiStandIn({ apiKey: 'ctrl-c-gemini-key' });
  const run = await startInGroup({ GEMINI_API_KEY: 'ctrl-c-gemini-key', GEMINI_BASE_URL: gemini.url });
  try {
    const emulatorPort = Number(new URL(/^ {2}sqs\/s3 +(http:\S+)/m.exec(run.output())![1]).port);
    gemini.delayNext(120_000, 10);
    await orderTaken(run);
    process.kill(-run.child.pid!, 'SIGINT');
    for (const until = Date.now() + 10_000; !/Ctrl-C again/.test(run.output()); await new Promise((r) => setTimeout(r, 50))) {
      if (Date.now() > until) throw new Error(`nothing said after Ctrl-C:\n${run.output()}`);
    }
    await new Promise((r) => setTimeout(r, 1500));
    expect(run.child.exitCode).toBeNull(); // still draining: the content call holds the job
    const second = Date.now();
    process.kill(-run.child.pid!, 'SIGINT');
    expect(await run.exited).toBe(130);
    expect(Date.now() - second).toBeLessThan(5_000);
    for (const until = Date.now() + 5_000; await answers('127.0.0.1', emulatorPort); await new Promise((r) => setTimeout(r, 100))) {
      if (Date.now() > until) throw new Error(`the emulator still answers on ${emulatorPort}`);
    }
  } finally {
    if (run.child.exitCode === null) process.kill(-run.child.pid!, 'SIGKILL');
    await gemini.close();
  }
});
