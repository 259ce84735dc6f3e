import { API_GATEWAY_TIMEOUT_MS, CORE_LLM_TIMEOUT_SECONDS, namePrefix, PROJECT, REGION, ServiceName, WorkerName } from '../core/contract';

/**
 * The typed configuration of each environment: the one place where infrastructure knobs, the
 * values that may differ between environments, live; `prod` differs from `dev` by these values
 * only. Adding an environment means adding an entry to `environments`.
 *
 * What is the same in every environment lives elsewhere: the names of services, workers, queues,
 * buckets and environment variables in core/contract.ts, and the access matrix (what each
 * service and worker may reach, a contract of what the code uses) in stacks/access.ts.
 */

/** How private subnets reach the internet (Gemini, Stripe, ECR pulls). */
export type EgressMode = 'nat-instance' | 'nat-gateway' | 'none';

/**
 * What runs PostgreSQL: the RDS instance of the specification, or an Aurora Serverless v2 cluster
 * (docs/data-migration.md, "From the RDS instance to Aurora"). Both give the compute layer the
 * same endpoint, port, database name and master secret.
 */
export type DatabaseEngine = 'rds-instance' | 'aurora-serverless-v2';

/** The Aurora Serverless v2 cluster, used when `database.engine` is `aurora-serverless-v2`. */
export interface AuroraSettings {
  /**
   * aurora-postgresql version the cluster is created at; 0 ACU (auto-pause) needs 16.3 or later in
   * the 16 line. AWS upgrades the minor version from there and Terraform ignores the difference, so
   * a change here alone upgrades nothing (docs/deploy.md, "Later traps").
   */
  engineVersion: string;
  /**
   * Capacity range of every instance, in ACUs (half steps; 1 ACU is about 2 GiB of memory). A
   * minimum of 0 lets an idle instance pause: no compute billed, but the first connection after a
   * pause waits 15-30 s while it resumes (core/db.ts retries within the request's time).
   */
  minAcu: number;
  maxAcu: number;
  /** Idle seconds before an instance pauses (300-86,400); only read when `minAcu` is 0. */
  secondsUntilAutoPause: number;
  /** A second Serverless v2 instance as reader and failover target (billed like the writer). */
  reader: boolean;
}

export interface LambdaSettings {
  /** MB, 128–1024 per the specification. */
  memoryMb: number;
  timeoutSeconds: number;
  /**
   * Reserved concurrency. Together with `database.poolMaxPerLambda` this bounds the
   * connections a function can open on RDS (db.t4g.micro allows about a hundred).
   */
  reservedConcurrency: number;
}

export interface WorkerSettings {
  cpu: number; // CPU units, 1024 = 1 vCPU
  memoryMb: number;
  maxTasks: number;
  /** Messages a single task works on at once. */
  concurrency: number;
  /** Queue depth one task is expected to absorb; drives the step-scaling thresholds. */
  messagesPerTask: number;
}

/**
 * The doc-generation worker holds `concurrency` messages, each waiting on core-llm most of its
 * time, and renders `renderSlots` of them at once (WORKER_RENDER_SLOTS): the Chromium pages, which
 * bound its CPU and memory; `concurrency` bounds the generations in flight (core-llm's reserved
 * concurrency covers maxTasks × concurrency, LLM_BATCH_MAX_IN_FLIGHT follows it).
 */
export interface DocWorkerSettings extends WorkerSettings {
  renderSlots: number;
  /**
   * One task starts every this many hours (a divisor of 24) for a few minutes, whatever the
   * queues hold, so that its sweeper ends within that time the orders whose doc job was lost while
   * no task ran (docs/workers.md, "The sweeper"); each wake is a few minutes of one Spot task.
   */
  sweepWakeEveryHours: number;
}

