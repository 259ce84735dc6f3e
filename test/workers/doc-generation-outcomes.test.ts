import { spawn, ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { createInternalClient } from '../../core/internal-client';
import { createLogger } from '../../core/logger';
import { markFailed, markGenerating, markReady } from '../../core/domain/orders';
import type { Storage } from '../../core/storage';
import { handleDocJob, DocJobDeps } from '../../containers/doc-generation/handler';
import { PdfRenderer } from '../../containers/doc-generation/render/browser';
import { startWorker } from '../../containers/doc-generation/worker';
import type { RunningWorker } from '../../containers/shared/process';
import { Semaphore } from '../../containers/shared/semaphore';
import { startWorkerHarness, WorkerHarness, until, sleep, attemptKeyPattern } from '../support/workers-harness';

/**
 * How a paid order always ends (`ready` or `failed`, never stuck), on the real pieces: a fresh
 * PostgreSQL database, fauxqs (doc-jobs: visibility 3 s, maxReceiveCount 2, so a message's second
 * receive is its last), the real core-llm app over HTTP and the real worker.
 */
const quiet = createLogger({ test: 'doc-generation-outcomes' }, 'error', () => undefined);
const REPO = join(__dirname, '..', '..');
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

describe('doc-generation: how an order ends', () => {
  let h: WorkerHarness;
  const workers: RunningWorker[] = [];

  beforeAll(async () => {
    h = await startWorkerHarness('worker_outcomes', { docVisibilitySeconds: 3, maxReceiveCount: 2 });
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop().catch(() => undefined)));
    h.llmThrottle.on = false;
    h.llmThrottle.retryAfterSeconds = undefined;
    h.llmDelay.ms = 0;
    await h.drainQueue(h.queues.docJobs, 0);
    await h.drainQueue(h.queues.docJobsDlq, 0);
    // No test leaves an order for the next one's worker (its hand-off message or the sweeper would take it up and call core-llm).
    await h.db('orders').whereIn('status', ['paid', 'queued', 'generating']).update({ status: 'failed', error: 'left by an earlier test', generation_owner: null, generation_lease_until: null });
  });
  afterAll(() => h.stop());

  const start = async (worker: { drainSeconds?: number; concurrency?: number } = {}, deadlines?: { maxRequeues: number }, logger = quiet) => {
    const w = await startWorker({ config: h.config, worker: { concurrency: 2, waitTimeSeconds: 1, drainSeconds: 10, ...worker }, logger, deadlines });
    workers.push(w);
    return w;
  };
  /** Stops a worker the way SIGTERM does (drain, then close). */
  const stop = async (w: RunningWorker) => {
    workers.splice(workers.indexOf(w), 1);
    await w.stop();
  };
  const sendJob = (orderId: string) => h.sqs.send(new SendMessageCommand({ QueueUrl: h.queues.docJobs, MessageBody: JSON.stringify({ v: 1, orderId }) }));
  /** Receives the one visible message and gives it back at once: the worker's receive is then its last (maxReceiveCount 2). */
  const burnReceive = async () => {
    const got = await h.sqs.send(new ReceiveMessageCommand({ QueueUrl: h.queues.docJobs, WaitTimeSeconds: 2, VisibilityTimeout: 0 }));
    expect(got.Messages ?? []).toHaveLength(1);
  };
  const orderRow = (id: string) => h.db('orders').where({ id }).first();
  /** The handler as the worker wires it, with a storage that counts uploads. */
  const directDeps = (puts: string[]): DocJobDeps => {
    const storage: Storage = {
      ...h.storage,
      put: async (bucket, key, body, contentType) => {
        puts.push(key);
        await h.storage.put(bucket, key, body, contentType);
      },
    };
    return {
      db: h.db,
      storage,
      internal: createInternalClient(h.config),
      pdf: new PdfRenderer({ executablePath: '/usr/bin/chromium', maxConcurrentPages: 1, recycleAfter: 100, logger: quiet }),
      renderSlots: new Semaphore(1),
      pandoc: {},
      reportsBucket: 'reports',
      batchBucket: 'assets',
      logger: quiet,
      // What the worker derives from this harness's doc-jobs queue (visibility 3 s, maxReceiveCount 2).
      deadlines: { leaseMs: 1500, renewEveryMs: 500, stuckAfterMs: 9000, successorDelaySeconds: 3, sweepEveryMs: 1000, maxRequeues: 2 },
      jobs: { sendDocJob: async () => undefined },
    } as DocJobDeps;
  };
  const message = (orderId: string, receiveCount = 1) => {
    const id = randomUUID();
    return { id, body: JSON.stringify({ v: 1, orderId }), receiveCount, lastAttempt: false, requestId: `msg-${id}`, logger: quiet, beforeRelease: () => undefined };
  };


  describe('over the generation budget (core-llm 429 with Retry-After): the message goes back with that visibility, not a slot held', () => {
    /** The given-back messages come back after the Retry-After: once visible, they are taken out of the next test's way. */
    const takeBack = async (messages: number) => {
      let back = 0;
      await until(async () => (back += (await h.drainQueue(h.queues.docJobs, 0)).length) >= messages, 15_000, `${messages} message(s) back`);
    };

    test('with receives to spare: RetryLater with the Retry-After (the consumer sets it as the visibility), the lease ending a second before the message is back, one call', async () => {
      const clientId = await h.createClient();
      const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Throttled pump' });
      h.llmThrottle.on = true;
      h.llmThrottle.retryAfterSeconds = 8;
      const before = h.llmRequests.count;
      const received = { ...message(orderId), receivesLeft: 4 };
      await expect(handleDocJob(directDeps([]), received)).rejects.toMatchObject({ name: 'RetryLater', afterSeconds: 8 });
      const order = await orderRow(orderId);
      // Parked, not ended now: no other delivery retakes it before its window, and the sweeper sees it waiting.
      const leaseLeftMs = new Date(order.generation_lease_until).getTime() - Date.now();
      expect({ calls: h.llmRequests.count - before, status: order.status, parkedUntilBack: leaseLeftMs > 5_000 && leaseLeftMs <= 7_000 }).toEqual({
        calls: 1,
        status: 'generating',
        parkedUntilBack: true,
      });
    });

    test('the lease stays parked: no renewal in flight when core-llm refused lands after it and holds the order for a whole lease', async () => {
      const clientId = await h.createClient();
      const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Busy pump' });
      h.llmThrottle.on = true;
      h.llmThrottle.retryAfterSeconds = 3;
      // A long lease renewed all the time: whenever the refusal comes, renewals are on their way.
      const deps = { ...directDeps([]), deadlines: { ...directDeps([]).deadlines, leaseMs: 60_000, renewEveryMs: 1 } };
      await expect(handleDocJob(deps, { ...message(orderId), receivesLeft: 4 })).rejects.toMatchObject({ name: 'RetryLater', afterSeconds: 3 });
      await sleep(500);
      const order = await orderRow(orderId);
      // Parked until a second before the message is back (2 s), not renewed to the 60 s lease.
      expect(new Date(order.generation_lease_until).getTime() - Date.now()).toBeLessThan(2_000);
    });

    test('with one receive left: a fresh message, delayed by the Retry-After, takes the order on (no receive used up, no hand-off counted)', async () => {
      const clientId = await h.createClient();
      const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Patient pump' });
      h.llmThrottle.on = true;
      h.llmThrottle.retryAfterSeconds = 8;
      const before = h.llmRequests.count;
      const w = await start();
      await sendJob(orderId);
      await until(() => h.llmRequests.count > before, 10_000, 'the first (429) call to core-llm');
      await until(async () => new Date((await orderRow(orderId)).generation_lease_until).getTime() > Date.now() + 5_000, 5_000, 'the lease parked until the message is back');
      await stop(w);
      // The received message is deleted; the fresh one waits out its delay (not counted as visible or in flight).
      expect({ calls: h.llmRequests.count - before, queue: await h.queueDepth(h.queues.docJobs), order: await orderRow(orderId) }).toMatchObject({
        calls: 1,
        queue: { visible: 0, inFlight: 0 },
        order: { status: 'generating', requeues: 0, error: null },
      });
      await takeBack(1);
    });

    test('on the last attempt too: the order is not marked failed, and its hand-off message carries it on', async () => {
      const clientId = await h.createClient();
      const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Last-chance pump' });
      h.llmThrottle.on = true;
      h.llmThrottle.retryAfterSeconds = 8;
      await sendJob(orderId);
      await burnReceive();
      const before = h.llmRequests.count;
      const w = await start();
      await until(() => h.llmRequests.count > before, 10_000, 'the first (429) call to core-llm');
      await until(async () => new Date((await orderRow(orderId)).generation_lease_until).getTime() > Date.now() + 5_000, 5_000, 'the lease parked until the message is back');
      await stop(w);
      const order = await orderRow(orderId);
      expect({ status: order.status, error: order.error, requeues: order.requeues, calls: h.llmRequests.count - before }).toEqual({ status: 'generating', error: null, requeues: 1, calls: 1 });
      // The hand-off (delayed 3 s) comes back; the given-back message, past its last receive, goes to the DLQ when it does.
      await takeBack(1);
      await until(async () => (await h.queueDepth(h.queues.docJobsDlq)).visible === 1 || (await h.drainQueue(h.queues.docJobs, 0), false), 15_000, 'the given-back message in the DLQ');
    });
  });

  test('a DOCX answer nested 5,000 quotes deep fails the order on its first receive, with a reason, and the message is done (no retry)', async () => {
    const clientId = await h.createClient();
    const orderId = await h.createOrder(clientId, 'cover-letter', { name: 'Ada', position: 'engineer', company: 'Acme' });
    const puts: string[] = [];
    // What a prompt injection makes the model answer; core-llm passes it on as the text.
    const deps = { ...directDeps(puts), internal: { json: async () => ({ text: `${'> '.repeat(5000)}deep`, cached: false, model: 'm', provider: 'p', promptHash: 'h' }) } } as unknown as DocJobDeps;
    await expect(handleDocJob(deps, { ...message(orderId), receivesLeft: 4 })).resolves.toBeUndefined();
    await deps.pdf.close();
    expect({ order: await orderRow(orderId), puts }).toMatchObject({
      order: { status: 'failed', error: expect.stringMatching(/^document generation rejected: the generated document nests too deeply to render as DOCX/) },
      puts: [],
    });
  });

  describe('bug 6b: `generating` has an owner and a lease; a second taker does not render', () => {
    test('two concurrent deliveries of one job: one core-llm call, one upload, the order ready once; the other delivery comes back later and is dropped', async () => {
      const clientId = await h.createClient();
      const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Twin pump' });
      const puts: string[] = [];
      const deps = directDeps(puts);
      h.llmDelay.ms = 500;
      const before = h.llmRequests.count;
      const settled = await Promise.allSettled([handleDocJob(deps, message(orderId)), handleDocJob(deps, message(orderId))]);
      expect({ calls: h.llmRequests.count - before, puts, outcomes: settled.map((r) => r.status).sort() }).toEqual({
        calls: 1,
        puts: [expect.stringMatching(attemptKeyPattern(clientId, orderId, 'html'))],
        outcomes: ['fulfilled', 'rejected'],
      });
      const ready = await orderRow(orderId);
      expect(ready.status).toBe('ready');
      // The loser's message comes back: the order is final, so it renders nothing and is deleted.
      await handleDocJob(deps, message(orderId, 2));
      expect({ calls: h.llmRequests.count - before, puts: puts.length, updatedAt: (await orderRow(orderId)).updated_at }).toEqual({ calls: 1, puts: 1, updatedAt: ready.updated_at });
    });

    test('two identical messages, concurrency 2: one core-llm call, one document, ready; both messages end deleted', async () => {
      const clientId = await h.createClient();
      const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Duplicate pump' });
      h.llmDelay.ms = 1000;
      const before = h.llmRequests.count;
      await sendJob(orderId);
      await sendJob(orderId);
      await start({ concurrency: 2 });
      await until(async () => (await orderRow(orderId)).status === 'ready', 15_000, 'the order ready');
      await until(async () => {
        const d = await h.queueDepth(h.queues.docJobs);
        return d.visible + d.inFlight === 0;
      }, 15_000, 'both messages consumed');
      expect({ calls: h.llmRequests.count - before, keys: await h.listKeys('reports', `${clientId}/`), dlq: await h.queueDepth(h.queues.docJobsDlq) }).toEqual({
        calls: 1,
        keys: [expect.stringMatching(attemptKeyPattern(clientId, orderId, 'html'))],
        dlq: { visible: 0, inFlight: 0 },
      });
    });

    test('only the owner moves its order to ready or failed; an expired lease lets another attempt retake it', async () => {
      const clientId = await h.createClient();
      const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Owned pump' });
      const a = randomUUID();
      const b = randomUUID();
      expect((await markGenerating(h.db, orderId, { owner: a, leaseMs: 600 }))?.status).toBe('generating');
      // A live lease: no second taker, and no one but the owner ends the order.
      expect(await markGenerating(h.db, orderId, { owner: b, leaseMs: 600 })).toBeUndefined();
      expect(await markReady(h.db, orderId, `${clientId}/${orderId}.html`, b)).toBeUndefined();
      expect(await markFailed(h.db, orderId, 'not yours', b)).toBeUndefined();
      await sleep(800);
      // The owner stopped renewing (crashed): its lease expired, another attempt takes over and the old owner is fenced off.
      expect((await markGenerating(h.db, orderId, { owner: b, leaseMs: 600 }))?.status).toBe('generating');
      expect(await markReady(h.db, orderId, `${clientId}/${orderId}.html`, a)).toBeUndefined();
      const ready = await markReady(h.db, orderId, `${clientId}/${orderId}.html`, b);
      expect(ready?.status).toBe('ready');
    });
  });

  describe('a job released at the drain deadline hands its order over', () => {
    test('its lease is given up before the message is visible again: the next delivery takes the order at once', async () => {
      const clientId = await h.createClient();
      const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Handed-over pump' });
      h.llmDelay.ms = 5_000;
      const before = h.llmRequests.count;
      await sendJob(orderId);
      const w = await start({ drainSeconds: 1 });
      await until(() => h.llmRequests.count > before, 10_000, 'the attempt to reach core-llm');
      await stop(w);
      h.llmDelay.ms = 0;
      // Before: the attempt kept renewing until its process closed, and the next delivery found the order busy.
      expect(await h.db('orders').where({ id: orderId }).first(h.db.raw('status, generation_lease_until <= now() as lease_over'))).toEqual({ status: 'generating', lease_over: true });
      const got = await h.sqs.send(new ReceiveMessageCommand({ QueueUrl: h.queues.docJobs, WaitTimeSeconds: 1, MessageSystemAttributeNames: ['ApproximateReceiveCount'] }));
      expect(got.Messages ?? []).toHaveLength(1);
      const [next] = got.Messages!;
      await handleDocJob(directDeps([]), { ...message(orderId, Number(next.Attributes?.ApproximateReceiveCount)), body: next.Body! });
      expect(await orderRow(orderId)).toMatchObject({ status: 'ready', document_key: expect.stringMatching(attemptKeyPattern(clientId, orderId, 'html')) });
      await h.drainQueue(h.queues.docJobs, 0);
    });

    test('an attempt that fails after giving its order up ends nothing: on its last receive too, the order stays for the next delivery', async () => {
      const clientId = await h.createClient();
      const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Given-up pump' });
      let giveUp: (() => Promise<void>) | undefined;
      let fail: (err: Error) => void = () => undefined;
      const deps: DocJobDeps = {
        ...directDeps([]),
        // core-llm still working when the drain deadline comes, then failing (its connection cut as the task stops).
        internal: { json: () => new Promise((_, reject) => (fail = reject)) },
      };
      const attempt = handleDocJob(deps, { ...message(orderId, 2), lastAttempt: true, receivesLeft: 0, beforeRelease: (fn) => void (giveUp = fn) }).catch((e: unknown) => e);
      await until(() => giveUp !== undefined, 5_000, 'the attempt to register its give-up');
      await sleep(100);
      // What the consumer does at the drain deadline before the message is visible again.
      await giveUp!();
      fail(new Error('core-llm: socket hang up'));
      expect(await attempt).toBeInstanceOf(Error);
      // Before: marked failed ('failed after repeated attempts') under the delivery taking it over.
      expect(await h.db('orders').where({ id: orderId }).first(h.db.raw('status, error, generation_lease_until <= now() as lease_over'))).toEqual({ status: 'generating', error: null, lease_over: true });
      await handleDocJob(directDeps([]), message(orderId, 1));
      expect((await orderRow(orderId)).status).toBe('ready');
    });

    test('a delivery that finds the order held by a live lease comes back when the lease ends, logged at info, not as a failure', async () => {
      const clientId = await h.createClient();
      const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Held pump' });
      await markGenerating(h.db, orderId, { owner: randomUUID(), leaseMs: 2_000 });
      const before = h.llmRequests.count;
      const busy = await handleDocJob(directDeps([]), { ...message(orderId), receivesLeft: 1 }).catch((e: unknown) => e);
      expect({ name: (busy as Error).name, calls: h.llmRequests.count - before }).toEqual({ name: 'RetryLater', calls: 0 });
      // The lease's remaining time (2 s) plus 1 s: back once it has ended, not after the visibility timeout.
      expect((busy as { afterSeconds: number }).afterSeconds).toBeGreaterThanOrEqual(2);
      expect((busy as { afterSeconds: number }).afterSeconds).toBeLessThanOrEqual(3);

      // Through the worker: the first receive is given back with that visibility, the second takes the order.
      const other = await h.createOrder(clientId, 'product-sheet', { product: 'Held pump 2' });
      await markGenerating(h.db, other, { owner: randomUUID(), leaseMs: 1_500 });
      const lines: Array<{ level: string; msg: string; orderId?: string; afterSeconds?: number }> = [];
      await sendJob(other);
      await start({}, undefined, createLogger({ test: 'doc-generation-outcomes' }, 'info', (line) => void lines.push(JSON.parse(line))));
      await until(async () => (await orderRow(other)).status === 'ready', 15_000, 'the held order ready');
      const mine = lines.filter((l) => l.orderId === other);
      expect(mine.filter((l) => l.level === 'error')).toEqual([]);
      expect(mine.find((l) => l.msg === 'message released')).toMatchObject({ level: 'info', afterSeconds: expect.any(Number) });
      expect(mine.find((l) => l.msg === 'message released')!.afterSeconds).toBeLessThanOrEqual(3);
    });
  });

  describe('bug 3: an order whose last attempt is interrupted still ends ready or failed', () => {
    const orderUntil = (orderId: string, status: string, timeoutMs = 20_000) =>
      until(async () => {
        const o = await orderRow(orderId);
        return o.status === status ? o : undefined;
      }, timeoutMs, `order ${orderId} ${status}`);
    /** Makes an order look as if nothing happened to it for an hour (its job lost: never sent, or dead in the DLQ without a take). */
    const age = (orderId: string) => h.db('orders').where({ id: orderId }).update({ updated_at: h.db.raw(`now() - interval '1 hour'`) });
    /** A B2B batch of one row, every row read (`processing`), the rejected-rows report written: its one order settles it. */
    const batchOfOne = async (product: string) => {
      const clientId = await h.createClient('b2b');
      const theme = await h.themeBySlug('product-sheet');
      const [batch] = await h
        .db('batches')
        .insert({ client_id: clientId, theme_id: theme.id, status: 'processing', total_rows: 1, source_key: `batches/${clientId}/x/source.csv` })
        .returning('id');
      await h.storage.put('assets', `batches/${clientId}/${batch.id}/rejected-rows.json`, '[]', 'application/json');
      const [order] = await h
        .db('orders')
        .insert({ client_id: clientId, theme_id: theme.id, status: 'queued', input: { product }, batch_id: batch.id, batch_row: 2 })
        .returning('id');
      return { clientId, batchId: batch.id as string, orderId: order.id as string };
    };
    /** Last attempt in hand, core-llm slow: the drain deadline (1 s) releases the message while the job still runs. */
    const interruptLastAttempt = async (orderId: string, deadlines?: { maxRequeues: number }) => {
      await sendJob(orderId);
      await burnReceive();
      h.llmDelay.ms = 5_000;
      const before = h.llmRequests.count;
      const w = await start({ drainSeconds: 1 }, deadlines);
      await until(() => h.llmRequests.count > before, 10_000, 'the last attempt to reach core-llm');
      expect((await orderRow(orderId)).status).toBe('generating');
      await stop(w);
      h.llmDelay.ms = 0;
    };

    test('released at the drain deadline on its last attempt: the message dies in the DLQ, the order still ends ready', async () => {
      const clientId = await h.createClient();
      const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Interrupted pump' });
      await interruptLastAttempt(orderId);
      await start();
      const order = await orderUntil(orderId, 'ready');
      expect(order.document_key).toMatch(attemptKeyPattern(clientId, orderId, 'html'));
      // The released message's next receive moved it to the DLQ; the order did not depend on it.
      await until(async () => (await h.queueDepth(h.queues.docJobsDlq)).visible === 1, 10_000, 'the dead message in the DLQ');
    });

    test('kill -9 of the worker process on its last attempt: the order still ends ready', async () => {
      const clientId = await h.createClient();
      const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Killed pump' });
      await sendJob(orderId);
      await burnReceive();
      h.llmDelay.ms = 60_000;
      const before = h.llmRequests.count;
      const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'containers/doc-generation/main.ts')], {
        cwd: REPO,
        env: { ...process.env, ...h.env, WORKER_CONCURRENCY: '1' },
        stdio: 'ignore',
      });
      children.push(child);
      await until(() => h.llmRequests.count > before, 20_000, 'the child worker to reach core-llm on the last attempt');
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      h.llmDelay.ms = 0;
      await start();
      const order = await orderUntil(orderId, 'ready');
      expect(order.document_key).toMatch(attemptKeyPattern(clientId, orderId, 'html'));
    });

    test('a queued order whose job was lost (no message left) is re-enqueued by the sweeper and ends ready', async () => {
      const clientId = await h.createClient();
      const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Forgotten pump' });
      await age(orderId);
      await start();
      const order = await orderUntil(orderId, 'ready');
      expect(order.requeues).toBe(1);
    });

    test('attempts used up, interrupted again on the last attempt: the order ends failed with a reason, counted on its batch, which completes', async () => {
      const { batchId, orderId } = await batchOfOne('Unlucky pump');
      await interruptLastAttempt(orderId, { maxRequeues: 0 });
      await start({}, { maxRequeues: 0 });
      const order = await orderUntil(orderId, 'failed');
      expect(order.error).toMatch(/interrupted/);
      const batch = await until(async () => {
        const b = await h.db('batches').where({ id: batchId }).first();
        return b.status === 'completed' ? b : undefined;
      }, 10_000, 'the batch completed');
      expect({ succeeded: batch.succeeded, failed: batch.failed }).toEqual({ succeeded: 0, failed: 1 });
      const manifest = JSON.parse((await h.storage.get('assets', batch.manifest_key)).toString('utf8'));
      expect(manifest.documents).toEqual([{ line: 2, orderId, status: 'failed', documentKey: null, error: order.error }]);
    });

    test('attempts used up, job lost: the sweeper marks the order failed with a reason, counted on its batch, which completes', async () => {
      const { clientId, batchId, orderId } = await batchOfOne('Lost pump');
      await age(orderId);
      await start({}, { maxRequeues: 0 });
      const order = await orderUntil(orderId, 'failed', 15_000);
      expect(order.error).toMatch(/never started/);
      const batch = await until(async () => {
        const b = await h.db('batches').where({ id: batchId }).first();
        return b.status === 'completed' ? b : undefined;
      }, 10_000, 'the batch completed');
      expect({ succeeded: batch.succeeded, failed: batch.failed }).toEqual({ succeeded: 0, failed: 1 });
      expect(await h.listKeys('assets', `batches/${clientId}/${batchId}/manifest`)).toEqual([batch.manifest_key]);
    });

    test('sweepers on two tasks at once re-enqueue each stuck order exactly once', async () => {
      const clientId = await h.createClient();
      const orderIds = await Promise.all(Array.from({ length: 12 }, (_, n) => h.createOrder(clientId, 'product-sheet', { product: `Swept pump ${n}` })));
      for (const id of orderIds) await age(id);
      const before = h.llmRequests.count;
      await Promise.all([start(), start()]);
      await until(async () => (await h.db('orders').whereIn('id', orderIds).where({ status: 'ready' })).length === orderIds.length, 30_000, 'every order ready');
      const rows = await h.db('orders').whereIn('id', orderIds).select('requeues');
      expect({ requeues: [...new Set(rows.map((r) => r.requeues))], calls: h.llmRequests.count - before }).toEqual({ requeues: [1], calls: orderIds.length });
    });
  });
});
