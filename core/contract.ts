/**
 * The platform's contract, named once: the services, workers, queues and buckets, the
 * environment variables that carry their wiring, the Lambda alias, the media types passed as
 * binary, and the Spot stop budget. Stacks, modules, functions, containers and local tooling
 * all derive their names from here, so a rename is one edit that the type checker follows.
 *
 * This module imports nothing: infrastructure may depend on it without pulling in any
 * runtime code (docs/architecture.md).
 */

export const PROJECT = 'docplatform';
export const REGION = 'eu-west-3';

/** The name of every AWS resource of an environment starts with this, which IAM scopes rely on. */
export const namePrefix = (env: string): string => `${PROJECT}-${env}`;

/**
 * An id of the platform's rows (orders, batches, clients: PostgreSQL `uuid` keys) as text, either
 * case. A string that is not one names no row: it is checked before it reaches a query (where
 * PostgreSQL answers an error, not "none") or a log line's `orderId`.
 */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The six Lambda services, in creation order: a caller comes after the services it invokes
 * (its IAM grants name their aliases).
 */
export const SERVICE_NAMES = ['core-llm', 'theme', 'order', 'client', 'gateway-b2c', 'gateway-b2b'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/**
 * The REST API's routes, each to the public service that answers it: `proxy` routes
 * `/<path>/{proxy+}` (every path below), otherwise `/<path>` itself for `method`. The compute
 * stack deploys them (modules/lambda-rest-api.ts); the local edge routes `/api/*` by the same
 * list (modules/api-routes.ts `apiRouteOf`).
 */
export const API_ROUTES = [
  { path: 'b2c', method: 'ANY', proxy: true, service: 'gateway-b2c' },
  { path: 'b2b', method: 'ANY', proxy: true, service: 'gateway-b2b' },
  { path: 'health', method: 'GET', proxy: false, service: 'gateway-b2c' },
] as const satisfies readonly ApiRouteSpec[];
export interface ApiRouteSpec {
  path: string;
  method: string;
  proxy: boolean;
  service: ServiceName;
}
export type PublicService = (typeof API_ROUTES)[number]['service'];
/** The services the API routes outside callers to. */
export const PUBLIC_SERVICES: ReadonlySet<ServiceName> = new Set(API_ROUTES.map((r) => r.service));
/** The services only other services call (Lambda Invoke of their live alias); a deploy checks each one's health there. */
export const INTERNAL_SERVICES: readonly ServiceName[] = SERVICE_NAMES.filter((s) => !PUBLIC_SERVICES.has(s));

/** The two Fargate Spot queue workers. */
export const WORKER_NAMES = ['doc-generation', 'b2b-batch'] as const;
export type WorkerName = (typeof WORKER_NAMES)[number];

/** Images built from this repository: one per worker and the data-migration tool. */
export const IMAGE_NAMES = [...WORKER_NAMES, 'migration'] as const;
export type ImageName = (typeof IMAGE_NAMES)[number];

/**
 * Logical queue → the stem of its physical name (`<project>-<env>-<stem>`, DLQ `…-dlq`). Doc jobs
 * come in two queues: `docJobs` for interactive orders (B2C, sent by the order service) and
 * `batchDocJobs` for the rows of B2B batches (sent by the b2b-batch worker), which the
 * doc-generation worker consumes in that order of priority, so no B2C order waits behind a batch.
 */
export const QUEUES = { docJobs: 'doc-jobs', batchDocJobs: 'batch-doc-jobs', batchJobs: 'batch-jobs' } as const;
export type QueueName = keyof typeof QUEUES;

/** Rows one B2B batch may hold: the gateway refuses more, and the batch-doc-jobs age alarm allows for a full one. */
export const MAX_BATCH_ROWS = 5000;

/**
 * A B2B batch's objects in the assets bucket, each at `batches/<clientId>/<batchId>/<file>`
 * (core/domain/batches.ts builds the keys): the source gateway-b2b stores, the rejected-rows
 * report the b2b-batch worker writes, and one manifest per completion (its own id, so a stale
 * completion never overwrites a newer manifest). stacks/access.ts grants each workload the files
 * it uses by these names, `manifest('*')` standing for every manifest.
 */
export const BATCH_KEY_PREFIX = 'batches/';
export const BATCH_FILES = {
  source: 'source.json',
  rejectedRows: 'rejected-rows.json',
  manifest: (completion: string): string => `manifest-${completion}.json`,
} as const;

/**
 * The environment's secrets (created empty by the data stack, values put out of band) → the stem
 * of their name, `<prefix>-<stem>`. The RDS master secret is RDS's own and not among them.
 */
export const SECRET_STEMS = {
  gemini: 'gemini-api-key',
  stripeSecretKey: 'stripe-secret-key',
  stripeWebhookSecret: 'stripe-webhook-secret',
  orderToken: 'order-token-secret',
  databaseApp: 'db-app',
  /**
   * JSON {accessKeyId, secretAccessKey} of the old platform's object storage (a Scaleway key), read
   * by the storage-move task only; exists only while `migration.storageSource` is on.
   */
  storageSource: 'storage-source',
} as const;
export type SecretKey = keyof typeof SECRET_STEMS;

/** Logical bucket → the stem of its physical name. */
export const BUCKETS = { reports: 'reports', assets: 'assets' } as const;
export type BucketName = keyof typeof BUCKETS;

/**
 * The platform's own CloudWatch metrics, written as log lines in the embedded metric format
 * (core/metrics.ts) and shown on each environment's dashboard (modules/ops-dashboard.ts): one
 * count per document the doc-generation worker makes or fails, by environment (the `env` field
 * every worker log line carries).
 */
export const CUSTOM_METRICS = {
  namespace: PROJECT,
  dimension: 'env',
  documentsProduced: 'DocumentsProduced',
  documentsFailed: 'DocumentsFailed',
} as const;

/**
 * The hops of an order's story, in the `step` field of the one log line that marks each: the
 * order service (received, paid) or, for a batch's order, the b2b-batch worker (received), the
 * doc-generation worker (taken … ready/failed) and its sweeper (requeued, failed). `npm run ops
 * -- order <id>` and the saved Logs Insights query (modules/log-queries.ts) read the story by
 * `orderId`; `step` names where each line stands in it.
 */
export const ORDER_STEPS = {
  received: 'received',
  paid: 'paid',
  taken: 'taken',
  contentGenerated: 'content generated',
  rendered: 'rendered',
  uploaded: 'uploaded',
  ready: 'ready',
  failed: 'failed',
  requeued: 'requeued',
} as const;
export type OrderStep = (typeof ORDER_STEPS)[keyof typeof ORDER_STEPS];

/**
 * core-llm's Lambda timeout, the longest of the internal services (a generation waits on Gemini,
 * retries included). The internal client's request bound (core/internal-client.ts) and core-llm's
 * budget outside Lambda (functions/core-llm/app.ts) are derived from it, so raising it moves both
 * and no caller gives up on an answer still being made.
 */
export const CORE_LLM_TIMEOUT_SECONDS = 60;

/**
 * API Gateway REST's integration timeout, counted from the request's arrival
 * (`requestContext.requestTimeEpoch`): past it the client has API Gateway's bare 504, whatever
 * the function answers later. The gateways' deadlines and the local edge's 504 follow it.
 */
export const API_GATEWAY_TIMEOUT_MS = 29_000;

/**
 * The largest event a synchronous Lambda invocation takes (InvokeFunction refuses more), whatever
 * API Gateway itself accepts (10 MB): a request body must fit in it beside the rest of its event.
 */
export const LAMBDA_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024;

/** The alias every caller and the API invoke; rollback moves it to an older version. */
export const LIVE_ALIAS = 'live';

/**
 * Headers the edge writes on every `/api/*` request it forwards (the CloudFront Function of
 * stacks/edge.ts), over anything the client sent under these names, and that the API's web ACL
 * reads (modules/web-acl.ts): the viewer's address, which the rate rule counts, and the origin
 * secret, without which the API refuses the request.
 */
export const EDGE_HEADERS = { clientIp: 'x-client-ip', originVerify: 'x-origin-verify' } as const;

/** The header Stripe signs its webhooks in (gateway-b2c reads it; the API's WAF logs leave it out). */
export const STRIPE_SIGNATURE_HEADER = 'stripe-signature';

/** Key of the origin secret in the edge's CloudFront KeyValueStore, put there out of band (docs/deploy.md). */
export const ORIGIN_SECRET_KEY = 'origin-verify';

/**
 * Content types API Gateway passes base64-encoded and serverless-http answers as binary: the
 * API's `binaryMediaTypes` and the handlers' `binary` option must be the same list.
 */
export const BINARY_MEDIA_TYPES = [
  'application/pdf',
  'application/octet-stream',
  'application/zip',
  'image/*',
  'application/vnd.openxmlformats-officedocument.*',
];

/**
 * Fargate Spot gives two minutes between SIGTERM and SIGKILL, and ECS's stopTimeout is at most
 * that. The process force-exits a little before the kill, and the drain of in-flight messages
 * must end before that, leaving time to release what is left.
 */
export const SPOT_STOP_BUDGET = {
  stopTimeoutSeconds: 120,
  hardExitSeconds: 115,
  maxDrainSeconds: 110,
} as const;

/** `core-llm` → `CORE_LLM`, as in SERVICE_URL_<NAME> / SERVICE_FUNCTION_<NAME> / PORT_<NAME>. */
export const envStem = (name: string): string => name.toUpperCase().replace(/-/g, '_');

/**
 * Environment variables the infrastructure and the local runner set and the config reader
 * parses (docs/runtime-config.md lists every one with its default).
 */
export const ENV = {
  appEnv: 'APP_ENV',
  logLevel: 'LOG_LEVEL',
  region: 'AWS_REGION',
  awsEndpoint: 'AWS_ENDPOINT_URL',
  s3ForcePathStyle: 'S3_FORCE_PATH_STYLE',
  databaseUrl: 'DATABASE_URL',
  databaseAppUrl: 'DATABASE_APP_URL',
  dbHost: 'DB_HOST',
  dbPort: 'DB_PORT',
  dbName: 'DB_NAME',
  dbSecretArn: 'DB_SECRET_ARN',
  dbPoolMax: 'DB_POOL_MAX',
  /** How long a connection attempt may wait for a database that sleeps (an Aurora cluster at 0 ACU): DB_RESUME_WAIT_MS. */
  dbConnectWaitMs: 'DB_CONNECT_WAIT_MS',
  redisUrl: 'REDIS_URL',
  redisKeyPrefix: 'REDIS_KEY_PREFIX',
  /** The ElastiCache user a process authenticates as with IAM (core/cache-auth.ts); unset, no AUTH is sent. */
  redisIamUser: 'REDIS_IAM_USER',
  /** The serverless cache's name, the host its IAM tokens are signed for; set with REDIS_IAM_USER. */
  redisIamCacheName: 'REDIS_IAM_CACHE_NAME',
  docJobsQueueUrl: 'DOC_JOBS_QUEUE_URL',
  batchDocJobsQueueUrl: 'BATCH_DOC_JOBS_QUEUE_URL',
  batchJobsQueueUrl: 'BATCH_JOBS_QUEUE_URL',
  reportsBucket: 'REPORTS_BUCKET',
  assetsBucket: 'ASSETS_BUCKET',
  geminiApiKey: 'GEMINI_API_KEY',
  geminiSecretArn: 'GEMINI_SECRET_ARN',
  geminiModel: 'GEMINI_MODEL',
  geminiBaseUrl: 'GEMINI_BASE_URL',
  geminiRequestsPerMinute: 'GEMINI_REQUESTS_PER_MINUTE',
  geminiTokensPerMinute: 'GEMINI_TOKENS_PER_MINUTE',
  llmInteractiveSharePercent: 'LLM_INTERACTIVE_SHARE_PERCENT',
  llmBatchMaxInFlight: 'LLM_BATCH_MAX_IN_FLIGHT',
  stripeSecretKey: 'STRIPE_SECRET_KEY',
  stripeSecretArn: 'STRIPE_SECRET_ARN',
  stripeWebhookSecret: 'STRIPE_WEBHOOK_SECRET',
  stripeWebhookSecretArn: 'STRIPE_WEBHOOK_SECRET_ARN',
  stripeApiUrl: 'STRIPE_API_URL',
  orderTokenSecret: 'ORDER_TOKEN_SECRET',
  orderTokenSecretArn: 'ORDER_TOKEN_SECRET_ARN',
  internalTransport: 'INTERNAL_TRANSPORT',
  publicBaseUrl: 'PUBLIC_BASE_URL',
  workerConcurrency: 'WORKER_CONCURRENCY',
  /** Documents the doc-generation worker renders at once (Chromium pages), below the messages it holds. */
  workerRenderSlots: 'WORKER_RENDER_SLOTS',
  workerDrainSeconds: 'WORKER_DRAIN_SECONDS',
  nodeExtraCaCerts: 'NODE_EXTRA_CA_CERTS',
  /** The source store's key of `storage:move` (a Scaleway key); without them the source takes the SDK's chain. */
  storageSourceAccessKeyId: 'SOURCE_AWS_ACCESS_KEY_ID',
  storageSourceSecretAccessKey: 'SOURCE_AWS_SECRET_ACCESS_KEY',
} as const;

/**
 * The application's database role. Schema migrations run as the owner of the tables (the RDS
 * master user in AWS) and grant this role the DML the services and workers need, no DDL and no
 * ownership (migrations/schema/20261201_005_app_role.ts); services and workers connect as it, or
 * as a login role that is a member of it (migrations/app-role.ts).
 */
export const DB_APP_ROLE = 'docplatform_app';

/**
 * Longest wait for a connection to a database that sleeps (DB_CONNECT_WAIT_MS): an Aurora
 * Serverless v2 instance paused at 0 ACU takes 15-30 s to resume on the first connection. The
 * data stack gives it to the compute layer for the Aurora engine, 0 for the RDS instance.
 */
export const DB_RESUME_WAIT_MS = 30_000;

/** The variable naming the Lambda function (in AWS) of an internal service a caller invokes. */
export const serviceFunctionVar = (service: ServiceName): string => `SERVICE_FUNCTION_${envStem(service)}`;
/** The variable naming the local URL (http transport) of an internal service. */
export const serviceUrlVar = (service: ServiceName): string => `SERVICE_URL_${envStem(service)}`;

/**
 * Batch generations core-llm lets wait on Gemini at once (LLM_BATCH_MAX_IN_FLIGHT): the
 * doc-generation slots (maxTasks × concurrency, the messages in hand, each of which may wait on
 * one generation) less the interactive share of them, so a B2C job finds a slot free however large
 * the batches (at least one slot each way).
 */
export function batchGenerationsInFlight(slots: number, interactiveSharePercent: number): number {
  return Math.max(1, slots - Math.max(1, Math.ceil((slots * interactiveSharePercent) / 100)));
}

/**
 * What no log line shows the value of (core/logger.ts): a field, a URL query parameter or a key
 * of JSON text whose name, lowercased and without `-` and `_`, ends with one of these. Covers the
 * B2C order token (`?token=`), presigned S3 links (`X-Amz-Signature`, `X-Amz-Credential`,
 * `X-Amz-Security-Token`), API keys (`apiKey`, `x-api-key`), Stripe's and AWS's secret keys and
 * passwords.
 */
export const SECRET_NAME_ENDINGS = [
  'password',
  'passwd',
  'secret',
  'secretkey',
  'accesskey',
  'privatekey',
  'token',
  'apikey',
  'authorization',
  'cookie',
  'signature',
  'credential',
  'credentials',
  // The origin secret's header (EDGE_HEADERS.originVerify): with it a caller passes the API's WAF without CloudFront.
  'originverify',
] as const;
