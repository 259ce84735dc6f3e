import { BATCH_FILES, BATCH_KEY_PREFIX, BucketName, QueueName, ServiceName, WorkerName } from '../core/contract';
import { UUID_PATTERN_IAM } from '../modules/iam-grants';

/**
 * The access matrix: what each of the six services and two workers may reach (DESIGN §5, as
 * the code in functions/ and containers/ uses it). The compute stack derives both the IAM grants
 * and the environment variables of every function and task from it, so a function never gets a
 * variable it has no permission to use (the config loader reads every secret ARN it is given at
 * start).
 *
 * It lives in its own file, not in stacks/config.ts, because it is not a knob: it is the same in
 * every environment and changes only when the code does (a test reads functions/ and containers/
 * and fails when the code calls a service, queue, bucket or store its entry does not list). And
 * not inside stacks/compute.ts, which lists what the layer creates; the matrix is what those
 * resources are allowed to do to each other.
 */

/**
 * The secrets the data layer creates. `database` is the login of the application database role
 * (`docplatform-<env>-db-app`, docs/infrastructure.md "Database roles"). The RDS-managed master
 * secret is no entry here: only the migration task reads it (ECS injects it, stacks/compute.ts).
 */
export type SecretName = 'database' | 'gemini' | 'stripeSecretKey' | 'stripeWebhookSecret' | 'orderToken';

/**
 * Objects of one bucket under a key prefix ('' = the whole bucket); with `key`, only those whose
 * key below the prefix matches that IAM pattern (modules/iam-grants.ts ObjectScope).
 */
export interface ObjectAccess {
  bucket: BucketName;
  prefix: string;
  key?: string;
}

export interface ServiceAccess {
  /** Opens connections to RDS: counted against the connection budget, placed in the VPC. */
  database: boolean;
  /** Talks to the cache: placed in the VPC. */
  cache: boolean;
  /**
   * Secrets read at start: `database` exactly when `database` is true (a test holds the two
   * together); a workload that never connects is given no database settings and reads none.
   */
  secrets: SecretName[];
  sendTo: QueueName[];
  /** Objects it reads, or presigns GET links to (a link carries the signer's permissions). */
  readObjects: ObjectAccess[];
  /** Objects it writes and never reads back: a reader of the same objects would be readWriteObjects. */
  writeObjects: ObjectAccess[];
  /** Objects it both reads (or presigns) and writes. */
  readWriteObjects: ObjectAccess[];
  /**
   * Prefixes it may list (s3:ListBucket on the bucket, conditioned on s3:prefix; a `key` plays no
   * part): what makes S3 answer a missing key under them NoSuchKey instead of AccessDenied.
   */
  listObjects: ObjectAccess[];
  invokes: ServiceName[];
}

/** A worker's access, and the queues it consumes, most urgent first (its consumer serves them in that order). */
export type WorkerAccess = ServiceAccess & { queues: QueueName[] };

const access = (a: Partial<ServiceAccess>): ServiceAccess => ({
  database: false,
  cache: false,
  secrets: [],
  sendTo: [],
  readObjects: [],
  writeObjects: [],
  readWriteObjects: [],
  listObjects: [],
  invokes: [],
  ...a,
});

/** Batch sources, rejected rows and manifests: `batches/<clientId>/<batchId>/…` in the assets bucket (core/contract.ts). */
const BATCHES: ObjectAccess = { bucket: 'assets', prefix: BATCH_KEY_PREFIX };
// Each workload is granted the batch files it uses, no more: none may rewrite what another wrote for it to read.
// Client, batch and completion ids are UUIDs (core/domain/batches.ts), so each is written as one, not as `*`,
// which also matches `/` and would cover the file's name in any folder below batches/.
const batchFiles = (file: string): ObjectAccess => ({ ...BATCHES, key: `${UUID_PATTERN_IAM}/${UUID_PATTERN_IAM}/${file}` });
const BATCH_SOURCES = batchFiles(BATCH_FILES.source);
const REJECTED_ROWS = batchFiles(BATCH_FILES.rejectedRows);
const MANIFESTS = batchFiles(BATCH_FILES.manifest(UUID_PATTERN_IAM));
/** Documents in the reports bucket: each attempt's `<clientId>/<orderId>/<attempt>/<orderId>.<ext>`, and `<clientId>/<orderId>.<ext>` for those storage:move brought over. */
const DOCUMENTS: ObjectAccess = { bucket: 'reports', prefix: '' };

/**
 * The gateways only orchestrate (internal calls, Stripe, S3): they stay out of the VPC and need
 * no NAT for Stripe or AWS APIs.
 */
export const SERVICE_ACCESS: Record<ServiceName, ServiceAccess> = {
  'gateway-b2c': access({
    secrets: ['stripeSecretKey', 'stripeWebhookSecret'],
    readObjects: [DOCUMENTS],
    invokes: ['theme', 'order'],
  }),
  // Presigns the document links of B2B orders and the manifest links of batches: a presigned GET
  // carries the signer's permissions. Neither gateway reads an object's bytes nor lists: before
  // signing it asks with a HEAD (s3:GetObject), which S3 answers 403 for a missing key to a
  // caller that may not list, and a listing to make it 404 would be of the whole reports bucket
  // (every client's keys); the gateway takes either answer for "not stored" (core/storage.ts).
  // writeObjects: it stores each batch's source and never reads one back.
  'gateway-b2b': access({ readObjects: [DOCUMENTS, MANIFESTS], writeObjects: [BATCH_SOURCES], invokes: ['client', 'theme', 'order'] }),
  'core-llm': access({ cache: true, secrets: ['gemini'] }),
  theme: access({ database: true, secrets: ['database'] }),
  order: access({ database: true, secrets: ['database', 'orderToken'], sendTo: ['docJobs', 'batchJobs'] }),
  client: access({ database: true, secrets: ['database'] }),
};

export const WORKER_ACCESS: Record<WorkerName, WorkerAccess> = {
  'doc-generation': {
    // sendTo: the hand-off message on a job's last receive and the sweeper's re-sends, each to its order's queue (core/queue.ts docJobQueueOf).
    // listObjects: a batch whose rejected-rows report is gone completes, its rejected lines without their reasons; without the
    // listing S3 answered AccessDenied, and the last order's message was retried until the DLQ, the batch never completed.
    // writeObjects: it uploads each attempt's document and never reads one back (the gateways presign the links),
    // so neither s3:GetObject nor a listing of the reports bucket; completing a batch writes its manifest, after
    // reading its rejected-rows report (readObjects).
    ...access({
      database: true,
      secrets: ['database'],
      sendTo: ['docJobs', 'batchDocJobs'],
      readObjects: [REJECTED_ROWS],
      writeObjects: [DOCUMENTS, MANIFESTS],
      listObjects: [BATCHES],
      invokes: ['core-llm'],
    }),
    // Interactive orders first: no B2C job waits behind a batch's rows.
    queues: ['docJobs', 'batchDocJobs'],
  },
  'b2b-batch': {
    // listObjects: a batch whose source object is gone is failed at once with its reason; without the
    // listing S3 answered AccessDenied, which the worker retried until the DLQ. It reads the source, writes
    // the rejected-rows report and reads it back when it completes the batch, writing the manifest then.
    ...access({
      database: true,
      secrets: ['database'],
      sendTo: ['batchDocJobs'],
      readObjects: [BATCH_SOURCES],
      readWriteObjects: [REJECTED_ROWS],
      writeObjects: [MANIFESTS],
      listObjects: [BATCHES],
    }),
    queues: ['batchJobs'],
  },
};