export interface EnvironmentConfig {
  env: string;
  region: string;
  /** AWS account the environment lives in; checked by the provider's allowed_account_ids when set. */
  accountId?: string;
  network: {
    cidr: string;
    azCount: number;
    egress: EgressMode;
    /** Instance type of the NAT instance when `egress` is `nat-instance`. */
    natInstanceType: string;
    /**
     * Index (0-based, among the `azCount` AZs) of the AZ the NAT lives in: the NAT gateway, or the
     * NAT instance's floating interface and Auto Scaling group (an interface is bound to its AZ).
     * Moving it re-creates the interface in the other AZ with the same Elastic IP: the way out of
     * an outage of that AZ (docs/operations.md#egress-down).
     */
    natAz: number;
    /**
     * VPC flow logs (every accepted and rejected flow of every ENI, 10-minute aggregation) to a
     * private bucket of the network layer whose objects expire after `expireAfterDays`.
     * Billed per GB delivered (docs/cost.md): on in prod, off in dev.
     */
    flowLogs: { enabled: boolean; expireAfterDays: number };
  };
  database: {
    /** `rds-instance` (the default everywhere) or `aurora-serverless-v2` (`aurora` below). */
    engine: DatabaseEngine;
    aurora: AuroraSettings;
    /** The RDS instance, when `engine` is `rds-instance`: class, version and storage. */
    instanceClass: string;
    /**
     * The major alone (`16`): the instance takes AWS's minor upgrades, and a pinned minor would plan
     * a downgrade after the first (aws_db_instance takes a version prefix for that; later-traps test).
     */
    engineVersion: string;
    allocatedStorageGb: number;
    maxAllocatedStorageGb: number;
    multiAz: boolean;
    deletionProtection: boolean;
    backupRetentionDays: number;
    /**
     * Connections the application may open in total (max_connections of db.t4g.micro is about
     * a hundred; the rest is left to RDS, ops sessions and the migration task).
     */
    connectionBudget: number;
    /** Connections each Lambda execution environment may hold: it serves one request at a time. */
    poolMaxPerLambda: number;
    /** Connections each worker task may hold. */
    poolMaxPerWorker: number;
  };
  cache: {
    /** Usage limits of ElastiCache Serverless: they cap both cost and blast radius. */
    maxDataStorageGb: number;
    maxEcpuPerSecond: number;
    snapshotRetentionDays: number;
  };
  queues: {
    /** Receives before a message moves to its DLQ. */
    maxReceiveCount: number;
    retentionDays: number;
    dlqRetentionDays: number;
    docJobsVisibilitySeconds: number;
    batchJobsVisibilitySeconds: number;
    /**
     * Rows of a batch the doc workers are counted on to finish a minute: at most `npm run
     * capacity`'s B2B batch row ceiling (test/infra/data.test.ts holds it under; the data stack
     * cannot read the traffic profile behind that ceiling). The batch-doc-jobs oldest-message
     * alarm allows a full batch (MAX_BATCH_ROWS) at this pace before it counts the usual margin:
     * 42 minutes in prod. A lower figure only makes the alarm later.
     */
    batchRowsPerMinute: number;
  };
  lambdas: Record<ServiceName, LambdaSettings>;
  api: {
    throttleRateLimit: number;
    throttleBurstLimit: number;
    /** Requests per 5 minutes per client IP (as the edge saw it) before the WAF rate rule blocks. */
    wafRateLimitPer5Min: number;
    /**
     * ARN of the REGIONAL WAF regex pattern set `docplatform-<env>-origin-verify` holding the
     * origin secret CloudFront adds to every API request. It is created and rotated out of band
     * (docs/deploy.md) so the secret is in no Terraform plan or state; the ARN itself is not
     * secret. Unset: the API's web ACL refuses every request.
     */
    originVerifyPatternSetArn?: string;
    /**
     * Log the requests the API's web ACL blocks, and only those, to the log group
     * `aws-waf-logs-docplatform-<env>-api` (retention `logs.retentionDays`). Billed per GB
     * ingested (docs/cost.md): on in prod, off in dev.
     */
    wafBlockedRequestLogs: boolean;
    /**
     * This environment's compute stack owns the account-level API Gateway CloudWatch role
     * (`aws_api_gateway_account`, one per account and region). Set it on exactly one
     * environment per AWS account.
     */
    ownsAccountLogRole: boolean;
  };
  /**
   * Gemini: the model the core-llm service and the doc worker ask for, and this environment's
   * project quota for it (requests and tokens per minute, as the AI Studio quota page gives them),
   * which core-llm budgets (functions/core-llm/budget.ts): `interactiveSharePercent` of it, and of
   * the doc-generation slots, is kept for B2C orders; B2B batches share the rest.
   */
  gemini: { model: string; requestsPerMinute: number; tokensPerMinute: number; interactiveSharePercent: number };
  images: {
    /** ECR: tagged images kept per repository (older ones expire; rollback reaches this far back). */
    keepTagged: number;
    /**
     * Environment whose images (same commit SHA) this one's deploy copies instead of building
     * (`promote-from` in deploy.yml): its deploy role may pull from that environment's
     * repositories, and nothing else of it.
     */
    promoteFrom?: string;
  };
  /** The one-off data-migration task (pg_dump/pg_restore with -j2 wants 2 vCPU worth of work). */
  migrationTask: { cpu: number; memoryMb: number };
  migration: {
    /**
     * Where the migration task may open PostgreSQL (5432) besides RDS: the old platform's database
     * host(s) as IPv4 CIDRs, e.g. `203.0.113.10/32` (at least a /16, network address exact). Empty:
     * the migration security group reaches RDS only. Set it for the cutover, empty it after
     * (docs/data-migration.md).
     */
    sourceCidrs: string[];
    /**
     * While a `storage:move` into AWS is planned (docs/data-migration.md, "Storage phase"): the
     * empty secret of the old storage's key (`<prefix>-storage-source`, $0.40 a month) and the
     * `storage-move` task that reads it and fills the reports and assets buckets. Off by default,
     * like `sourceCidrs`: turn it on for the move, off after (the secret and the task go).
     */
    storageSource: boolean;
  };
  workers: Record<WorkerName, WorkerSettings> & {
    'doc-generation': DocWorkerSettings;
    /** Keep an on-demand FARGATE fallback capacity provider (weight 0 unless Spot is unavailable). */
    onDemandFallback: boolean;
  };
  logs: {
    retentionDays: number;
  };
  budget: {
    monthlyUsd: number;
    /** Addresses alerted by AWS Budgets; empty in code, set per account. */
    alertEmails: string[];
  };
  /**
   * What destroying this environment does with what it holds. Dev is torn down and rebuilt (a
   * wrong first deploy, a clean re-test); prod never is (docs/deploy.md, "Later traps").
   */
  teardown: {
    /**
     * Buckets and image repositories are deleted together with their objects and images
     * (`force_destroy`, `force_delete`): without it `cdktf destroy` stops at the first non-empty
     * one. Dev only: in prod a destroy must fail on the customers' documents.
     */
    destroyWithContents: boolean;
    /**
     * Days a deleted secret stays recoverable (`aws secretsmanager restore-secret`), keeping its
     * name taken: a stack re-created within them fails to create its secrets. 0 deletes at once
     * (dev); 7 to 30 otherwise (prod: at least 7, a secret deleted by mistake comes back).
     */
    secretRecoveryDays: number;
  };
  alarms: {
    /**
     * Addresses subscribed by e-mail to the environment's alarm topic `docplatform-<env>-alarms`:
     * every operational alarm (and its recovery) and every budget alert reaches them. SNS sends
     * each a confirmation mail; the subscription delivers only once that link is followed (out of
     * band, docs/operations.md). None by default: add the on-call addresses per account.
     */
    emails: string[];
  };
  github: {
    /** `owner/name` of this repository, trusted by the OIDC deploy role. */
    repository: string;
    /**
     * GitHub's numeric ids of the owner and of the repository, for the immutable subject form
     * (`repo:OWNER@OWNERID/REPO@REPOID:…`) that repositories created since 2026-07-15 send by
     * default (and older ones that opted in). Required: the roles trust both forms, so the
     * switch never locks CI out. `gh api repos/OWNER/REPO --jq '.id, .owner.id'` prints the
     * repository id, then the owner id. Until both are numbers the bootstrap plan refuses to
     * run (a precondition naming the field), so no role is created that CI cannot assume; the
     * environment stacks do not read them.
     */
    ownerId: string;
    repositoryId: string;
    /**
     * Branch whose pushes deploy: the one branch each GitHub environment's deployment-branch
     * rule allows (docs/deploy.md). The deploy roles trust the environments, not the branch.
     */
    deployBranch: string;
  };
  edge: {
    /** Route `/api/*` through CloudFront to the API Gateway so the browser sees one origin. */
    apiBehaviour: boolean;
    /** Custom domain names; empty means the CloudFront default domain. */
    domainNames: string[];
    priceClass: 'PriceClass_100' | 'PriceClass_200' | 'PriceClass_All';
    /** ACM certificate in us-east-1 covering `domainNames`; required when they are set. */
    certificateArn?: string;
    /**
     * URL the browser uses (Stripe return pages, links) when there is no custom domain: the
     * CloudFront URL, known after the first edge deploy. Unset → the API stage URL.
     */
    publicBaseUrl?: string;
  };
}

