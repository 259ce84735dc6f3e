import { z } from 'zod';
import { ConfigError } from '../../core/errors';

/**
 * The knobs only the container workers read, validated like the rest of the runtime config
 * (config.ts stays the loader of the shared variables; this adds the worker-only ones).
 * The compute stack sets WORKER_CONCURRENCY from `workers.<name>.concurrency`.
 */
type Env = Record<string, string | undefined>;

const schema = z.object({
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(10).optional(),
  /** Spot gives 120 s between SIGTERM and SIGKILL; the drain must end well inside it. */
  WORKER_DRAIN_SECONDS: z.coerce.number().min(0).max(110).default(90),
  SQS_WAIT_TIME_SECONDS: z.coerce.number().int().min(0).max(20).default(20),
  CHROMIUM_PATH: z.string().min(1).default('/usr/bin/chromium'),
  BROWSER_RECYCLE_AFTER: z.coerce.number().int().min(1).max(100000).default(100),
  RENDER_TIMEOUT_MS: z.coerce.number().int().min(1000).max(120000).default(30000),
  PANDOC_PATH: z.string().min(1).default('pandoc'),
  PANDOC_TIMEOUT_MS: z.coerce.number().int().min(1000).max(120000).default(30000),
  BATCH_CHUNK_ROWS: z.coerce.number().int().min(1).max(1000).default(100),
});

export interface WorkerConfig {
  /** Undefined → the worker's own default. */
  concurrency?: number;
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
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid worker configuration: ${issues}`);
  }
  const e = parsed.data;
  return {
    concurrency: e.WORKER_CONCURRENCY,
    drainSeconds: e.WORKER_DRAIN_SECONDS,
    waitTimeSeconds: e.SQS_WAIT_TIME_SECONDS,
    chromiumPath: e.CHROMIUM_PATH,
    browserRecycleAfter: e.BROWSER_RECYCLE_AFTER,
    renderTimeoutMs: e.RENDER_TIMEOUT_MS,
    pandocPath: e.PANDOC_PATH,
    pandocTimeoutMs: e.PANDOC_TIMEOUT_MS,
    batchChunkRows: e.BATCH_CHUNK_ROWS,
  };
}
