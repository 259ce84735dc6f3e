import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { readLocalLog } from '../../scripts/local/log-file';
import { runCliProcess } from '../support/cli-process';
import { DevRun, REPO, runScript, startDev } from '../support/local-dev';
import { createTestDatabase, TestDatabase } from '../support/postgres';
import { until } from '../support/workers-harness';

/**
 * `npm run ops -- order <id>` on the local platform, end to end: `npm run dev` (its own process,
 * free ports, its state folder in a temp dir) writes every line to its log file; an order is
 * placed on the B2C gateway, paid with `npm run local:pay`, made by the doc-generation worker;
 * the CLI, in a process of its own, reads that file and tells the order's story, its hops in
 * order, by order id and by the webhook's request id, with the order's row. An id no line names
 * is exit 2. `workers status` on the same run reads the emulator's queues and the workers' state.
 * A B2B batch's request id names its orders; each tells its story from the batch worker on.
 */
jest.setTimeout(180_000);

const CLI = join(REPO, 'scripts', 'ops', 'cli.ts');
const HOPS = ['received', 'paid', 'taken', 'content generated', 'rendered', 'uploaded', 'ready'];

let database: TestDatabase;
let state: string;
let run: DevRun | undefined;

beforeAll(async () => {
  database = await createTestDatabase('ops_order_story');
  state = mkdtempSync(join(tmpdir(), 'ops-order-'));
  run = await startDev({ DATABASE_URL: database.url, LOCAL_STATE_DIR: state, LOG_LEVEL: 'warn' });
});
afterAll(async () => {
  await run?.stop();
  await database?.drop();
  rmSync(state, { recursive: true, force: true });
});

const ops = async (...args: string[]) => {
  const r = await runCliProcess(CLI, args, { env: { LOCAL_STATE_DIR: state, DATABASE_URL: database.url } });
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).filter((l) => l.level === 'error');
  return { code: r.code, json: r.stdout.startsWith('{') ? JSON.parse(r.stdout) : undefined, out: r.stdout, errors };
};

