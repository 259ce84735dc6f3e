import { ENV } from '../../core/contract';
import { ConfigError } from '../../core/errors';
import { createInternalClient, InternalClient } from '../../core/internal-client';
import { startConsumer } from '../shared/consumer';
import { Semaphore } from '../shared/semaphore';
import type { RunningWorker } from '../shared/process';
import { createJobQueue, DocJobQueueUrls, requiredQueueUrl } from '../../core/queue';
import { createWorkerRuntime, WorkerOverrides } from '../shared/worker-runtime';
import { OrderDeadlines, orderDeadlines, readQueueSettings } from './deadlines';
import { DocJobDeps, handleDocJob } from './handler';
import { PdfRenderer } from './render/browser';
import { docJobsBacklog, startSweeper } from './sweeper';

/** Default documents rendered at once per task: 1 vCPU renders about two at once without queueing on the core. */
export const DEFAULT_RENDER_SLOTS = 2;
/**
 * Default messages in hand per task: each waits on core-llm for most of its time (seconds, against
 * tens of milliseconds of render for HTML and hundreds for a PDF), so a task holds several per
 * render slot; a message in hand costs a few kilobytes, a render slot a Chromium page.
 */
export const DEFAULT_CONCURRENCY = 8;

export interface DocWorkerOverrides extends WorkerOverrides {
  internal?: InternalClient;
  /** Tests only: replaces some of the deadlines derived from the queue (e.g. `maxRequeues`). */
  deadlines?: Partial<OrderDeadlines>;
}

/**
 * The doc-generation worker: consumes doc-jobs first, then batch-doc-jobs (one consumer over both,
 * consumer.ts), holding `concurrency` messages of which `renderSlots` render at once, until
 * stopped; and runs the stuck-order sweeper (sweeper.ts) at start and every `sweepEveryMs`.
 * `stop()` stops the sweeper and drains at once (see consumer.ts).
 */
export async function startWorker(overrides: DocWorkerOverrides = {}): Promise<RunningWorker> {
  const rt = await createWorkerRuntime('doc-generation', overrides);
  const concurrency = rt.worker.concurrency ?? DEFAULT_CONCURRENCY;
  const renderSlots = rt.worker.renderSlots ?? Math.min(DEFAULT_RENDER_SLOTS, concurrency);
  if (renderSlots > concurrency) {
    await rt.close();
    throw new ConfigError(`invalid configuration: WORKER_RENDER_SLOTS: ${renderSlots} is more than WORKER_CONCURRENCY (${concurrency}): a render slot without a message would never be used`);
  }
  const pdf = new PdfRenderer({
    executablePath: rt.worker.chromiumPath,
    maxConcurrentPages: renderSlots,
    recycleAfter: rt.worker.browserRecycleAfter,
    renderTimeoutMs: rt.worker.renderTimeoutMs,
    logger: rt.logger,
  });
  try {
    const queues: DocJobQueueUrls = {
      docJobs: requiredQueueUrl(rt.config.queues.docJobsUrl, ENV.docJobsQueueUrl),
      batchDocJobs: requiredQueueUrl(rt.config.queues.batchDocJobsUrl, ENV.batchDocJobsQueueUrl),
    };
    // The lease and every other deadline of an order follow its queue's own visibility timeout and
    // maxReceiveCount; the two queues are made alike (stacks/data.ts), and one set of deadlines serves both.
    const [interactive, batch] = await Promise.all([readQueueSettings(rt.sqs, queues.docJobs), readQueueSettings(rt.sqs, queues.batchDocJobs)]);
    if (interactive.visibilityTimeoutSeconds !== batch.visibilityTimeoutSeconds || interactive.maxReceiveCount !== batch.maxReceiveCount) {
      throw new ConfigError(
        `doc-jobs (visibility ${interactive.visibilityTimeoutSeconds} s, maxReceiveCount ${interactive.maxReceiveCount}) and batch-doc-jobs (visibility ${batch.visibilityTimeoutSeconds} s, maxReceiveCount ${batch.maxReceiveCount}) must be alike: an order's deadlines follow them`,
      );
    }
    const deadlines = orderDeadlines(interactive, overrides.deadlines);
    const jobs = createJobQueue(rt.config, rt.sqs);
    const deps: DocJobDeps = {
      db: rt.db,
      storage: rt.storage,
      internal: overrides.internal ?? createInternalClient(rt.config),
      pdf,
      renderSlots: new Semaphore(renderSlots),
      pandoc: { binary: rt.worker.pandocPath, timeoutMs: rt.worker.pandocTimeoutMs },
      reportsBucket: rt.config.buckets.reports,
      batchBucket: rt.config.buckets.assets,
      logger: rt.logger,
      deadlines,
      jobs,
    };
    const consumer = await startConsumer({
      sqs: rt.sqs,
      // Interactive first: a B2C order never waits behind a batch's rows.
      queues: [queues.docJobs, queues.batchDocJobs],
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
      backlog: () => docJobsBacklog(rt.sqs, queues),
    });
    return {
      // Each job's lease given up, then its message back (beforeRelease, visibility 0): the next delivery takes the order at once.
      abandon: async () => void (await consumer.abandon()),
      stop: async () => {
        // Together: a sweep in progress (a busy database, slow SQS sends) must not keep the consumer
        // receiving new work, nor hold back the drain, on Spot's two minutes.
        await Promise.all([sweeper.stop(), consumer.stop(rt.worker.drainSeconds * 1000)]);
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
