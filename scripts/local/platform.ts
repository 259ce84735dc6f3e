import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Client as PgClient } from 'pg';
import { readConfig, resolveConfig, AppConfig } from '../../core/config';
import { createDb } from '../../core/db';
import { migrateLatest, seed } from '../../migrations/migrate';
import { createRuntime, Runtime } from '../../functions/shared/runtime';
import { createLogger, Logger, LogSink } from '../../core/logger';
import { ENV, REGION, SERVICE_NAMES, ServiceName, serviceUrlVar, WORKER_NAMES } from '../../core/contract';
import { startLocalEmulator, LocalEmulator } from './emulator';
import { startStripeStandIn, StripeStandIn } from './stand-ins/stripe';
import { LOCAL_BUCKETS, localEdgePort, LOCAL_ORDER_TOKEN_SECRET, LOCAL_QUEUES, LOCAL_STRIPE_SECRET_KEY, LOCAL_STRIPE_WEBHOOK_SECRET } from './defaults';
import { createApp as gatewayB2c } from '../../functions/gateway-b2c/app';
import { createApp as gatewayB2b } from '../../functions/gateway-b2b/app';
import { createApp as coreLlm } from '../../functions/core-llm/app';
import { createApp as theme } from '../../functions/theme/app';
import { createApp as order } from '../../functions/order/app';
import { createApp as client } from '../../functions/client/app';

/**
 * The whole platform in one process on localhost: SQS/S3 emulator, the Stripe stand-in, the
 * database migrated and seeded, the six services over HTTP, and the workers when their code
 * is present. `npm run dev` runs it with fixed ports; tests and the bench with port 0.
 */
const APPS = { 'gateway-b2c': gatewayB2c, 'gateway-b2b': gatewayB2b, 'core-llm': coreLlm, theme, order, client } as const;

export interface PlatformOptions {
  databaseUrl: string;
  /** Port per service; 0 (default) picks a free one. */
  ports?: Partial<Record<ServiceName, number>>;
  emulatorPort?: number;
  stripePort?: number;
  redisKeyPrefix?: string;
  /** Extra environment (e.g. GEMINI_BASE_URL / GEMINI_API_KEY for a stand-in). */
  env?: Record<string, string>;
  startWorkers?: boolean;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Where every service's and worker's log lines go (default stdout): a test reads them all here. */
  logSink?: LogSink;
}

export interface RunningWorker {
  stop(): Promise<void>;
}

export interface LocalPlatform {
  config: AppConfig;
  env: Record<string, string>;
  urls: Record<ServiceName, string>;
  emulator: LocalEmulator;
  stripe: StripeStandIn;
  runtimes: Record<ServiceName, Runtime>;
  workers: string[];
  stop(): Promise<void>;
}

/** Creates the database if it does not exist yet (CREATE DATABASE has no IF NOT EXISTS). */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  url.pathname = '/postgres';
  const admin = new PgClient({ connectionString: url.toString() });
  await admin.connect();
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await admin.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
  } finally {
    await admin.end();
  }
}

const listen = (server: Server, port: number) =>
  new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });

