import { Construct } from 'constructs';
import { TerraformStack } from 'cdktf';
import { DbSubnetGroup } from '@cdktf/provider-aws/lib/db-subnet-group';
import { DbParameterGroup } from '@cdktf/provider-aws/lib/db-parameter-group';
import { DbInstance } from '@cdktf/provider-aws/lib/db-instance';
import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { opsAlarm } from '../modules/ops-alarm';
import { ElasticacheServerlessCache } from '@cdktf/provider-aws/lib/elasticache-serverless-cache';
import { ElasticacheUser } from '@cdktf/provider-aws/lib/elasticache-user';
import { ElasticacheUserGroup } from '@cdktf/provider-aws/lib/elasticache-user-group';
import { SecretsmanagerSecret } from '@cdktf/provider-aws/lib/secretsmanager-secret';
import { BUCKETS, BucketName, DB_APP_ROLE, DB_RESUME_WAIT_MS, MAX_BATCH_ROWS, PROJECT, QUEUES, QueueName, SECRET_STEMS } from '../core/contract';
import { EnvironmentConfig, namePrefix } from './config';
import { useS3Backend } from './backend';
import { awsProvider } from './provider';
import { NetworkStack } from './network';
import { SecureBucket } from '../modules/secure-bucket';
import { QueueRefs, QueueWithDlq } from '../modules/queue-with-dlq';
import { AuroraServerlessCluster, capacityIssues } from '../modules/aurora-serverless-cluster';
import { SERVICE_ACCESS, WORKER_ACCESS } from './access';

export const DATABASE_NAME = PROJECT;

/** Secrets Manager takes 0 (delete at once) or 7 to 30 days: teardown.secretRecoveryDays, checked. */
export function secretRecoveryDays(config: Pick<EnvironmentConfig, 'env' | 'teardown'>): number {
  const days = config.teardown.secretRecoveryDays;
  if (!(Number.isInteger(days) && (days === 0 || (days >= 7 && days <= 30)))) {
    throw new Error(`teardown.secretRecoveryDays of ${config.env}: must be 0 or 7 to 30 (Secrets Manager's recovery window), got ${days}`);
  }
  return days;
}
/** Seconds the last row of a full batch may wait in batch-doc-jobs: MAX_BATCH_ROWS at queues.batchRowsPerMinute. */
export function fullBatchSeconds(config: Pick<EnvironmentConfig, 'env' | 'queues'>): number {
  const perMinute = config.queues.batchRowsPerMinute;
  if (!(Number.isFinite(perMinute) && perMinute > 0)) throw new Error(`queues.batchRowsPerMinute of ${config.env}: must be above 0, got ${perMinute}`);
  return Math.ceil((MAX_BATCH_ROWS / perMinute) * 60);
}
const DATABASE_MASTER_USER = `${PROJECT}_admin`;

/** The prefix of every key the workloads write in the cache (REDIS_KEY_PREFIX): their cache users reach no other key. */
export const CACHE_KEY_PREFIX = `${PROJECT}:`;
/**
 * What a workload's cache user may do (a Valkey ACL): the keys under CACHE_KEY_PREFIX only, and
 * the commands core-llm's cache, generation lease, rate limit and budget scripts send (reads, writes, EVAL, MULTI,
 * AUTH/HELLO/PING/CLIENT SETINFO) plus INFO, ioredis's ready check; nothing of @dangerous (KEYS,
 * FLUSHALL, CLIENT KILL, DEBUG, …). core/redis.test.ts runs core-llm's store under it.
 */
export const cacheAccessString = (keyPrefix: string = CACHE_KEY_PREFIX): string =>
  `on ~${keyPrefix}* -@all +@read +@write +@scripting +@transaction +@connection -@dangerous +info`;
/** The workloads that talk to the cache (access matrix `cache: true`), each authenticated as its own cache user. */
export const CACHE_WORKLOADS: string[] = Object.entries({ ...SERVICE_ACCESS, ...WORKER_ACCESS })
  .filter(([, a]) => a.cache)
  .map(([name]) => name);

const GIB = 1024 ** 3;

