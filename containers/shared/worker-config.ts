import { ENV, SPOT_STOP_BUDGET } from '../../core/contract';
import { Env, readEnv } from '../../core/config';
import { MAX_WAIT_TIME_SECONDS } from '../../core/queue';
import * as z from '../../core/zod';

/**
 * The knobs only the container workers read, validated like the rest of the runtime config
 * by the one reader of core/config.ts (which reads the shared variables; this adds the worker-only ones).
 * The compute stack sets WORKER_CONCURRENCY from `workers.<name>.concurrency` and, for
 * doc-generation, WORKER_RENDER_SLOTS from `workers.doc-generation.renderSlots`.
 */
const int = (min: number, max: number) => z.coerce.number().check(z.int(), z.minimum(min), z.maximum(max));
const path = z.string().check(z.minLength(1));

const schema = z.object({
  [ENV.workerConcurrency]: z.optional(int(1, 50)),
  [ENV.workerRenderSlots]: z.optional(int(1, 10)),
  /** Spot gives 120 s between SIGTERM and SIGKILL; the drain must end well inside it. */
  [ENV.workerDrainSeconds]: z._default(z.coerce.number().check(z.minimum(0), z.maximum(SPOT_STOP_BUDGET.maxDrainSeconds)), 90),
  /** A long poll, at least 1 s: with 0 an idle task asks SQS again at once, in a loop (hundreds of receives a second). */
  SQS_WAIT_TIME_SECONDS: z._default(int(1, MAX_WAIT_TIME_SECONDS), MAX_WAIT_TIME_SECONDS),
  CHROMIUM_PATH: z._default(path, '/usr/bin/chromium'),
  BROWSER_RECYCLE_AFTER: z._default(int(1, 100000), 100),
  RENDER_TIMEOUT_MS: z._default(int(1000, 120000), 30000),
  PANDOC_PATH: z._default(path, 'pandoc'),
  PANDOC_TIMEOUT_MS: z._default(int(1000, 120000), 30000),
  BATCH_CHUNK_ROWS: z._default(int(1, 1000), 100),
});

export interface WorkerConfig {
  /** Messages in hand at once. Undefined → the worker's own default. */
  concurrency?: number;
  /** Documents rendered at once (doc-generation: Chromium pages), at most `concurrency`. Undefined → the worker's own default. */
  renderSlots?: number;
  drainSeconds: number;
  waitTimeSeconds: number;
  chromiumPath: string;
  browserRecycleAfter: number;
  renderTimeoutMs: number;
  pandocPath: string;
  pandocTimeoutMs: number;
  /** Batch rows committed per transaction; the batch worker checks for a drain between chunks. */
  batchChunkRows: number;
}

export function readWorkerConfig(env: Env = process.env): WorkerConfig {
  const e = readEnv(schema, env, 'worker configuration');
  return {
    concurrency: e[ENV.workerConcurrency],
    renderSlots: e[ENV.workerRenderSlots],
    drainSeconds: e[ENV.workerDrainSeconds],
    waitTimeSeconds: e.SQS_WAIT_TIME_SECONDS,
    chromiumPath: e.CHROMIUM_PATH,
    browserRecycleAfter: e.BROWSER_RECYCLE_AFTER,
    renderTimeoutMs: e.RENDER_TIMEOUT_MS,
    pandocPath: e.PANDOC_PATH,
    pandocTimeoutMs: e.PANDOC_TIMEOUT_MS,
    batchChunkRows: e.BATCH_CHUNK_ROWS,
  };
}