const lambdaDefaults = (reservedConcurrency: number): Record<ServiceName, LambdaSettings> => ({
  'gateway-b2c': { memoryMb: 512, timeoutSeconds: 15, reservedConcurrency },
  // A batch upload may use all of API Gateway's time; the gateway answers before it (functions/shared/http.ts).
  'gateway-b2b': { memoryMb: 512, timeoutSeconds: API_GATEWAY_TIMEOUT_MS / 1000, reservedConcurrency },
  'core-llm': { memoryMb: 256, timeoutSeconds: CORE_LLM_TIMEOUT_SECONDS, reservedConcurrency },
  theme: { memoryMb: 256, timeoutSeconds: 10, reservedConcurrency },
  order: { memoryMb: 256, timeoutSeconds: 10, reservedConcurrency },
  client: { memoryMb: 256, timeoutSeconds: 10, reservedConcurrency },
});

/**
 * The repository CI runs in. `ownerId`/`repositoryId` are placeholders until the first-time
 * setup puts GitHub's ids here (docs/deploy.md, step 1): `gh api repos/docplatform/docplatform
 * --jq '.id, .owner.id'`. The bootstrap stack refuses to plan with them (GITHUB_ID_PATTERN).
 */
const github: EnvironmentConfig['github'] = {
  repository: 'docplatform/docplatform',
  ownerId: 'OWNER_ID',
  repositoryId: 'REPOSITORY_ID',
  deployBranch: 'main',
};

