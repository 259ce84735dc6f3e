import { randomUUID } from 'node:crypto';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { createInternalClient } from '../../functions/shared/internal-client';
import { createLogger } from '../../functions/shared/logger';
import { markFailed, markGenerating, markReady } from '../../functions/shared/orders';
import type { Storage } from '../../functions/shared/storage';
import { handleDocJob, DocJobDeps } from '../../containers/doc-generation/handler';
import { PdfRenderer } from '../../containers/doc-generation/render/browser';
import { startWorker } from '../../containers/doc-generation/worker';
import type { RunningWorker } from '../../containers/shared/process';
import { startWorkerHarness, WorkerHarness, until, sleep } from './harness';

/**
 * How a paid order always ends (`ready` or `failed`, never stuck), on the real pieces: a fresh
 * PostgreSQL database, fauxqs (doc-jobs: visibility 3 s, maxReceiveCount 2, so a message's second
 * receive is its last), the real core-llm app over HTTP and the real worker.
 */
const quiet = createLogger({ test: 'doc-generation-outcomes' }, 'error', () => undefined);

describe('doc-generation: how an order ends', () => {
  let h: WorkerHarness;
  const workers: RunningWorker[] = [];

  beforeAll(async () => {
    h = await startWorkerHarness('worker_outcomes', { docVisibilitySeconds: 3, maxReceiveCount: 2 });
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop().catch(() => undefined)));
    h.llmThrottle.on = false;
    h.llmDelay.ms = 0;
    await h.drainQueue(h.queues.docJobs, 0);
    await h.drainQueue(h.queues.docJobsDlq, 0);
  });
  afterAll(() => h.stop());

  const start = async (worker: { drainSeconds?: number; concurrency?: number } = {}) => {
    const w = await startWorker({ config: h.config, worker: { concurrency: 2, waitTimeSeconds: 1, drainSeconds: 10, ...worker }, logger: quiet });
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

  describe('bug 4: a drain during the rate-limit wait releases the message; it is not a failure', () => {
    test('the message is released at once, core-llm is not called after the abort, the order is not failed', async () => {
      const clientId = await h.createClient();
      const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Throttled pump' });
      h.llmThrottle.on = true;
      const before = h.llmRequests.count;
      const w = await start();
      await sendJob(orderId);
      await until(() => h.llmRequests.count > before, 10_000, 'the first (429) call to core-llm');
      await stop(w);
      // Released with visibility 0 (not left invisible for its visibility timeout), one call only, the order still in hand.
      expect({ calls: h.llmRequests.count - before, queue: await h.queueDepth(h.queues.docJobs), status: (await orderRow(orderId)).status }).toEqual({
        calls: 1,
        queue: { visible: 1, inFlight: 0 },
        status: 'generating',
      });
    });

    test('on the last attempt too: the order is not marked failed because of a SIGTERM', async () => {
      const clientId = await h.createClient();
      const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Last-chance pump' });
      h.llmThrottle.on = true;
      await sendJob(orderId);
      await burnReceive();
      const before = h.llmRequests.count;
      const w = await start();
      await until(() => h.llmRequests.count > before, 10_000, 'the first (429) call to core-llm');
      await stop(w);
      const order = await orderRow(orderId);
      expect({ status: order.status, error: order.error, calls: h.llmRequests.count - before }).toEqual({ status: 'generating', error: null, calls: 1 });
    });
  });

  describe('bug 6b: `generating` has an owner and a lease; a second taker does not render', () => {
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
        pandoc: {},
        reportsBucket: 'reports',
        batchBucket: 'assets',
        logger: quiet,
        // What the worker derives from this harness's doc-jobs queue (visibility 3 s, maxReceiveCount 2).
        deadlines: { leaseMs: 1500, renewEveryMs: 500, stuckAfterMs: 9000, successorDelaySeconds: 3, sweepEveryMs: 1000 },
      } as DocJobDeps;
    };
    const message = (orderId: string, receiveCount = 1) => ({ id: randomUUID(), body: JSON.stringify({ v: 1, orderId }), receiveCount, lastAttempt: false });

    test('two concurrent deliveries of one job: one core-llm call, one upload, the order ready once; the other delivery comes back later and is dropped', async () => {
      const clientId = await h.createClient();
      const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Twin pump' });
      const puts: string[] = [];
      const deps = directDeps(puts);
      h.llmDelay.ms = 500;
      const before = h.llmRequests.count;
      const signal = new AbortController().signal;
      const settled = await Promise.allSettled([handleDocJob(deps, message(orderId), signal), handleDocJob(deps, message(orderId), signal)]);
      expect({ calls: h.llmRequests.count - before, puts, outcomes: settled.map((r) => r.status).sort() }).toEqual({
        calls: 1,
        puts: [`${clientId}/${orderId}.html`],
        outcomes: ['fulfilled', 'rejected'],
      });
      const ready = await orderRow(orderId);
      expect(ready.status).toBe('ready');
      // The loser's message comes back: the order is final, so it renders nothing and is deleted.
      await handleDocJob(deps, message(orderId, 2), signal);
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
        keys: [`${clientId}/${orderId}.html`],
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
});