/** The server parameters of either engine (the instance's parameter group, the cluster's). */
const DATABASE_PARAMETERS: Array<{ name: string; value: string; applyMethod?: 'pending-reboot' }> = [
  { name: 'rds.force_ssl', value: '1' },
  // Static: set at creation so the replicate mode of the data migration needs no reboot later.
  { name: 'rds.logical_replication', value: '1', applyMethod: 'pending-reboot' },
  { name: 'log_min_duration_statement', value: '1000' },
];

/**
 * The cluster's parameters: the instance's, but logical replication only on a cluster that never
 * pauses. AWS's Aurora User Guide (aurora-serverless-v2-auto-pause, "Situations where Aurora
 * Serverless v2 doesn't auto-pause") says it plainly: in an Aurora PostgreSQL cluster with logical
 * replication enabled, the writer and the readers of promotion tiers 0 and 1 don't pause, as Aurora
 * keeps checking the replication connection; field reports agree. So at 0 ACU it would bill the
 * awake minimum all month for nothing: the cluster publishes only for a move out of it (a rollback
 * after the switch, a later major), and replicating into it needs nothing on its side.
 * docs/data-migration.md (Rollback) turns it on first: `minAcu` 0.5 and a reboot.
 */
function auroraParameters(minAcu: number): typeof DATABASE_PARAMETERS {
  return minAcu === 0 ? DATABASE_PARAMETERS.filter((p) => p.name !== 'rds.logical_replication') : DATABASE_PARAMETERS;
}

/**
 * The database's identifier: the instance's `<prefix>-db`, or the Aurora cluster's
 * `<prefix>-aurora` (its own, so that both can stand side by side during the move between them).
 */
export function databaseIdentifier(config: Pick<EnvironmentConfig, 'env' | 'database'>): string {
  return `${namePrefix(config.env)}-${config.database.engine === 'aurora-serverless-v2' ? 'aurora' : 'db'}`;
}

/** How the database is watched, whichever engine: the dashboard's dimension and capacity graph, the names of its alarms. */
export function databaseWatch(config: Pick<EnvironmentConfig, 'env' | 'database'>): {
  dimensions: Record<string, string>;
  capacity: { title: string; metricName: string; label: string };
  alarmNames: string[];
} {
  const identifier = databaseIdentifier(config);
  return config.database.engine === 'aurora-serverless-v2'
    ? {
        dimensions: { DBClusterIdentifier: identifier },
        capacity: { title: 'Aurora capacity (ACU)', metricName: 'ServerlessDatabaseCapacity', label: 'ACU' },
        alarmNames: [`${identifier}-cpu-high`, `${identifier}-capacity-high`],
      }
    : {
        dimensions: { DBInstanceIdentifier: identifier },
        capacity: { title: 'RDS free storage (bytes)', metricName: 'FreeStorageSpace', label: 'free storage' },
        alarmNames: [`${identifier}-cpu-high`, `${identifier}-free-storage-low`],
      };
}

/** database.aurora checked, naming the field: the cluster's capacity range and version. */
export function auroraSettings(config: Pick<EnvironmentConfig, 'env' | 'database'>): EnvironmentConfig['database']['aurora'] {
  const issues = capacityIssues(config.database.aurora);
  if (issues.length > 0) throw new Error(issues.map((issue) => `database.aurora.${issue} (${config.env})`).join('; '));
  return config.database.aurora;
}

/**
 * The stateful layer: PostgreSQL (the RDS instance, or by `database.engine` an Aurora Serverless
 * v2 cluster), ElastiCache Serverless (Valkey), the `reports` and `assets` buckets, the job queues
 * with their DLQs, and the empty secrets the services read.
 * No customer-managed KMS key: AWS-managed keys and SSE-S3/SQS-SSE are free, a CMK is $1/month
 * each plus requests, and nothing here needs cross-account grants or custom key policies.
 */