export const dev: EnvironmentConfig = {
  env: 'dev',
  region: REGION,
  network: { cidr: '10.20.0.0/16', azCount: 2, egress: 'nat-instance', natInstanceType: 't4g.nano', natAz: 0, flowLogs: { enabled: false, expireAfterDays: 30 } },
  database: {
    engine: 'rds-instance',
    // Dev may sleep: 0 ACU pauses it after 5 idle minutes (docs/cost.md).
    aurora: { engineVersion: '16.6', minAcu: 0, maxAcu: 2, secondsUntilAutoPause: 300, reader: false },
    instanceClass: 'db.t4g.micro',
    engineVersion: '16',
    allocatedStorageGb: 20,
    maxAllocatedStorageGb: 50,
    multiAz: false,
    deletionProtection: false,
    backupRetentionDays: 1,
    connectionBudget: 80,
    poolMaxPerLambda: 1,
    poolMaxPerWorker: 3,
  },
  cache: { maxDataStorageGb: 1, maxEcpuPerSecond: 5000, snapshotRetentionDays: 0 },
  queues: {
    maxReceiveCount: 5,
    retentionDays: 4,
    dlqRetentionDays: 14,
    docJobsVisibilitySeconds: 180,
    batchJobsVisibilitySeconds: 900,
    batchRowsPerMinute: 17,
  },
  lambdas: lambdaDefaults(5),
  api: { throttleRateLimit: 20, throttleBurstLimit: 40, wafRateLimitPer5Min: 500, wafBlockedRequestLogs: false, ownsAccountLogRole: true },
  // Paid tier 1 for gemini-2.5-flash; 10% keeps 100 generations a minute and 6 of 60 prod slots for B2C.
  gemini: { model: 'gemini-2.5-flash', requestsPerMinute: 1000, tokensPerMinute: 1_000_000, interactiveSharePercent: 10 },
  images: { keepTagged: 10 },
  migrationTask: { cpu: 2048, memoryMb: 4096 },
  migration: { sourceCidrs: [], storageSource: false },
  workers: {
    'doc-generation': { cpu: 1024, memoryMb: 2048, maxTasks: 2, concurrency: 2, renderSlots: 2, messagesPerTask: 20, sweepWakeEveryHours: 6 },
    'b2b-batch': { cpu: 1024, memoryMb: 2048, maxTasks: 1, concurrency: 1, messagesPerTask: 5 },
    onDemandFallback: false,
  },
  logs: { retentionDays: 7 },
  // $45 until this round's controls (app database login, order-token key, NAT egress alarm) added $0.90 idle (docs/cost.md).
  budget: { monthlyUsd: 46, alertEmails: [] },
  alarms: { emails: [] },
  teardown: { destroyWithContents: true, secretRecoveryDays: 0 },
  github,
  edge: { apiBehaviour: true, domainNames: [], priceClass: 'PriceClass_100' },
};

