import { randomUUID } from 'node:crypto';
import { createInternalClient } from '../../core/internal-client';
import { createLogger } from '../../core/logger';
import type { Storage } from '../../core/storage';
import { handleDocJob, DocJobDeps } from '../../containers/doc-generation/handler';
import { PdfRenderer } from '../../containers/doc-generation/render/browser';
import { Semaphore } from '../../containers/shared/semaphore';
import { startWorkerHarness, WorkerHarness, until } from '../support/workers-harness';

/**
 * An attempt that loses its order in the middle of a slow upload (its lease ran out: heartbeats
 * that failed, an event loop blocked) while another attempt takes the order over and makes it
 * `ready`. When the stale upload lands at last, the order's document must still be the new
 * owner's, and the order must name the new owner's object. Real PostgreSQL, fauxqs S3 and the
 * core-llm app over HTTP; the stale attempt's upload is held until the new owner is done.
 */
const quiet = createLogger({ test: 'doc-generation-stale-upload' }, 'error', () => undefined);

describe('doc-generation: an upload that outlives its lease', () => {
  let h: WorkerHarness;
  const renderers: PdfRenderer[] = [];

  beforeAll(async () => {
    h = await startWorkerHarness('worker_stale_upload', { docVisibilitySeconds: 6, maxReceiveCount: 3 });
  });
  afterAll(async () => {
    await Promise.all(renderers.map((r) => r.close()));
    await h.stop();
  });

  const deps = (storage: Storage): DocJobDeps => {
    const pdf = new PdfRenderer({ executablePath: '/usr/bin/chromium', maxConcurrentPages: 1, recycleAfter: 100, logger: quiet });
    renderers.push(pdf);
    return {
      db: h.db,
      storage,
      internal: createInternalClient(h.config),
      pdf,
      renderSlots: new Semaphore(1),
      pandoc: {},
      reportsBucket: 'reports',
      batchBucket: 'assets',
      logger: quiet,
      // No renewal within the test: the first attempt's lease simply runs out while its upload hangs.
      deadlines: { leaseMs: 3_000, renewEveryMs: 600_000, stuckAfterMs: 60_000, successorDelaySeconds: 6, sweepEveryMs: 60_000, maxRequeues: 2 },
      jobs: { sendDocJob: async () => undefined },
    };
  };
  const message = (orderId: string) => {
    const id = randomUUID();
    return { id, body: JSON.stringify({ v: 1, orderId }), receiveCount: 1, lastAttempt: false, receivesLeft: 2, requestId: `msg-${id}`, logger: quiet, beforeRelease: () => undefined };
  };

  test("the stale attempt's late upload neither overwrites the new owner's document nor becomes the order's", async () => {
    const clientId = await h.createClient();
    const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Slow kettle' });

    // The stale attempt: its upload reaches S3 only once the gate opens, with a body of its own
    // (another generation of the same order reads differently).
    let uploading: (key: string) => void = () => undefined;
    const started = new Promise<string>((r) => (uploading = r));
    let openGate: () => void = () => undefined;
    const gate = new Promise<void>((r) => (openGate = r));
    const staleStorage: Storage = {
      ...h.storage,
      put: async (bucket, key, _body, contentType) => {
        uploading(key);
        await gate;
        await h.storage.put(bucket, key, 'written by the attempt that lost the order', contentType);
      },
    };
    const ownerPuts: Array<{ key: string; body: string }> = [];
    const ownerStorage: Storage = {
      ...h.storage,
      put: async (bucket, key, body, contentType) => {
        ownerPuts.push({ key, body: body.toString() });
        await h.storage.put(bucket, key, body, contentType);
      },
    };

    const stale = handleDocJob(deps(staleStorage), message(orderId)).catch((err: unknown) => err);
    const staleKey = await started;
    await until(async () => {
      const row = await h.db('orders').where({ id: orderId }).first(h.db.raw('generation_lease_until < now() as lapsed'));
      return row.lapsed === true;
    }, 15_000, 'the stale attempt to lose its lease');

    await handleDocJob(deps(ownerStorage), message(orderId));
    const readyRow = await h.db('orders').where({ id: orderId }).first();
    expect(readyRow.status).toBe('ready');
    expect(ownerPuts.map((p) => p.key)).toEqual([readyRow.document_key]);

    openGate();
    expect(await stale).toMatchObject({ name: 'OrderBusy' });

    const after = await h.db('orders').where({ id: orderId }).first();
    const document = (await h.storage.get('reports', after.document_key)).toString();
    expect({ status: after.status, documentKey: after.document_key, document }).toEqual({
      status: 'ready',
      documentKey: ownerPuts[0].key,
      document: ownerPuts[0].body,
    });
    // The stale object lands beside the document, and the file name the link downloads as is the order's.
    expect(staleKey).not.toBe(after.document_key);
    expect(after.document_key).toMatch(new RegExp(`^${clientId}/${orderId}/[0-9a-f-]{36}/${orderId}\\.html$`));
  }, 60_000);
});