export class DataStack extends TerraformStack {
  /** `connectWaitMs`: how long a connection may wait for this database to wake (0: it never sleeps). */
  readonly db: { address: string; port: number; name: string; masterSecretArn: string; connectWaitMs: number };
  /** `users`: the cache user (id = name) of each CACHE_WORKLOADS entry, which core/redis.ts authenticates as with IAM. */
  readonly cache: { endpointAddress: string; port: number; name: string; arn: string; users: Record<string, { id: string; arn: string }> };
  readonly buckets: Record<BucketName, { name: string; arn: string }>;
  readonly queues: Record<QueueName, QueueRefs>;
  readonly secrets: {
    gemini: { arn: string };
    stripeSecretKey: { arn: string };
    stripeWebhookSecret: { arn: string };
    orderToken: { arn: string };
    databaseApp: { arn: string };
    /** Only while `migration.storageSource` is on. */
    storageSource?: { arn: string };
  };

  constructor(scope: Construct, id: string, config: EnvironmentConfig, network: NetworkStack) {
    super(scope, id);
    const layer = 'data';
    awsProvider(this, config, layer);
    useS3Backend(this, config.env, layer);
    const prefix = namePrefix(config.env);
    const alarmTopicArn = network.alarmTopicArn;

    this.db = config.database.engine === 'aurora-serverless-v2'
      ? this.auroraCluster(config, network, alarmTopicArn)
      : this.database(config, network, prefix, alarmTopicArn);

    // IAM authentication: no password exists anywhere (none in the plan or the state); each user
    // connects with tokens signed by its workload's role, which elasticache:Connect on the cache
    // and on that user allows (stacks/compute.ts grants, the workload boundary).
    const users = Object.fromEntries(
      CACHE_WORKLOADS.map((name) => {
        const user = new ElasticacheUser(this, `cache-user-${name}`, {
          userId: `${prefix}-${name}`,
          userName: `${prefix}-${name}`,
          engine: 'valkey',
          accessString: cacheAccessString(),
          authenticationMode: { type: 'iam' },
        });
        return [name, { id: user.userId, arn: user.arn }];
      }),
    );
    // Valkey's user groups need no `default` user: a connection that does not authenticate can do nothing.
    const userGroup = new ElasticacheUserGroup(this, 'cache-users', {
      userGroupId: `${prefix}-cache-users`,
      engine: 'valkey',
      userIds: Object.values(users).map((u) => u.id),
    });
    const cache = new ElasticacheServerlessCache(this, 'cache', {
      name: `${prefix}-cache`,
      userGroupId: userGroup.userGroupId,
      description: `${prefix} LLM response cache and rate limits`,
      engine: 'valkey',
      majorEngineVersion: '8',
      cacheUsageLimits: [
        {
          dataStorage: [{ maximum: config.cache.maxDataStorageGb, unit: 'GB' }],
          ecpuPerSecond: [{ maximum: config.cache.maxEcpuPerSecond }],
        },
      ],
      subnetIds: network.privateSubnetIds,
      securityGroupIds: [network.securityGroupIds.cache],
      snapshotRetentionLimit: config.cache.snapshotRetentionDays,
      dailySnapshotTime: config.cache.snapshotRetentionDays > 0 ? '02:00' : undefined,
    });
    const endpoint = cache.endpoint.get(0);
    this.cache = { endpointAddress: endpoint.address, port: endpoint.port, name: cache.name, arn: cache.arn, users };

    const bucket = (name: string, noncurrentVersionDays: number) => {
      const b = new SecureBucket(this, name, {
        bucketPrefix: `${prefix}-${name}-`,
        intelligentTiering: true,
        noncurrentVersionDays,
        // Dev's buckets go with their documents when dev is destroyed; prod's refuse.
        forceDestroy: config.teardown.destroyWithContents,
      });
      return { name: b.bucket.bucket, arn: b.bucket.arn };
    };
    this.buckets = { reports: bucket(BUCKETS.reports, 30), assets: bucket(BUCKETS.assets, 30) };

    const queue = (name: string, visibilityTimeoutSeconds: number, backlogSeconds = 0) =>
      new QueueWithDlq(this, name, {
        name: `${prefix}-${name}`,
        visibilityTimeoutSeconds,
        retentionDays: config.queues.retentionDays,
        dlqRetentionDays: config.queues.dlqRetentionDays,
        maxReceiveCount: config.queues.maxReceiveCount,
        // A job that sat through more than two of its own visibility timeouts (15 min at least), past
        // the backlog it may rightly wait behind, is stuck, not slow.
        maxMessageAgeSeconds: backlogSeconds + Math.max(900, visibilityTimeoutSeconds * 2),
        alarmTopicArn,
      }).refs;
    this.queues = {
      docJobs: queue(QUEUES.docJobs, config.queues.docJobsVisibilitySeconds),
      // Alike with doc-jobs (the worker derives an order's deadlines from them and refuses two that differ).
      // The last row of a full batch waits behind the rest of it: in prod 42 minutes of a normal batch.
      batchDocJobs: queue(QUEUES.batchDocJobs, config.queues.docJobsVisibilitySeconds, fullBatchSeconds(config)),
      batchJobs: queue(QUEUES.batchJobs, config.queues.batchJobsVisibilitySeconds),
    };

    // Created empty: values are put out of band (`aws secretsmanager put-secret-value`), so
    // they never appear in code or in Terraform state. A deleted secret keeps its name for
    // teardown.secretRecoveryDays (restore-secret brings it back): 0 in dev, whose re-creation
    // would otherwise fail on the names for 7 days; 7 in prod.
    const recoveryWindowInDays = secretRecoveryDays(config);
    const secret = (name: string, description: string) =>
      ({ arn: new SecretsmanagerSecret(this, `secret-${name}`, { name: `${prefix}-${name}`, description, recoveryWindowInDays }).arn });
    this.secrets = {
      gemini: secret(SECRET_STEMS.gemini, 'Gemini API key used by core-llm'),
      stripeSecretKey: secret(SECRET_STEMS.stripeSecretKey, 'Stripe secret API key used by gateway-b2c'),
      stripeWebhookSecret: secret(SECRET_STEMS.stripeWebhookSecret, 'Stripe webhook signing secret used by gateway-b2c'),
      orderToken: secret(SECRET_STEMS.orderToken, 'Key of the B2C order access tokens (HMAC of the order id) used by order'),
      // The master secret stays with RDS and the migration task; the workloads that connect use this login.
      databaseApp: secret(SECRET_STEMS.databaseApp, `JSON {username, password} of the ${DB_APP_ROLE} database login, used by the services and workers that connect to RDS`),
      ...(config.migration.storageSource
        ? { storageSource: secret(SECRET_STEMS.storageSource, 'JSON {accessKeyId, secretAccessKey} of the old object storage, injected into the storage-move task') }
        : {}),
    };
  }

