import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { createInternalClient, InternalClient } from '../../core/internal-client';
import { startConsumer } from '../shared/consumer';
import type { RunningWorker } from '../shared/process';
import { createWorkerRuntime, requiredQueueUrl, WorkerOverrides } from '../shared/worker-runtime';
import { OrderDeadlines, orderDeadlines, readQueueSettings } from './deadlines';
import { DocJobDeps, handleDocJob } from './handler';
import { PdfRenderer } from './render/browser';
import { createDocJobSender } from './requeue';
import { startSweeper } from './sweeper';

/** Default messages in hand per task: 1 vCPU renders about two documents at once without queueing on the core. */
export const DEFAULT_CONCURRENCY = 2;

export interface DocWorkerOverrides extends WorkerOverrides {
  internal?: InternalClient;
  /** Tests only: replaces some of the deadlines derived from the queue (e.g. `maxRequeues`). */
  deadlines?: Partial<OrderDeadlines>;
}

/**
 * The doc-generation worker: consumes doc-jobs until stopped, and runs the stuck-order sweeper
 * (sweeper.ts) at start and every `sweepEveryMs`. `stop()` stops the sweeper, then drains (see
 * consumer.ts).
 */
export async function startWorker(overrides: DocWorkerOverrides = {}): Promise<RunningWorker> {
  const rt = await createWorkerRuntime('doc-generation', overrides);
  const concurrency = rt.worker.concurrency ?? DEFAULT_CONCURRENCY;
  const pdf = new PdfRenderer({
    executablePath: rt.worker.chromiumPath,
    maxConcurrentPages: concurrency,
    recycleAfter: rt.worker.browserRecycleAfter,
    renderTimeoutMs: rt.worker.renderTimeoutMs,
    logger: rt.logger,
  });
  try {
    const queueUrl = requiredQueueUrl(rt.config.queues.docJobsUrl, 'DOC_JOBS_QUEUE_URL');
    // The lease and every other deadline of an order follow the queue's own visibility timeout and maxReceiveCount.
    const deadlines = orderDeadlines(await readQueueSettings(rt.sqs, queueUrl), overrides.deadlines);
    const jobs = createDocJobSender(rt.sqs, queueUrl);
    const deps: DocJobDeps = {
      db: rt.db,
      storage: rt.storage,
      internal: overrides.internal ?? createInternalClient(rt.config),
      pdf,
      pandoc: { binary: rt.worker.pandocPath, timeoutMs: rt.worker.pandocTimeoutMs },
      reportsBucket: rt.config.buckets.reports,
      batchBucket: rt.config.buckets.assets,
      logger: rt.logger,
      deadlines,
      jobs,
    };
    const consumer = await startConsumer({
      sqs: rt.sqs,
      queueUrl,
      concurrency,
      waitTimeSeconds: rt.worker.waitTimeSeconds,
      logger: rt.logger,
      handler: (message) => handleDocJob(deps, message),
    });
    const sweeper = startSweeper({
      db: rt.db,
      storage: rt.storage,
      batchBucket: rt.config.buckets.assets,
      logger: rt.logger,
      jobs,
      deadlines,
      backlog: async () => {
        const a = await rt.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }));
        return Number(a.Attributes?.ApproximateNumberOfMessages ?? 0);
      },
    });
    return {
      stop: async () => {
        await sweeper.stop();
        await consumer.stop(rt.worker.drainSeconds * 1000);
        await pdf.close();
        await rt.close();
      },
    };
  } catch (err) {
    await pdf.close();
    await rt.close();
    throw err;
  }
}
