import { join } from 'node:path';
import { parseOptions, runCli } from '../core/cli';
import { rotateApiKey } from '../core/domain/api-keys';
import { createDb } from '../core/db';
import { readConfig } from '../core/config';
import { onInterrupt } from '../core/interrupt';
import { ENV, SERVICE_NAMES, ServiceName, WORKER_NAMES } from '../core/contract';
import { credentialsFromUrl } from '../migrations/app-role';
import { migrateWithAppLogin } from '../migrations/migrate';
import { atLeast, createLogger, LogLevel, redactText, stderrSink, stdoutSink } from '../core/logger';
import { LOCAL_BUCKETS, LOCAL_LOG_FILE, LOCAL_ORIGIN_SECRET, LOCAL_PG_URL, LOCAL_STATE_DIR, localEdgePort, localEmulatorPort, localPort, localStripePort, PORT_VARIABLES, servicePortVariable } from './local/defaults';
import { assertPortsFree } from './local/ports';
import { startLocalEdge } from './local/edge/server';
import { edgeSourceKind, frontendSource } from './local/edge/frontend-source';
import { OPENAPI_PATH } from './openapi/document';
import { openLocalLog } from './local/log-file';
import { ensureFrontendBuild, FRONTEND_BUILD_SWITCH } from './local/frontend';
import { ensureDatabase, startLocalPlatform } from './local/platform';
import { answers, startLocalDatabase } from './local/postgres';
import { renderSupport } from './local/renderers';

/**
 * `npm run dev`: the whole platform on localhost with no account and no key. PostgreSQL is the
 * machine's when one answers at DATABASE_URL, else an embedded PostgreSQL 16 from npm
 * (local/postgres.ts; `npm run dev -- --fresh` starts it empty); Redis is the machine's, and
 * without one core-llm runs degraded (no cache, rate limit per process) until one answers;
 * SQS/S3 are the fauxqs emulator; Stripe is the local stand-in driven by the real SDK; content
 * comes from the offline provider unless GEMINI_API_KEY is set.
 */
const DEMO_CLIENT_EMAIL = 'demo-b2b@example.test';
/** The caller's variables that reach the services as they are set (the rest of their environment is the local run's own). */
const PASSED_TO_SERVICES = [ENV.geminiApiKey, ENV.geminiModel, ENV.geminiBaseUrl, ENV.databaseAppUrl];
/** Those, and the ones the local run reads itself before it hands them on. */
const FORWARDED_VARIABLES = [...PASSED_TO_SERVICES, ENV.databaseUrl, ENV.redisUrl, ENV.logLevel];

async function demoApiKey(databaseUrl: string): Promise<string> {
  const db = createDb({ database: { url: databaseUrl, port: 5432, poolMax: 1 }, secrets: {} });
  try {
    const existing = await db('clients').where({ kind: 'b2b', email: DEMO_CLIENT_EMAIL }).first('id');
    const clientId: string = existing?.id ?? (await db('clients').insert({ kind: 'b2b', name: 'Demo B2B client', email: DEMO_CLIENT_EMAIL }).returning('id'))[0].id;
    // Only a hash is stored, so each start rotates the demo key in order to print it; the previous one expires at once.
    const rotation = await rotateApiKey(db, clientId, 0);
    if (typeof rotation === 'string') throw new Error(`the demo client's key was not rotated (${rotation})`);
    return rotation.apiKey;
  } finally {
    await db.destroy();
  }
}

/**
 * With DATABASE_APP_URL set, the services and workers connect with it, as in AWS: its user becomes
 * a login of the application role, with its password, before anything connects (DATABASE_URL
 * stays the owner's, which migrates and seeds).
 */
async function prepareAppLogin(appUrl: string): Promise<void> {
  const credentials = credentialsFromUrl(appUrl, ENV.databaseAppUrl);
  await ensureDatabase(LOCAL_PG_URL);
  const db = createDb({ database: { url: LOCAL_PG_URL, port: 5432, poolMax: 1 }, secrets: {} });
  try {
    await migrateWithAppLogin(db, credentials);
  } finally {
    await db.destroy();
  }
}

