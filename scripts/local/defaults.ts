import { join } from 'node:path';
import { integerOption } from '../../core/cli';
import { BUCKETS, namePrefix, QUEUES, ServiceName, envStem } from '../../core/contract';

/**
 * The values `npm run dev` runs with when nothing is set. They are local test values, not
 * secrets: the Stripe key and webhook secret only work against the local Stripe stand-in, and the
 * order token secret only signs tokens of local orders.
 */
export const LOCAL_DATABASE_NAME = 'docplatform';
export const LOCAL_PG_URL = process.env.DATABASE_URL ?? `postgres://postgres@127.0.0.1:5432/${LOCAL_DATABASE_NAME}`;
/** What the local run keeps between starts (the embedded PostgreSQL's data): `.local/`, git-ignored; LOCAL_STATE_DIR moves it. */
export const LOCAL_STATE_DIR = process.env.LOCAL_STATE_DIR ?? join(__dirname, '..', '..', '.local');
/** Every log line of `npm run dev`'s services and workers, whatever its LOG_LEVEL shows (`npm run ops -- order` reads it). */
export const LOCAL_LOG_FILE = join(LOCAL_STATE_DIR, 'logs', 'platform.jsonl');
export const LOCAL_STRIPE_SECRET_KEY = 'sk_test_local_standin';
export const LOCAL_STRIPE_WEBHOOK_SECRET = 'whsec_local_standin_signing_secret';
export const LOCAL_ORDER_TOKEN_SECRET = 'local-order-token-secret-never-used-in-aws';
/**
 * A port variable, or its default when unset or empty: 0 (any free port, what the tests ask for)
 * to 65535; anything else is a UsageError naming the variable, exit 2 before anything starts.
 */
const portVariable = (name: string, fallback: number): number => integerOption(name, process.env[name] || undefined, { min: 0, max: 65535 }, fallback);
/** The variables that move `npm run dev`'s own listeners; PORT_<NAME> moves a service's (servicePortVariable). */
export const PORT_VARIABLES = { emulator: 'EMULATOR_PORT', stripe: 'STRIPE_STANDIN_PORT', edge: 'EDGE_PORT' } as const;
export const servicePortVariable = (service: ServiceName): string => `PORT_${envStem(service)}`;
const LOCAL_STRIPE_PORT = 4190;
/** STRIPE_STANDIN_PORT overrides the Stripe stand-in's port. */
export const localStripePort = (): number => portVariable(PORT_VARIABLES.stripe, LOCAL_STRIPE_PORT);
const LOCAL_EMULATOR_PORT = 4566;
/** EMULATOR_PORT overrides the emulator's port. */
export const localEmulatorPort = (): number => portVariable(PORT_VARIABLES.emulator, LOCAL_EMULATOR_PORT);
/** The local edge: the front end and /api on one origin, like CloudFront (EDGE_PORT overrides it). */
export const LOCAL_EDGE_PORT = 4200;
export const localEdgePort = (): number => portVariable(PORT_VARIABLES.edge, LOCAL_EDGE_PORT);
/** The origin secret in the local edge's key value store (the gateways do not check it locally: the web ACL does in AWS). */
export const LOCAL_ORIGIN_SECRET = 'local-origin-secret-never-used-in-aws';
/**
 * Where the local edge reads the front end: `folder` (default: frontend/dist/browser, as built)
 * or `bucket` (LOCAL_FRONTEND_BUCKET in the emulator, as publish:frontend -- --env local left it).
 */
export const LOCAL_EDGE_SOURCE_VAR = 'LOCAL_EDGE_SOURCE';
export const EDGE_SOURCES = ['folder', 'bucket'] as const;
export type EdgeSourceKind = (typeof EDGE_SOURCES)[number];
export const LOCAL_QUEUES = {
  docJobs: `${namePrefix('local')}-${QUEUES.docJobs}`,
  batchDocJobs: `${namePrefix('local')}-${QUEUES.batchDocJobs}`,
  batchJobs: `${namePrefix('local')}-${QUEUES.batchJobs}`,
};
/** The local S3 bucket publish:frontend -- --env local writes the front end to, as it writes the SPA bucket in AWS. */
export const LOCAL_FRONTEND_BUCKET = `${namePrefix('local')}-spa`;
export const LOCAL_BUCKETS = [...Object.values(BUCKETS), LOCAL_FRONTEND_BUCKET];

/** Where each service listens locally (http transport); PORT_<NAME> overrides one. */
export const LOCAL_PORTS: Record<ServiceName, number> = {
  'gateway-b2c': 4101,
  'gateway-b2b': 4102,
  'core-llm': 4103,
  theme: 4104,
  order: 4105,
  client: 4106,
};

/** PORT_<NAME> overrides a service's local port. */
export const localPort = (service: ServiceName): number => portVariable(servicePortVariable(service), LOCAL_PORTS[service]);
