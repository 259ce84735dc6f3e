import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { SQSClient, GetQueueAttributesCommand, ReceiveMessageCommand, DeleteMessageBatchCommand } from '@aws-sdk/client-sqs';
import { S3Client, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { readConfig, resolveConfig, AppConfig } from '../../core/config';
import { createDb } from '../../core/db';
import { migrateLatest, seed } from '../../migrations/migrate';
import { createRuntime, Runtime } from '../../functions/shared/runtime';
import { createS3Client, createStorage, Storage } from '../../core/storage';
import { createSqsClient } from '../../core/queue';
import { createApp as createCoreLlm } from '../../functions/core-llm/app';
import { offlineProvider } from '../../functions/core-llm/providers';
import { startLocalEmulator, LocalEmulator } from '../../scripts/local/emulator';
import { batchSourceKey } from '../../core/domain/batches';
import { createTestDatabase, TestDatabase } from './postgres';

/**
 * What the worker tests run against: a fresh PostgreSQL database (migrated, themes seeded), a
 * fauxqs emulator with the two job queues (short visibility timeouts) and both buckets, and the
 * real core-llm Koa app on a local port with its offline provider (plus an adjustable delay, so
 * a test can catch a worker mid-job). `env` is what a worker process is started with.
 */
export interface HarnessOptions {
  docVisibilitySeconds?: number;
  batchVisibilitySeconds?: number;
  maxReceiveCount?: number;
  /** Put before the queue names (`doc-jobs`, `batch-doc-jobs`, `batch-jobs` and their DLQs), e.g. `docplatform-<env>-` as in AWS. */
  queueNamePrefix?: string;
}

export interface WorkerHarness {
  env: Record<string, string>;
  config: AppConfig;
  db: Knex;
  sqs: SQSClient;
  s3: S3Client;
  storage: Storage;
  emulator: LocalEmulator;
  queues: { docJobs: string; docJobsDlq: string; batchDocJobs: string; batchDocJobsDlq: string; batchJobs: string; batchJobsDlq: string };
  /** Milliseconds core-llm waits before answering (0 by default). */
  llmDelay: { ms: number };
  /** Calls core-llm received. */
  llmCalls: { count: number };
  /** HTTP requests core-llm's port received (429s and cache hits included). */
  llmRequests: { count: number };
  /** While `on`, core-llm answers every request 429 with this Retry-After (60 s unless set), as the real app does over its budget. */
  llmThrottle: { on: boolean; retryAfterSeconds?: number };
  createClient(kind?: 'b2c' | 'b2b'): Promise<string>;
  themeBySlug(slug: string): Promise<{ id: string; title: string; prompt_template: string; output_format: string }>;
  createOrder(clientId: string, themeSlug: string, input: Record<string, string>): Promise<string>;
  /**
   * A `pending` batch (theme product-sheet unless named) and its source in the assets bucket: the
   * envelope gateway-b2b stores, rows as given, which the worker checks again. `totalRows` is the
   * checkpoint of a run that already committed that many rows.
   */
  createBatch(clientId: string, rows: unknown[], opts?: { themeSlug?: string; totalRows?: number }): Promise<{ id: string; themeId: string; sourceKey: string }>;
  /** What core-llm answers for this order (deterministic offline text). */
  expectedText(orderId: string): Promise<string>;
  listKeys(bucket: string, prefix: string): Promise<string[]>;
  queueDepth(url: string): Promise<{ visible: number; inFlight: number }>;
  /** Receives and deletes everything visible in a queue; returns the bodies. */
  drainQueue(url: string, waitSeconds?: number): Promise<string[]>;
  stop(): Promise<void>;
}

const listen = (server: Server): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });

