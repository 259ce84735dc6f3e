import { createS3Client } from '../../core/storage';
import { ENV } from '../../core/contract';
import { createJobQueue, requiredQueueUrl } from '../../core/queue';
import { startConsumer } from '../shared/consumer';
import type { RunningWorker } from '../shared/process';
import { createWorkerRuntime, WorkerOverrides } from '../shared/worker-runtime';
import { handleBatchJob } from './handler';

/** One batch at a time per task: a batch is I/O on PostgreSQL and SQS, and many at once would only compete for the pool. */
export const DEFAULT_CONCURRENCY = 1;

/** The b2b-batch worker: consumes batch-jobs until stopped. `stop()` drains (see consumer.ts). */
export async function startWorker(overrides: WorkerOverrides = {}): Promise<RunningWorker> {
  const rt = await createWorkerRuntime('b2b-batch', overrides);
  const deps = {
    db: rt.db,
    s3: createS3Client(rt.config),
    storage: rt.storage,
    queue: createJobQueue(rt.config, rt.sqs),
    batchBucket: rt.config.buckets.assets,
    logger: rt.logger,
    chunkSize: rt.worker.batchChunkRows,
    budget: rt.config.llm.budget,
  };
  try {
    const consumer = await startConsumer({
      sqs: rt.sqs,
      queues: [requiredQueueUrl(rt.config.queues.batchJobsUrl, ENV.batchJobsQueueUrl)],
      concurrency: rt.worker.concurrency ?? DEFAULT_CONCURRENCY,
      waitTimeSeconds: rt.worker.waitTimeSeconds,
      logger: rt.logger,
      handler: (message, draining) => handleBatchJob(deps, message, draining),
    });
    return {
      abandon: async () => void (await consumer.abandon()),
      stop: async () => {
        await consumer.stop(rt.worker.drainSeconds * 1000);
        deps.s3.destroy();
        await rt.close();
      },
    };
  } catch (err) {
    deps.s3.destroy();
    await rt.close();
    throw err;
  }
}