  /** The Aurora Serverless v2 cluster (`engine: 'aurora-serverless-v2'`). */
  private auroraCluster(config: EnvironmentConfig, network: NetworkStack, alarmTopicArn: string): DataStack['db'] {
    const aurora = auroraSettings(config);
    const { endpoint } = new AuroraServerlessCluster(this, 'aurora', {
      identifier: databaseIdentifier(config),
      engineVersion: aurora.engineVersion,
      databaseName: DATABASE_NAME,
      masterUsername: DATABASE_MASTER_USER,
      minAcu: aurora.minAcu,
      maxAcu: aurora.maxAcu,
      secondsUntilAutoPause: aurora.secondsUntilAutoPause,
      reader: aurora.reader,
      subnetIds: network.isolatedSubnetIds,
      securityGroupId: network.securityGroupIds.db,
      parameters: auroraParameters(aurora.minAcu),
      backupRetentionDays: config.database.backupRetentionDays,
      deletionProtection: config.database.deletionProtection,
      logRetentionDays: config.logs.retentionDays,
      alarmTopicArn,
    });
    // An instance that may sleep (0 ACU) is waited for; one that never does fails at once, as the RDS instance.
    return { ...endpoint, name: DATABASE_NAME, connectWaitMs: aurora.minAcu === 0 ? DB_RESUME_WAIT_MS : 0 };
  }