/**
 * Prod's doc workers: 6 tasks of 10 messages in hand, 2 of them rendering (two Chromium pages per
 * vCPU, as before the split). 60 generations in flight, 54 of them batch, keep a batch at the
 * Gemini quota's batch part (900 a minute) while each waits 2 s (54 / 2 s = 1,620 a minute), and
 * at about 320 a minute with 10 s generations (bench:batch, docs/workers.md).
 */
const PROD_DOC_WORKER: DocWorkerSettings = { cpu: 1024, memoryMb: 2048, maxTasks: 6, concurrency: 10, renderSlots: 2, messagesPerTask: 20, sweepWakeEveryHours: 3 };

export const prod: EnvironmentConfig = {
  ...dev,
  env: 'prod',
  network: { ...dev.network, cidr: '10.30.0.0/16', flowLogs: { enabled: true, expireAfterDays: 90 } },
  database: {
    ...dev.database,
    allocatedStorageGb: 20,
    maxAllocatedStorageGb: 200,
    // Prod stays awake: 0.5 ACU at least, so no customer request waits for a resume.
    aurora: { ...dev.database.aurora, minAcu: 0.5, maxAcu: 4 },
    deletionProtection: true,
    backupRetentionDays: 7,
  },
  cache: { maxDataStorageGb: 2, maxEcpuPerSecond: 10000, snapshotRetentionDays: 1 },
  queues: { ...dev.queues, batchRowsPerMinute: 120 },
  lambdas: {
    ...lambdaDefaults(8),
    // One per doc-generation slot (maxTasks × concurrency, the messages in hand): a generation holds
    // its execution environment while it waits for Gemini, so fewer would throttle busy slots (npm run capacity checks it).
    'core-llm': { memoryMb: 256, timeoutSeconds: CORE_LLM_TIMEOUT_SECONDS, reservedConcurrency: PROD_DOC_WORKER.maxTasks * PROD_DOC_WORKER.concurrency },
  },
  images: { ...dev.images, promoteFrom: 'dev' },
  api: { throttleRateLimit: 100, throttleBurstLimit: 200, wafRateLimitPer5Min: 1000, wafBlockedRequestLogs: true, ownsAccountLogRole: true },
  workers: {
    'doc-generation': PROD_DOC_WORKER,
    'b2b-batch': { cpu: 1024, memoryMb: 2048, maxTasks: 2, concurrency: 1, messagesPerTask: 5 },
    onDemandFallback: true,
  },
  logs: { retentionDays: 30 },
  budget: { monthlyUsd: 120, alertEmails: [] },
  teardown: { destroyWithContents: false, secretRecoveryDays: 7 },
};