test('an order placed, paid and made on npm run dev: its story from the log file, hops in order, by order id and by request id', async () => {
  const b2c = run!.urls['gateway-b2c'];
  const creationId = `story-${randomUUID()}`;
  const res = await fetch(`${b2c}/b2c/orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID(), 'x-request-id': creationId },
    body: JSON.stringify({ email: 'story@example.test', name: 'Story', theme: 'product-sheet', input: { product: 'Storied kettle' } }),
  });
  expect(res.status).toBe(201);
  const { order, accessToken } = (await res.json()) as { order: { id: string }; accessToken: string };
  const paid = await runScript('scripts/local/pay.ts', [order.id], { DATABASE_URL: database.url, SERVICE_URL_GATEWAY_B2C: b2c });
  expect(paid.output).toContain('webhook answered 200');
  await until(
    async () => ((await (await fetch(`${b2c}/b2c/orders/${order.id}?token=${accessToken}`)).json()) as { order: { status: string } }).order.status === 'ready',
    60_000,
    'the order to be ready',
  );
  const logFile = join(state, 'logs', 'platform.jsonl');
  // The consumer's last line comes right after the order is marked ready.
  await until(() => readLocalLog(logFile).some((l) => l.orderId === order.id && l.msg === 'message done'), 10_000, "the consumer's last line in the log file");
  // The terminal showed warnings only; the file has the info lines.
  expect(run!.output()).not.toContain('"msg":"order received"');

  const story = await ops('order', order.id);
  expect(story.errors).toEqual([]);
  expect(story.code).toBe(0);
  expect(story.json).toMatchObject({
    id: order.id,
    orderId: order.id,
    orders: [order.id],
    source: `the local log ${logFile}`,
    order: { status: 'ready', requestId: creationId, error: null, requeues: 0 },
  });
  expect(story.json.steps.map((s: { step: string }) => s.step)).toEqual(HOPS);
  // The row's key, the attempt's own, is the one the worker uploaded and served: not a key rebuilt from the ids.
  const ready = story.json.lines.find((l: { msg: string }) => l.msg === 'document ready');
  expect(story.json.order.documentKey).toMatch(new RegExp(`/${order.id}/[0-9a-f-]{36}/${order.id}\\.[a-z]+$`));
  expect(story.json.order.documentKey).toBe(ready.key);
  expect(story.json.steps.map((s: { service: string }) => s.service)).toEqual(['order', 'order', ...Array(5).fill('doc-generation')]);
  const times: string[] = story.json.lines.map((l: { time: string }) => l.time);
  expect([...times].sort()).toEqual(times);
  // The creation, then Stripe's webhook, under which the worker made the document; then the test's status reads.
  const [creation, webhook] = story.json.requestIds;
  expect(creation).toBe(creationId);
  expect(creation).not.toBe(webhook);
  const later = story.json.lines.filter((l: { requestId: string }) => l.requestId !== creation && l.requestId !== webhook);
  expect(later.map((l: { service: string; msg: string; path: string }) => `${l.service} ${l.msg} ${l.path}`)).toEqual(
    expect.arrayContaining([`gateway-b2c request /b2c/orders/${order.id}`, `order request /orders/${order.id}`]),
  );
  expect(story.json.steps.map((s: { requestId: string }) => s.requestId)).toEqual([creation, ...Array(6).fill(webhook)]);
  expect(story.json.lines).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ service: 'gateway-b2c', msg: 'request', path: '/b2c/stripe/webhook', status: 200, requestId: webhook }),
      expect.objectContaining({ service: 'core-llm', msg: 'request', path: '/generate', requestId: webhook }),
      expect.objectContaining({ service: 'doc-generation', component: 'consumer', msg: 'message done', requestId: webhook }),
    ]),
  );

  const byRequest = await ops('order', webhook, '--format', 'table');
  expect(byRequest.code).toBe(0);
  expect(byRequest.out).toContain(`order ${order.id} (found by request id ${webhook})`);
  expect(byRequest.out).toContain(`hops: ${HOPS.join(' → ')}`);
  expect(byRequest.out).toContain('database: ready, requeues 0, created ');
  expect(byRequest.out).toContain(`by request ${creationId}, updated `);
  expect(byRequest.out).toContain(`, document ${story.json.order.documentKey}`);

  // The logs gone (another file, an expired retention): the id stored on the order still finds it.
  const noLogs = join(state, 'no-lines.jsonl');
  writeFileSync(noLogs, '');
  const byStoredId = await ops('order', creationId, '--log-file', noLogs);
  expect(byStoredId.code).toBe(0);
  expect(byStoredId.json).toMatchObject({ id: creationId, orderId: order.id, orders: [order.id], lines: [], order: { status: 'ready', requestId: creationId } });
  expect(byRequest.out).toMatch(/doc-generation\s+ready\s+info\s+document ready/);
  // A log file that is not there: the refusal says so, not only that no line names the id.
  const missing = await ops('order', randomUUID(), '--log-file', join(state, 'elsewhere.jsonl'));
  expect(missing.code).toBe(2);
  expect(missing.errors[0]).toMatchObject({ field: 'orderId', msg: expect.stringContaining(`the local log ${join(state, 'elsewhere.jsonl')}, which does not exist (npm run dev writes it`) });

  const workers = await ops('workers', 'status', '--env', 'local', '--endpoint', run!.urls['sqs/s3'], '--log-file', logFile);
  expect(workers.code).toBe(0);
  expect(workers.json.workers).toEqual([
    expect.objectContaining({ worker: 'doc-generation', queues: [expect.objectContaining({ name: 'docplatform-local-doc-jobs', visible: 0, inFlight: 0, dlqVisible: 0 }), expect.objectContaining({ name: 'docplatform-local-batch-doc-jobs' })], local: expect.objectContaining({ state: 'running', lastJobDoneAt: expect.any(String) }) }),
    expect.objectContaining({ worker: 'b2b-batch', queues: [expect.objectContaining({ name: 'docplatform-local-batch-jobs' })], local: expect.objectContaining({ state: 'running' }) }),
  ]);
  // A log file that is not there: its source says so, rather than workers that merely never started.
  const unlogged = await ops('workers', 'status', '--env', 'local', '--endpoint', run!.urls['sqs/s3'], '--log-file', join(state, 'elsewhere.jsonl'));
  expect(unlogged.code).toBe(0);
  expect(unlogged.json.source).toContain(`the local log ${join(state, 'elsewhere.jsonl')}, which does not exist (npm run dev writes it`);
});

test('a B2B batch: its request id names each of its orders; an order of it tells its own story from the batch worker on', async () => {
  const apiKey = /Demo B2B API key \(new at each start\): (\S+)/.exec(run!.banner)![1];
  const res = await fetch(`${run!.urls['gateway-b2b']}/b2b/batches?theme=product-sheet`, {
    method: 'POST',
    headers: { 'x-api-key': apiKey, 'content-type': 'text/csv', 'idempotency-key': randomUUID() },
    body: 'product\nBatch kettle\nBatch lamp\n',
  });
  expect(res.status).toBeLessThan(300);
  const requestId = res.headers.get('x-request-id')!;
  const logFile = join(state, 'logs', 'platform.jsonl');
  const done = () => readLocalLog(logFile).filter((l) => l.requestId === requestId && l.msg === 'message done' && l.service === 'doc-generation');
  await until(() => done().length === 2, 60_000, 'both orders of the batch made');

  const batch = await ops('order', requestId);
  expect(batch.code).toBe(0);
  expect(batch.json.orderId).toBeUndefined();
  expect(batch.json.orders).toHaveLength(2);
  const pg = new Client({ connectionString: database.url });
  await pg.connect();
  const stored = await pg.query<{ id: string }>('SELECT id FROM orders WHERE request_id = $1', [requestId]).finally(() => pg.end());
  expect(stored.rows.map((o) => o.id).sort()).toEqual([...batch.json.orders].sort());
  const [orderId] = batch.json.orders;
  const one = await ops('order', orderId);
  expect(one.code).toBe(0);
  expect(one.json.steps.map((s: { step: string; service: string }) => [s.step, s.service])).toEqual([
    ['received', 'b2b-batch'],
    ...['taken', 'content generated', 'rendered', 'uploaded', 'ready'].map((step) => [step, 'doc-generation']),
  ]);
  expect(one.json.requestIds).toEqual([requestId]);
  expect(one.json.order).toMatchObject({ requestId, batchId: expect.any(String) });
});

test('an id that no line of the log names is exit 2, naming orderId; so is an id that is none', async () => {
  const unknown = await ops('order', '00000000-0000-4000-8000-000000000000');
  expect({ code: unknown.code, field: unknown.errors[0]?.field }).toEqual({ code: 2, field: 'orderId' });
  expect(unknown.errors[0].msg).toContain('no log line names "00000000-0000-4000-8000-000000000000"');
  expect(unknown.out).toBe('');
  const bad = await ops('order', 'two words');
  expect({ code: bad.code, field: bad.errors[0]?.field }).toEqual({ code: 2, field: 'orderId' });
  const none = await ops('order');
  expect({ code: none.code, field: none.errors[0]?.field }).toEqual({ code: 2, field: 'orderId' });
});