  /** The RDS instance of the specification (`engine: 'rds-instance'`). */
  private database(config: EnvironmentConfig, network: NetworkStack, prefix: string, alarmTopicArn: string): DataStack['db'] {
    const db = config.database;
    const identifier = databaseIdentifier(config);
    const major = db.engineVersion.split('.')[0];

    const subnetGroup = new DbSubnetGroup(this, 'db-subnets', {
      name: `${prefix}-db`,
      description: 'Isolated subnets: no route to or from the internet',
      subnetIds: network.isolatedSubnetIds,
    });
    // name_prefix, not name: create_before_destroy makes the replacement before deleting the old
    // group, and a fixed name would already be taken (a change of family or of a static parameter).
    const parameters = new DbParameterGroup(this, 'db-parameters', {
      namePrefix: `${prefix}-postgres${major}-`,
      family: `postgres${major}`,
      description: 'TLS only; logical replication for the data migration replicate mode',
      parameter: DATABASE_PARAMETERS,
      lifecycle: { createBeforeDestroy: true },
    });
    // RDS would create this group itself, without retention: owning it bounds the log bill.
    const logGroup = new CloudwatchLogGroup(this, 'db-log-group', {
      name: `/aws/rds/instance/${identifier}/postgresql`,
      retentionInDays: config.logs.retentionDays,
    });

    const instance = new DbInstance(this, 'db', {
      identifier,
      engine: 'postgres',
      engineVersion: db.engineVersion,
      instanceClass: db.instanceClass,
      storageType: 'gp3',
      allocatedStorage: db.allocatedStorageGb,
      maxAllocatedStorage: db.maxAllocatedStorageGb,
      storageEncrypted: true,
      dbName: DATABASE_NAME,
      username: DATABASE_MASTER_USER,
      // RDS generates the password into Secrets Manager and rotates it: it never enters state.
      manageMasterUserPassword: true,
      dbSubnetGroupName: subnetGroup.name,
      vpcSecurityGroupIds: [network.securityGroupIds.db],
      publiclyAccessible: false,
      multiAz: db.multiAz,
      parameterGroupName: parameters.name,
      caCertIdentifier: 'rds-ca-rsa2048-g1',
      backupRetentionPeriod: db.backupRetentionDays,
      backupWindow: '01:00-02:00',
      maintenanceWindow: 'sun:02:30-sun:03:30',
      autoMinorVersionUpgrade: true,
      deletionProtection: db.deletionProtection,
      // Environments worth protecting from deletion are worth a last snapshot too.
      skipFinalSnapshot: !db.deletionProtection,
      finalSnapshotIdentifier: db.deletionProtection ? `${identifier}-final` : undefined,
      copyTagsToSnapshot: true,
      performanceInsightsEnabled: false,
      monitoringInterval: 0,
      enabledCloudwatchLogsExports: ['postgresql'],
      dependsOn: [logGroup],
    });

    const alarm = (
      name: string,
      metricName: string,
      comparisonOperator: 'GreaterThanThreshold' | 'LessThanThreshold',
      threshold: number,
      description: string,
    ) =>
      opsAlarm(this, `db-${name}`, {
        alarmName: `${identifier}-${name}`,
        alarmDescription: description,
        runbook: 'rds-exhausted',
        topicArn: alarmTopicArn,
        namespace: 'AWS/RDS',
        metricName,
        dimensions: { DBInstanceIdentifier: instance.identifier },
        statistic: 'Average',
        evaluationPeriods: 3,
        threshold,
        comparisonOperator,
        treatMissingData: 'breaching',
      });
    alarm('cpu-high', 'CPUUtilization', 'GreaterThanThreshold', 80, 'RDS CPU above 80 % for 15 minutes (t4g burst credits drain)');
    alarm('free-storage-low', 'FreeStorageSpace', 'LessThanThreshold', 2 * GIB, 'RDS free storage below 2 GiB');

    return {
      address: instance.address,
      port: instance.port,
      name: DATABASE_NAME,
      masterSecretArn: instance.masterUserSecret.get(0).secretArn,
      connectWaitMs: 0,
    };
  }
}