/**
 * Every environment's IAM scopes are `docplatform-<env>-*`: an environment named `dev-eu` would
 * fall inside dev's (`docplatform-dev-*`), and dev's roles could reach its resources. A name of
 * lower-case letters and digits, without a dash, is inside no other's scope.
 */
export const ENVIRONMENT_NAME = /^[a-z][a-z0-9]*$/;

/** The environments by name, each name checked against ENVIRONMENT_NAME and given once. */
export function environmentTable(...configs: EnvironmentConfig[]): Record<string, EnvironmentConfig> {
  const table: Record<string, EnvironmentConfig> = {};
  for (const config of configs) {
    if (!ENVIRONMENT_NAME.test(config.env)) {
      throw new Error(`environment name "${config.env}": lower-case letters and digits only, starting with a letter (no dash: ${namePrefix(config.env)}-* would fall inside another environment's ${PROJECT}-<env>-* scopes)`);
    }
    if (Object.hasOwn(table, config.env)) throw new Error(`environment name "${config.env}": given twice`);
    table[config.env] = config;
  }
  return table;
}

export const environments = environmentTable(dev, prod);

/** Settings of the account-level bootstrap stack (state bucket, GitHub OIDC). */
export const bootstrap = {
  region: REGION,
  stateBucketName: `${PROJECT}-tfstate`,
  github,
  /**
   * Every environment of `environments`: each gets its own deploy role, trusted by its GitHub
   * environment only, and its own workload boundary (adding an environment adds both).
   */
  deployEnvironments: Object.keys(environments),
  /**
   * The state bucket's S3 server access logs (who read or wrote which state, from where) go to
   * `<stateBucketName>-access-logs`, one per account like the state bucket, and expire after
   * this many days: a few MB a month, under $0.01 (docs/cost.md).
   */
  stateAccessLogDays: 365,
  /** Old state versions are kept this many days (and at least `stateNoncurrentVersionsKept` of them) for recovery. */
  stateNoncurrentVersionDays: 90,
  stateNoncurrentVersionsKept: 10,
  /** The role GitHub Actions plans pull requests with (read-only); deploy roles: `deployRoleName(env)`. */
  planRoleName: `${PROJECT}-github-plan`,
  /**
   * Longest session of a deploy role (its `max_session_duration`): 2 h. The deploy job asks for
   * exactly this (`role-duration-seconds` in deploy-environment.yml), above its 110-minute timeout,
   * so credentials never expire between layers (RDS and CloudFront alone can take 15-25 minutes
   * each on a first deploy). test/workflows holds timeout < session <= this.
   */
  deploySessionSeconds: 7200,
  /**
   * The bootstrap stack creates the state bucket, so its first apply keeps local state; set this
   * once it exists and migrate (`terraform init -migrate-state`, docs/deploy.md).
   */
  stateInBucket: false,
};

/** Defined with the contract (the storage move names buckets with it too); stacks import it from here. */
export { namePrefix };

/**
 * The role GitHub Actions deploys one environment with, trusted by that GitHub environment only
 * (`docplatform-github-deploy-dev`). It lies outside every environment's name prefix, so no
 * deploy role can change another (or itself).
 */
export const deployRoleName = (env: string): string => `${PROJECT}-github-deploy-${env}`;

/**
 * The permissions boundary every IAM role of one environment carries
 * (`docplatform-dev-workload-boundary`): that environment's deploy role creates and changes
 * roles only with it, and no deploy role may change a boundary.
 */
export const workloadBoundaryPolicyName = (env: string): string => `${namePrefix(env)}-workload-boundary`;