export async function startWorkerHarness(prefix: string, opts: HarnessOptions = {}): Promise<WorkerHarness> {
  const database: TestDatabase = await createTestDatabase(prefix);
  const q = (stem: string) => `${opts.queueNamePrefix ?? ''}${stem}`;
  const emulator = await startLocalEmulator({
    queues: [
      { name: q('doc-jobs'), maxReceiveCount: opts.maxReceiveCount ?? 3, visibilityTimeoutSeconds: opts.docVisibilitySeconds ?? 3 },
      // Alike with doc-jobs, as in AWS (the doc worker refuses two that differ).
      { name: q('batch-doc-jobs'), maxReceiveCount: opts.maxReceiveCount ?? 3, visibilityTimeoutSeconds: opts.docVisibilitySeconds ?? 3 },
      { name: q('batch-jobs'), maxReceiveCount: opts.maxReceiveCount ?? 3, visibilityTimeoutSeconds: opts.batchVisibilitySeconds ?? 5 },
    ],
    buckets: ['reports', 'assets'],
  });
  process.env.AWS_ACCESS_KEY_ID ??= 'test';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
  const server = createServer();
  const port = await listen(server);
  const env: Record<string, string> = {
    APP_ENV: 'test',
    LOG_LEVEL: 'warn',
    AWS_REGION: 'eu-west-3',
    AWS_ENDPOINT_URL: emulator.endpoint,
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY,
    S3_FORCE_PATH_STYLE: 'true',
    DATABASE_URL: database.url,
    DB_POOL_MAX: '10',
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_KEY_PREFIX: `test:${prefix}:${randomBytes(4).toString('hex')}:`,
    DOC_JOBS_QUEUE_URL: emulator.queueUrls[q('doc-jobs')],
    BATCH_DOC_JOBS_QUEUE_URL: emulator.queueUrls[q('batch-doc-jobs')],
    BATCH_JOBS_QUEUE_URL: emulator.queueUrls[q('batch-jobs')],
    REPORTS_BUCKET: 'reports',
    ASSETS_BUCKET: 'assets',
    INTERNAL_TRANSPORT: 'http',
    SERVICE_URL_CORE_LLM: `http://127.0.0.1:${port}`,
    // A batch is thousands of generations for one client: the per-client limit and the generation budget (with the
    // release pace of a batch's rows it sets) are core-llm's concern, not these tests' (functions/core-llm/budget.test.ts).
    LLM_RATE_LIMIT_PER_MINUTE: '100000',
    GEMINI_REQUESTS_PER_MINUTE: '1000000',
    GEMINI_TOKENS_PER_MINUTE: '1000000000',
    LLM_BATCH_MAX_IN_FLIGHT: '100000',
    SQS_WAIT_TIME_SECONDS: '1',
    WORKER_DRAIN_SECONDS: '20',
  };
  const config = await resolveConfig(readConfig(env));
  const db = createDb(config);
  await migrateLatest(db);
  await seed(db);

  // The model's answer time. Lowered, it also ends the waits of the calls already made: a call a
  // killed worker left in core-llm holds its prompt's single-flight lease (functions/core-llm/
  // single-flight.ts) until it answers, as a Lambda still running for a dead caller does.
  let delayMs = 0;
  const waiting = new Set<() => void>();
  const llmDelay = {
    get ms() {
      return delayMs;
    },
    set ms(ms: number) {
      delayMs = ms;
      if (ms === 0) for (const answer of waiting) answer();
    },
  };
  const llmCalls = { count: 0 };
  const llmRequests = { count: 0 };
  const llmThrottle: { on: boolean; retryAfterSeconds?: number } = { on: false };
  const offline = offlineProvider(config.gemini.model);
  const coreLlm: Runtime = createRuntime('core-llm', config);
  const provider = {
    ...offline,
    generate: async (prompt: string) => {
      llmCalls.count += 1;
      if (delayMs > 0) {
        await new Promise<void>((resolve) => {
          const answer = () => {
            clearTimeout(timer);
            waiting.delete(answer);
            resolve();
          };
          const timer = setTimeout(answer, delayMs).unref();
          waiting.add(answer);
        });
      }
      return offline.generate(prompt);
    },
  };
  const coreLlmApp = createCoreLlm(coreLlm, provider).callback();
  server.on('request', (req, res) => {
    llmRequests.count += 1;
    if (!llmThrottle.on) return void coreLlmApp(req, res);
    res.writeHead(429, { 'content-type': 'application/json', 'retry-after': String(llmThrottle.retryAfterSeconds ?? 60) });
    res.end(JSON.stringify({ error: { code: 'rate_limited', message: 'the generation budget of batch traffic is used up for now' } }));
  });

  const sqs = createSqsClient(config);
  const s3 = createS3Client(config);
  const storage = createStorage(config);

  const themeBySlug = async (slug: string) => {
    const theme = await db('themes').where({ slug }).first();
    if (!theme) throw new Error(`no seeded theme ${slug}`);
    return theme;
  };

  return {
    env,
    config,
    db,
    sqs,
    s3,
    storage,
    emulator,
    queues: {
      docJobs: emulator.queueUrls[q('doc-jobs')],
      docJobsDlq: emulator.queueUrls[q('doc-jobs-dlq')],
      batchDocJobs: emulator.queueUrls[q('batch-doc-jobs')],
      batchDocJobsDlq: emulator.queueUrls[q('batch-doc-jobs-dlq')],
      batchJobs: emulator.queueUrls[q('batch-jobs')],
      batchJobsDlq: emulator.queueUrls[q('batch-jobs-dlq')],
    },
    llmDelay,
    llmCalls,
    llmRequests,
    llmThrottle,
    createClient: async (kind = 'b2c') => {
      const tag = randomBytes(6).toString('hex');
      // Workers never read API keys: a B2B row only needs the columns its constraint asks for.
      const key = kind === 'b2b' ? { api_key_prefix: tag, api_key_hash: 'unused-by-workers' } : {};
      const [row] = await db('clients').insert({ kind, name: 'Worker test', email: `worker-${tag}@example.test`, ...key }).returning('id');
      return row.id as string;
    },
    themeBySlug,
    createOrder: async (clientId, themeSlug, input) => {
      const theme = await themeBySlug(themeSlug);
      const [row] = await db('orders').insert({ client_id: clientId, theme_id: theme.id, status: 'queued', input }).returning('id');
      return row.id as string;
    },
    createBatch: async (clientId, rows, opts = {}) => {
      const theme = await themeBySlug(opts.themeSlug ?? 'product-sheet');
      // As gateway-b2b makes a batch: its id first, the source stored under it, then the row.
      const id = randomUUID();
      const sourceKey = batchSourceKey(clientId, id);
      await storage.put('assets', sourceKey, JSON.stringify({ v: 1, batchId: id, clientId, themeId: theme.id, rows }), 'application/json');
      await db('batches').insert({ id, client_id: clientId, theme_id: theme.id, status: 'pending', source_key: sourceKey, total_rows: opts.totalRows ?? 0 });
      return { id, themeId: theme.id, sourceKey };
    },
    expectedText: async (orderId) => {
      const order = await db('orders').where({ id: orderId }).first();
      const theme = await db('themes').where({ id: order.theme_id }).first();
      const { renderPrompt } = await import('../../core/domain/themes');
      return offline.generate(renderPrompt(theme.prompt_template, order.input));
    },
    listKeys: async (bucket, keyPrefix) => {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: keyPrefix, ContinuationToken: token }));
        keys.push(...(out.Contents ?? []).map((o) => o.Key!));
        token = out.IsTruncated ? out.NextContinuationToken : undefined;
      } while (token);
      return keys.sort();
    },
    queueDepth: async (url) => {
      const a = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
      );
      return { visible: Number(a.Attributes?.ApproximateNumberOfMessages), inFlight: Number(a.Attributes?.ApproximateNumberOfMessagesNotVisible) };
    },
    drainQueue: async (url, waitSeconds = 1) => {
      const bodies: string[] = [];
      for (;;) {
        const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: waitSeconds, VisibilityTimeout: 60 }));
        const messages = got.Messages ?? [];
        if (messages.length === 0) return bodies;
        bodies.push(...messages.map((m) => m.Body ?? ''));
        await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })) }));
      }
    },
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await coreLlm.close();
      sqs.destroy();
      s3.destroy();
      await db.destroy();
      await emulator.stop();
      await database.drop();
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function until<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** The key an attempt of the doc worker uploads an order's document to (core/domain/orders.ts attemptDocumentKey), whatever the attempt. */
export const attemptKeyPattern = (clientId: string, orderId: string, ext: string): RegExp => new RegExp(`^${clientId}/${orderId}/[0-9a-f-]{36}/${orderId}\\.${ext}$`);
