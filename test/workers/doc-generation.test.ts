import { spawn, ChildProcess, execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { readConfig, resolveConfig } from '../../core/config';
import { createLogger } from '../../core/logger';
import { startWorker } from '../../containers/doc-generation/worker';
import { runPandoc } from '../../containers/doc-generation/render/pandoc';
import type { RunningWorker } from '../../containers/shared/process';
import { startWorkerHarness, WorkerHarness, until, attemptKeyPattern } from '../support/workers-harness';

const REPO = join(__dirname, '..', '..');
const quiet = createLogger({ test: 'doc-generation' }, 'error', () => undefined);
const collapse = (s: string): string => s.replace(/\s+/g, ' ').trim();

function pdfText(pdf: Buffer): string {
  const dir = mkdtempSync(join(tmpdir(), 'pdf-'));
  try {
    writeFileSync(join(dir, 'doc.pdf'), pdf);
    return execFileSync('pdftotext', [join(dir, 'doc.pdf'), '-'], { encoding: 'utf8' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The worker as ECS runs it: its own process, entry main.ts, JSON logs on stdout. */
function spawnWorker(env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'containers/doc-generation/main.ts')], {
    cwd: REPO,
    env: { ...process.env, ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return child;
}

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

describe('doc-generation worker', () => {
  let h: WorkerHarness;
  let worker: RunningWorker | undefined;

  beforeAll(async () => {
    h = await startWorkerHarness('worker_docgen', { docVisibilitySeconds: 3, maxReceiveCount: 2 });
  });
  afterEach(async () => {
    await worker?.stop();
    worker = undefined;
  });
  afterAll(() => h.stop());

  const startInProcess = async () => {
    worker = await startWorker({ config: h.config, worker: { concurrency: 2, waitTimeSeconds: 1, drainSeconds: 10 }, logger: quiet });
  };
  const sendJob = (body: string) => h.sqs.send(new SendMessageCommand({ QueueUrl: h.queues.docJobs, MessageBody: body }));
  const orderRow = (id: string) => h.db('orders').where({ id }).first();
  const readyOrder = (id: string) => until(async () => ((await orderRow(id))?.status === 'ready' ? orderRow(id) : undefined), 30_000, `order ${id} ready`);

  test('PDF theme: the PDF text (pdftotext) holds the generated content and the theme title', async () => {
    await startInProcess();
    const clientId = await h.createClient();
    const orderId = await h.createOrder(clientId, 'business-plan', { company: 'Solaris SAS', sector: 'solar energy' });
    await sendJob(JSON.stringify({ v: 1, orderId }));
    const order = await readyOrder(orderId);
    expect(order.document_key).toMatch(attemptKeyPattern(clientId, orderId, 'pdf'));
    const text = collapse(pdfText(await h.storage.get('reports', order.document_key)));
    expect(text).toContain('Business plan');
    const expected = (await runPandoc(['-f', 'markdown-raw_html', '-t', 'plain', '--wrap=none'], await h.expectedText(orderId))).toString();
    for (const line of expected.split('\n').map((l) => collapse(l.replace(/^-\s+/, ''))).filter(Boolean)) expect(text).toContain(line);
    expect(text).toContain('Solaris SAS');
  });

  test('DOCX theme: the document converts back (pandoc docx → plain) to the generated text', async () => {
    await startInProcess();
    const clientId = await h.createClient();
    const orderId = await h.createOrder(clientId, 'cover-letter', { name: 'Ada', position: 'engineer', company: 'Acme' });
    await sendJob(JSON.stringify({ v: 1, orderId }));
    const order = await readyOrder(orderId);
    expect(order.document_key).toMatch(attemptKeyPattern(clientId, orderId, 'docx'));
    const docx = await h.storage.get('reports', order.document_key);
    const back = (await runPandoc(['-f', 'docx', '-t', 'plain', '--wrap=none'], docx)).toString().trim();
    const expected = (await runPandoc(['-f', 'markdown-raw_html', '-t', 'plain', '--wrap=none'], await h.expectedText(orderId))).toString().trim();
    expect(back).toBe(expected);
    expect((await runPandoc(['-s', '-f', 'docx', '-t', 'plain'], docx)).toString().split('\n')[0]).toBe('Cover letter');
  });

  test('DOCX theme: image syntax in the order input (a local file, a local URL) becomes alt text; nothing is read or fetched', async () => {
    let hits = 0;
    const server = createServer((_req, res) => {
      hits += 1;
      res.writeHead(200, { 'content-type': 'image/png' }).end('HTTP-CANARY');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      await startInProcess();
      const clientId = await h.createClient();
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const orderId = await h.createOrder(clientId, 'cover-letter', { name: '![env-alt](/proc/self/environ)', position: `![url-alt](${url})`, company: 'Acme' });
      await sendJob(JSON.stringify({ v: 1, orderId }));
      const docx = await h.storage.get('reports', (await readyOrder(orderId)).document_key);
      // Part names sit uncompressed in a zip's directory: no media part means nothing was embedded.
      expect(docx.includes('word/media/')).toBe(false);
      expect(hits).toBe(0);
      const back = collapse((await runPandoc(['-f', 'docx', '-t', 'plain', '--wrap=none'], docx)).toString());
      expect(back).toContain('from env-alt applying for the position of url-alt at Acme.');
    } finally {
      server.close();
    }
  });

  test('a redelivered job for a finished order makes no second document and leaves the order ready', async () => {
    await startInProcess();
    const clientId = await h.createClient();
    const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Heat pump' });
    await sendJob(JSON.stringify({ v: 1, orderId }));
    const first = await readyOrder(orderId);
    const calls = h.llmCalls.count;
    await sendJob(JSON.stringify({ v: 1, orderId }));
    await sendJob(JSON.stringify({ v: 1, orderId }));
    await until(async () => {
      const d = await h.queueDepth(h.queues.docJobs);
      return d.visible + d.inFlight === 0;
    }, 15_000, 'redeliveries consumed');
    const after = await orderRow(orderId);
    expect(after.status).toBe('ready');
    expect(after.updated_at).toEqual(first.updated_at);
    expect(h.llmCalls.count).toBe(calls);
    expect(await h.listKeys('reports', `${clientId}/`)).toEqual([after.document_key]);
  });

  test('poison messages (bad JSON, unknown order) use up their receives at once, land in the DLQ and never block the others', async () => {
    await startInProcess();
    const clientId = await h.createClient();
    await sendJob('{"v":1, "orderId": oops');
    await sendJob(JSON.stringify({ v: 1, orderId: '00000000-0000-4000-8000-000000000000' }));
    const good = await Promise.all([1, 2, 3].map((n) => h.createOrder(clientId, 'product-sheet', { product: `Widget ${n}` })));
    for (const orderId of good) await sendJob(JSON.stringify({ v: 1, orderId }));
    const t0 = Date.now();
    await Promise.all(good.map(readyOrder));
    // The good orders do not wait behind the poison messages, which come back at once until the DLQ takes them.
    expect(Date.now() - t0).toBeLessThan(3_000);
    const dead = await until(async () => {
      const d = await h.queueDepth(h.queues.docJobsDlq);
      return d.visible === 2 ? h.drainQueue(h.queues.docJobsDlq) : undefined;
    }, 20_000, 'two messages in the DLQ');
    expect(dead.sort()).toEqual(['{"v":1, "orderId": oops', JSON.stringify({ v: 1, orderId: '00000000-0000-4000-8000-000000000000' })].sort());
  });

  test('a permanent refusal by core-llm (a 4xx: here a prompt over its limit) fails the order with the reason at once and deletes the message: no retry, no DLQ', async () => {
    await startInProcess();
    const clientId = await h.createClient();
    // Past the gateways' checks (each field at most 2,000 characters), as a row written by hand or a migrated order could be.
    const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'x'.repeat(25_000) });
    const asked = h.llmRequests.count;
    await sendJob(JSON.stringify({ v: 1, orderId }));
    const failed = await until(async () => ((await orderRow(orderId)).status === 'failed' ? orderRow(orderId) : undefined), 15_000, 'the order failed');
    expect(failed.error).toMatch(/^document generation rejected: /);
    await until(async () => {
      const d = await h.queueDepth(h.queues.docJobs);
      return d.visible + d.inFlight === 0;
    }, 10_000, 'the message deleted');
    expect({ requests: h.llmRequests.count - asked, dlq: await h.queueDepth(h.queues.docJobsDlq) }).toEqual({ requests: 1, dlq: { visible: 0, inFlight: 0 } });
  });

  test('kill -9 of a worker process mid-job: the message returns after its visibility timeout, one document exists, the order ends ready', async () => {
    const clientId = await h.createClient();
    const orderId = await h.createOrder(clientId, 'business-plan', { company: 'Killjoy Ltd', sector: 'retail' });
    h.llmDelay.ms = 60_000;
    const child = spawnWorker({ ...h.env, WORKER_CONCURRENCY: '1' });
    let logs = '';
    child.stdout!.on('data', (c) => (logs += c));
    await sendJob(JSON.stringify({ v: 1, orderId }));
    await until(async () => (await orderRow(orderId)).status === 'generating', 20_000, 'the child worker to take the job');
    await until(() => h.llmCalls.count > 0, 10_000, 'the job to reach core-llm');
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    const killedAt = Date.now();
    h.llmDelay.ms = 0;
    // Still in flight under the dead worker's last heartbeat: nobody can receive it yet.
    const early = await h.sqs.send(new ReceiveMessageCommand({ QueueUrl: h.queues.docJobs, WaitTimeSeconds: 0, VisibilityTimeout: 1 }));
    expect(early.Messages ?? []).toHaveLength(0);
    await startInProcess();
    const order = await readyOrder(orderId);
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(1_000);
    expect(order.document_key).toMatch(attemptKeyPattern(clientId, orderId, 'pdf'));
    expect(await h.listKeys('reports', `${clientId}/`)).toEqual([order.document_key]);
    expect(await h.queueDepth(h.queues.docJobsDlq)).toEqual({ visible: 0, inFlight: 0 });
    expect(JSON.parse(logs.split('\n').find((l) => l.includes('consumer started'))!)).toMatchObject({ level: 'info', service: 'doc-generation' });
  });

  test('SIGTERM with an idle worker process: it drains and exits 0 at once', async () => {
    const child = spawnWorker({ ...h.env });
    let logs = '';
    child.stdout!.on('data', (c) => (logs += c));
    await until(() => logs.includes('"consumer started"'), 20_000, 'the worker to start');
    const t0 = Date.now();
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(logs).toContain('"stopped cleanly"');
  });

  test('the worker refuses to start with a message naming a bad variable', async () => {
    const config = await resolveConfig(readConfig({ ...h.env }));
    await expect(startWorker({ config: { ...config, queues: {} }, logger: quiet })).rejects.toThrow('DOC_JOBS_QUEUE_URL is not set');
  });
});