export async function startLocalPlatform(options: PlatformOptions): Promise<LocalPlatform> {
  const emulator = await startLocalEmulator({
    port: options.emulatorPort ?? 0,
    queues: [
      { name: LOCAL_QUEUES.docJobs, maxReceiveCount: 5, visibilityTimeoutSeconds: 180 },
      { name: LOCAL_QUEUES.batchDocJobs, maxReceiveCount: 5, visibilityTimeoutSeconds: 180 },
      { name: LOCAL_QUEUES.batchJobs, maxReceiveCount: 5, visibilityTimeoutSeconds: 900 },
    ],
    buckets: LOCAL_BUCKETS,
  });
  const stripe = await startStripeStandIn({ apiKey: LOCAL_STRIPE_SECRET_KEY, port: options.stripePort ?? 0 });
  const servers: Server[] = [];
  const runtimes = {} as Record<ServiceName, Runtime>;
  const workers: { name: string; handle: RunningWorker }[] = [];
  const stop = async () => {
    for (const w of workers) await w.handle.stop();
    await Promise.all(servers.map((s) => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); })));
    await Promise.all(Object.values(runtimes).map((rt) => rt.close()));
    await stripe.close();
    await emulator.stop();
  };
  try {
    await ensureDatabase(options.databaseUrl);
    const db = createDb({ database: { url: options.databaseUrl, port: 5432, poolMax: 1 }, secrets: {} });
    try {
      await migrateLatest(db);
      await seed(db);
    } finally {
      await db.destroy();
    }

    const urls = {} as Record<ServiceName, string>;
    for (const name of SERVICE_NAMES) {
      const server = createServer();
      servers.push(server);
      urls[name] = `http://127.0.0.1:${await listen(server, options.ports?.[name] ?? 0)}`;
    }
    const env: Record<string, string> = {
      [ENV.appEnv]: 'local',
      [ENV.logLevel]: options.logLevel ?? 'info',
      [ENV.region]: REGION,
      [ENV.awsEndpoint]: emulator.endpoint,
      // The SDK wants credentials even for the emulator.
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'local',
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'local',
      [ENV.s3ForcePathStyle]: 'true',
      [ENV.databaseUrl]: options.databaseUrl,
      [ENV.dbPoolMax]: '5',
      [ENV.redisUrl]: process.env[ENV.redisUrl] ?? 'redis://127.0.0.1:6379',
      [ENV.redisKeyPrefix]: options.redisKeyPrefix ?? 'docplatform:',
      [ENV.docJobsQueueUrl]: emulator.queueUrls[LOCAL_QUEUES.docJobs],
      [ENV.batchDocJobsQueueUrl]: emulator.queueUrls[LOCAL_QUEUES.batchDocJobs],
      [ENV.batchJobsQueueUrl]: emulator.queueUrls[LOCAL_QUEUES.batchJobs],
      [ENV.reportsBucket]: 'reports',
      [ENV.assetsBucket]: 'assets',
      [ENV.stripeSecretKey]: LOCAL_STRIPE_SECRET_KEY,
      [ENV.stripeWebhookSecret]: LOCAL_STRIPE_WEBHOOK_SECRET,
      [ENV.orderTokenSecret]: LOCAL_ORDER_TOKEN_SECRET,
      [ENV.stripeApiUrl]: stripe.url,
      [ENV.internalTransport]: 'http',
      // Stripe Checkout sends the browser back to the front end, on the local edge.
      [ENV.publicBaseUrl]: `http://127.0.0.1:${localEdgePort()}`,
      ...Object.fromEntries(SERVICE_NAMES.map((n) => [serviceUrlVar(n), urls[n]])),
      ...options.env,
    };
    for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', ENV.region]) process.env[key] ??= env[key];
    stripe.sendWebhooksTo(`${urls['gateway-b2c']}/b2c/stripe/webhook`, env[ENV.stripeWebhookSecret]);
    const config = await resolveConfig(readConfig(env));
    const sink = options.logSink;
    const loggerOf = (service: string): Logger | undefined => (sink ? createLogger({ service, env: config.appEnv }, config.logLevel, sink) : undefined);
    SERVICE_NAMES.forEach((name, i) => {
      runtimes[name] = createRuntime(name, config, { logger: loggerOf(name) });
      servers[i].on('request', APPS[name](runtimes[name]).callback());
    });

    if (options.startWorkers) {
      for (const name of WORKER_NAMES) {
        const file = join(__dirname, '..', '..', 'containers', name, 'worker.ts');
        if (!existsSync(file)) continue;
        const mod = (await import(file)) as {
          startWorker?: (o: { config: AppConfig; worker: { waitTimeSeconds: number }; logger?: Logger }) => Promise<RunningWorker>;
        };
        if (typeof mod.startWorker !== 'function') continue;
        // A short long-poll keeps Ctrl-C quick: stopping waits for the poll in progress.
        workers.push({ name, handle: await mod.startWorker({ config, worker: { waitTimeSeconds: 2 }, logger: loggerOf(name) }) });
      }
    }
    return { config, env, urls, emulator, stripe, runtimes, workers: workers.map((w) => w.name), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