async function main(): Promise<void> {
  // A wrong option, LOCAL_EDGE_SOURCE or port variable, or a port taken, stops the start before anything runs.
  const { values } = parseOptions({ args: process.argv.slice(2), options: { fresh: { type: 'boolean', default: false } } });
  const edgeSource = edgeSourceKind();
  // The variables the local run hands to its services, read as they will read them: a malformed
  // one is exit 2 naming it here, not a TypeError after the front-end build and the database start.
  readConfig(Object.fromEntries(FORWARDED_VARIABLES.map((k) => [k, process.env[k]])));
  const ports = Object.fromEntries(SERVICE_NAMES.map((n) => [n, localPort(n)])) as Record<ServiceName, number>;
  const emulatorPort = localEmulatorPort();
  const stripePort = localStripePort();
  const edgePort = localEdgePort();
  await assertPortsFree([
    { variable: PORT_VARIABLES.emulator, port: emulatorPort },
    { variable: PORT_VARIABLES.stripe, port: stripePort },
    ...SERVICE_NAMES.map((n) => ({ variable: servicePortVariable(n), port: ports[n] })),
    { variable: PORT_VARIABLES.edge, port: edgePort },
  ]);
  // The API runs without the Angular client: a failed install or build is said, not fatal.
  if (process.env[FRONTEND_BUILD_SWITCH] !== 'off') {
    await ensureFrontendBuild((line) => process.stdout.write(`${line}\n`)).catch((err: Error) =>
      process.stdout.write(`frontend not rebuilt (${err.message}): the edge serves whatever frontend/dist/browser holds\n`),
    );
  }
  const database = await startLocalDatabase({
    url: LOCAL_PG_URL,
    stateDir: LOCAL_STATE_DIR,
    fresh: values.fresh,
    onProgress: (line) => process.stdout.write(`${line}\n`),
  });
  const appUrl = process.env[ENV.databaseAppUrl];
  if (appUrl) await prepareAppLogin(appUrl);
  // The terminal shows LOG_LEVEL (warn by default); the log file keeps info and up, the order stories.
  const terminalLevel = (process.env[ENV.logLevel] as LogLevel) ?? 'warn';
  const log = openLocalLog(LOCAL_LOG_FILE, { level: terminalLevel, write: stdoutSink });
  const platform = await startLocalPlatform({
    databaseUrl: LOCAL_PG_URL,
    ports,
    emulatorPort,
    stripePort,
    startWorkers: true,
    logLevel: atLeast(terminalLevel, 'info') ? 'info' : terminalLevel,
    logSink: log.sink,
    env: Object.fromEntries(PASSED_TO_SERVICES.filter((k) => process.env[k]).map((k) => [k, process.env[k]!])),
  });
  const edge = await startLocalEdge({
    port: edgePort,
    frontend: frontendSource(edgeSource, platform.emulator.endpoint),
    gateways: { b2c: platform.urls['gateway-b2c'], b2b: platform.urls['gateway-b2b'] },
    originSecret: LOCAL_ORIGIN_SECRET,
    openApiFile: join(__dirname, '..', OPENAPI_PATH),
  }).catch(async (err: Error) => {
    await platform.stop();
    throw new Error(`the local edge did not start on port ${edgePort} (EDGE_PORT moves it): ${err.message}`);
  });
  const apiKey = await demoApiKey(LOCAL_PG_URL);
  const b2c = platform.urls['gateway-b2c'];
  const b2b = platform.urls['gateway-b2b'];
  const missingWorkers = WORKER_NAMES.filter((w) => !platform.workers.includes(w));
  const redis = new URL(platform.config.redis.url);
  const redisLine = (await answers(redis.hostname.replace(/^\[(.*)\]$/, '$1'), Number(redis.port || 6379)))
    ? `${redis.host}   (core-llm's cache and per-client rate limit)`
    : `nothing answers at ${redis.host}: core-llm runs degraded (no cache, rate limit counted in its process) and uses Redis by itself once one answers there`;
  const lines = [
    '',
    'docplatform is running locally',
    '',
    `  edge         ${edge.url}   (one origin like CloudFront: ${edge.describe}; /api/* to the gateways; /api/openapi.json the contract)`,
    ...SERVICE_NAMES.map((n) => `  ${n.padEnd(12)} ${platform.urls[n]}`),
    `  sqs/s3       ${platform.emulator.endpoint}   (fauxqs: queues ${Object.keys(platform.emulator.queueUrls).join(', ')}; buckets ${LOCAL_BUCKETS.join(', ')})`,
    `  stripe       ${platform.stripe.url}   (local stand-in, real SDK)`,
    `  database     ${redactText(LOCAL_PG_URL)}${appUrl ? ` (services and workers as ${new URL(appUrl).username})` : ''}`,
    `  postgresql   ${database.describe}`,
    `  redis        ${redisLine}`,
    `  content      ${platform.config.secrets.geminiApiKey ? `Gemini (${platform.config.gemini.model})` : 'offline provider (set GEMINI_API_KEY for Gemini)'}`,
    `  logs         ${LOCAL_LOG_FILE}   (every service's and worker's lines; npm run ops -- order <id> reads an order's story there)`,
    `  workers      ${platform.workers.length ? platform.workers.join(', ') : 'none'}${missingWorkers.length ? ` (not started: ${missingWorkers.join(', ')})` : ''}`,
    ...renderSupport().lines.map((line, i) => `  ${i === 0 ? 'documents' : ''}`.padEnd(15) + line),
    '',
    `Demo B2B API key (new at each start): ${apiKey}`,
    '',
    'Try:',
    `  open ${edge.url}/                # the Angular client; the same origin answers /api/b2c/themes`,
    `  curl -s ${b2c}/b2c/themes`,
    `  curl -s -X POST ${b2c}/b2c/orders -H 'content-type: application/json' -H "idempotency-key: $(uuidgen || cat /proc/sys/kernel/random/uuid)" \\`,
    `       -d '{"email":"ada@example.test","name":"Ada","theme":"product-sheet","input":{"product":"Solar kettle"}}'`,
    '  npm run local:pay -- <order id>          # sends a Stripe-signed checkout.session.completed to the webhook',
    '  npm run local:jobs                       # messages in the local queues',
    `  curl -s '${b2c}/b2c/orders/<order id>?token=<accessToken>'`,
    `  curl -s -X POST '${b2b}/b2b/batches?theme=product-sheet' -H 'x-api-key: ${apiKey}' -H 'content-type: text/csv' \\`,
    `       --data-binary $'product\\nSolar kettle\\nWind lamp'`,
    '',
    'Ctrl-C stops everything.',
    '',
  ];
  const shutdown = () => {
    // The workers' drain lasts as long as the jobs they hold (a slow model call): say so, rather than seem to hang.
    process.stdout.write('stopping: the workers finish the jobs they hold (Ctrl-C again stops at once)\n');
    edge
      .close()
      .then(() => platform.stop())
      .then(() => database.stop())
      .then(() => log.close())
      .then(() => process.exit(0), () => process.exit(1));
  };
  const stopNow = () => {
    // The exit hooks still stop the embedded PostgreSQL (fast shutdown) and the emulator (its IPC channel closes).
    process.stdout.write("stopping now, without waiting: a later run's sweeper sends the orders in flight again (docs/workers.md)\n");
    process.exit(130);
  };
  // Before the banner: whoever reads it (a person, a test) may press Ctrl-C at once.
  onInterrupt(shutdown, stopNow);
  process.stdout.write(lines.join('\n') + '\n');
}

// A setting it cannot use is the caller's to fix (exit 2), anything else a failure (1).
runCli(main, { log: createLogger({ component: 'dev' }, 'info', stderrSink), usage: 'usage: npm run dev [-- --fresh]' });
