import { environments, EnvironmentConfig } from '../../stacks/config';
import { allResources, Block, parsePolicy, resources, synthDir, synthesizedStack, Variant } from '../support/infra-synth';
import { CONFIG_VARIANTS } from '../../stacks/variants';
import { auroraSettings, CACHE_KEY_PREFIX, CACHE_WORKLOADS, cacheAccessString, fullBatchSeconds } from '../../stacks/data';
import { MAX_BATCH_ROWS, QUEUES, SECRET_STEMS } from '../../core/contract';
import { readPlatformLimits } from '../../scripts/capacity/limits';
import { capacityReport } from '../../scripts/capacity/model';
import { DEFAULT_PRICE_FILE, loadPriceTable } from '../../scripts/cost/priceTable';
import { readSynthesizedEnvironment } from '../../scripts/cost/terraformInput';
import { loadTrafficProfile, trafficOption } from '../../scripts/cost/traffic';
import { estimateCosts } from '../../scripts/cost/estimate';

const DAY = 86_400;
/** Each environment as committed (the RDS instance) and under the `aurora` variant (the Aurora Serverless v2 cluster). */
const cases = Object.values(environments).flatMap((c) => [
  [`${c.env}-data`, 'committed' as Variant, c] as const,
  [`${c.env}-data (aurora)`, 'aurora' as Variant, CONFIG_VARIANTS.aurora(c)] as const,
]);

/** The database of a data stack, whichever engine: what the instance and the cluster both answer for. */
function databaseOf(stack: any, config: EnvironmentConfig) {
  const cluster = config.database.engine === 'aurora-serverless-v2';
  const [main] = resources(stack, cluster ? 'aws_rds_cluster' : 'aws_db_instance');
  const instances: Block[] = cluster ? resources(stack, 'aws_rds_cluster_instance') : [main];
  const [params] = resources(stack, cluster ? 'aws_rds_cluster_parameter_group' : 'aws_db_parameter_group');
  const paramsRef: string = main.config[cluster ? 'db_cluster_parameter_group_name' : 'parameter_group_name'];
  return { cluster, main, instances, params, paramsRef };
}

describe.each(cases)('%s', (_name, variant, config: EnvironmentConfig) => {
  const stack = synthesizedStack(`${config.env}-data`, variant);
  const { cluster, main: db, instances, params, paramsRef } = databaseOf(stack, config);
  const parameter = (name: string) => params.config.parameter.find((p: any) => p.name === name);
  const kind = cluster ? 'the Aurora cluster' : 'RDS';

  test(`the database is ${cluster ? 'an Aurora Serverless v2 cluster' : 'an RDS instance'}, and only that`, () => {
    expect(resources(stack, 'aws_db_instance')).toHaveLength(cluster ? 0 : 1);
    expect(resources(stack, 'aws_rds_cluster')).toHaveLength(cluster ? 1 : 0);
  });

  test(`${kind} is not publicly accessible`, () => {
    expect(instances.length).toBeGreaterThan(0);
    instances.forEach((i) => expect(i.config.publicly_accessible).toBe(false));
  });

  test(`${kind} storage is encrypted under the AWS-managed key`, () => {
    expect(db.config.storage_encrypted).toBe(true);
    expect(db.config.kms_key_id).toBeUndefined();
  });

  test(`${kind} password is managed by RDS (no password in state)`, () => {
    expect(db.config.manage_master_user_password).toBe(true);
    for (const attribute of ['password', 'password_wo', 'master_password', 'master_password_wo']) expect(db.config[attribute]).toBeUndefined();
  });

  if (cluster) {
    test(`the cluster is aurora-postgresql ${config.database.aurora.engineVersion} (0 ACU needs 16.3 or later) with db.serverless instances`, () => {
      expect(db.config).toMatchObject({ engine: 'aurora-postgresql', engine_mode: 'provisioned', engine_version: config.database.aurora.engineVersion });
      const [major, minor] = config.database.aurora.engineVersion.split('.').map(Number);
      if (config.database.aurora.minAcu === 0) expect(major > 16 || (major === 16 && minor >= 3)).toBe(true);
      instances.forEach((i) => expect(i.config).toMatchObject({ instance_class: 'db.serverless', cluster_identifier: `\${${db.address}.id}` }));
    });

    test('the capacity range and auto-pause come from config (auto-pause only at 0 ACU)', () => {
      const { minAcu, maxAcu, secondsUntilAutoPause } = config.database.aurora;
      expect(db.config.serverlessv2_scaling_configuration).toEqual({
        min_capacity: minAcu,
        max_capacity: maxAcu,
        ...(minAcu === 0 ? { seconds_until_auto_pause: secondsUntilAutoPause } : {}),
      });
    });

    test('one writer, and a reader only when the config asks for one, both in the promotion tiers that pause together', () => {
      expect(instances.map((i) => i.config.promotion_tier).sort()).toEqual(config.database.aurora.reader ? [0, 1] : [0]);
    });
  } else {
    test(`RDS is PostgreSQL ${config.database.engineVersion} on ${config.database.instanceClass} with gp3 storage and autoscaling bounds`, () => {
      expect(db.config).toMatchObject({
        engine: 'postgres',
        engine_version: config.database.engineVersion,
        instance_class: config.database.instanceClass,
        storage_type: 'gp3',
        allocated_storage: config.database.allocatedStorageGb,
        max_allocated_storage: config.database.maxAllocatedStorageGb,
      });
    });

    test('RDS is Multi-AZ only when the config says so (Single-AZ halves the bill)', () => {
      expect(db.config.multi_az).toBe(config.database.multiAz);
    });
  }

  test(`${kind} lives in the isolated subnets behind the db security group`, () => {
    const [group] = resources(stack, 'aws_db_subnet_group');
    expect(db.config.db_subnet_group_name).toBe(`\${${group.address}.name}`);
    group.config.subnet_ids.forEach((id: string) => expect(id).toMatch(/outputs\.cross-stack-output-aws_subnetisolated-\d+id/));
    expect(db.config.vpc_security_group_ids).toHaveLength(1);
    expect(db.config.vpc_security_group_ids[0]).toMatch(/cross-stack-output-aws_security_groupsg-dbid/);
  });

  test(`${kind} forces SSL`, () => {
    expect(paramsRef).toBe(`\${${params.address}.name}`);
    expect(parameter('rds.force_ssl')?.value).toBe('1');
  });

  // Logical replication keeps an Aurora writer from pausing (AWS, aurora-serverless-v2-auto-pause): a cluster that may pause goes without it.
  const pauses = cluster && config.database.aurora.minAcu === 0;
  test(pauses ? `${kind} may pause (0 ACU): no logical replication, which would keep it awake` : `${kind} allows logical replication, set at creation (static parameter)`, () => {
    if (pauses) expect(parameter('rds.logical_replication')).toBeUndefined();
    else expect(parameter('rds.logical_replication')).toMatchObject({ value: '1', apply_method: 'pending-reboot' });
  });

  test(`${kind} keeps automated backups for the configured days`, () => {
    expect(db.config.backup_retention_period).toBe(config.database.backupRetentionDays);
    expect(db.config.backup_retention_period).toBeGreaterThan(0);
    expect(db.config.copy_tags_to_snapshot).toBe(true);
  });

  test(`${kind}: performance insights and enhanced monitoring are off (cost)`, () => {
    instances.forEach((i) => {
      expect(i.config.performance_insights_enabled).toBe(false);
      expect(i.config.monitoring_interval).toBe(0);
    });
  });

  test(`${kind} exports its log to a log group with retention`, () => {
    const [group] = resources(stack, 'aws_cloudwatch_log_group');
    expect(db.config.enabled_cloudwatch_logs_exports).toEqual(['postgresql']);
    const identifier = cluster ? db.config.cluster_identifier : db.config.identifier;
    expect(group.config.name).toBe(`/aws/rds/${cluster ? 'cluster' : 'instance'}/${identifier}/postgresql`);
    expect(group.config.retention_in_days).toBe(config.logs.retentionDays);
  });

  test(`alarms watch ${kind}: CPU, and ${cluster ? 'capacity (a paused cluster is silent, not down)' : 'free storage (silence is breaching)'}`, () => {
    const alarms = resources(stack, 'aws_cloudwatch_metric_alarm').filter((a) => a.config.namespace === 'AWS/RDS');
    expect(alarms.map((a) => a.config.metric_name).sort()).toEqual(cluster ? ['ACUUtilization', 'CPUUtilization'] : ['CPUUtilization', 'FreeStorageSpace']);
    alarms.forEach((a) => expect(a.config.treat_missing_data).toBe(cluster ? 'notBreaching' : 'breaching'));
  });

  test('cache is ElastiCache Serverless with the Valkey engine', () => {
    const [cache] = resources(stack, 'aws_elasticache_serverless_cache');
    expect(cache.config.engine).toBe('valkey');
    expect(cache.config.name).toBe(`docplatform-${config.env}-cache`);
  });

  test('cache usage limits come from config', () => {
    const [cache] = resources(stack, 'aws_elasticache_serverless_cache');
    expect(cache.config.cache_usage_limits).toEqual([
      {
        data_storage: [{ maximum: config.cache.maxDataStorageGb, unit: 'GB' }],
        ecpu_per_second: [{ maximum: config.cache.maxEcpuPerSecond }],
      },
    ]);
    expect(cache.config.snapshot_retention_limit).toBe(config.cache.snapshotRetentionDays);
  });

  test('cache sits in the private subnets behind the cache security group', () => {
    const [cache] = resources(stack, 'aws_elasticache_serverless_cache');
    cache.config.subnet_ids.forEach((id: string) => expect(id).toMatch(/cross-stack-output-aws_subnetprivate-\d+id/));
    expect(cache.config.security_group_ids).toHaveLength(1);
    expect(cache.config.security_group_ids[0]).toMatch(/cross-stack-output-aws_security_groupsg-cacheid/);
  });

  test('the cache takes only IAM-authenticated users: one per workload that talks to it (core-llm), its keys only, in the group attached to the cache', () => {
    const users = resources(stack, 'aws_elasticache_user');
    expect(CACHE_WORKLOADS).toEqual(['core-llm']);
    expect(users.map((u) => u.config)).toMatchObject([
      {
        user_id: `docplatform-${config.env}-core-llm`,
        user_name: `docplatform-${config.env}-core-llm`,
        engine: 'valkey',
        access_string: cacheAccessString(CACHE_KEY_PREFIX),
        authentication_mode: { type: 'iam' },
      },
    ]);
    expect(cacheAccessString(CACHE_KEY_PREFIX)).toMatch(/^on ~docplatform:\* -@all .*-@dangerous/);
    const [group] = resources(stack, 'aws_elasticache_user_group');
    expect(group.config).toMatchObject({
      user_group_id: `docplatform-${config.env}-cache-users`,
      engine: 'valkey',
      user_ids: users.map((u) => `\${aws_elasticache_user.${u.name}.user_id}`),
    });
    const [cache] = resources(stack, 'aws_elasticache_serverless_cache');
    expect(cache.config.user_group_id).toBe(`\${aws_elasticache_user_group.${group.name}.user_group_id}`);
  });

  test('reports and assets buckets are named docplatform-<env>-reports-/assets-', () => {
    const prefixes = resources(stack, 'aws_s3_bucket').map((b) => b.config.bucket_prefix).sort();
    expect(prefixes).toEqual([`docplatform-${config.env}-assets-`, `docplatform-${config.env}-reports-`]);
  });

  test('data buckets move objects to Intelligent-Tiering', () => {
    for (const lifecycle of resources(stack, 'aws_s3_bucket_lifecycle_configuration')) {
      const transitions = lifecycle.config.rule.flatMap((r: any) => r.transition ?? []);
      expect(transitions).toContainEqual({ days: 0, storage_class: 'INTELLIGENT_TIERING' });
    }
  });

  test('reports and assets abort incomplete multipart uploads after 1 day (a storage:move killed mid-upload leaves parts billed until then; a rerun never resumes them)', () => {
    const lifecycles = resources(stack, 'aws_s3_bucket_lifecycle_configuration');
    for (const bucket of resources(stack, 'aws_s3_bucket')) {
      const lifecycle = lifecycles.find((l) => l.config.bucket === `\${${bucket.address}.id}`);
      const abort = lifecycle?.config.rule.find((r: any) => r.status === 'Enabled' && r.filter?.[0]?.prefix === '' && r.abort_incomplete_multipart_upload);
      expect(abort?.abort_incomplete_multipart_upload[0].days_after_initiation).toBe(1);
    }
    expect(resources(stack, 'aws_s3_bucket')).toHaveLength(2);
  });

  const queues = resources(stack, 'aws_sqs_queue');
  const mainQueues = queues.filter((q) => q.config.redrive_policy);

  test('queues doc-jobs, batch-doc-jobs and batch-jobs exist with their DLQs', () => {
    expect(queues.map((q) => q.config.name).sort()).toEqual(
      ['batch-doc-jobs', 'batch-doc-jobs-dlq', 'batch-jobs', 'batch-jobs-dlq', 'doc-jobs', 'doc-jobs-dlq'].map((n) => `docplatform-${config.env}-${n}`),
    );
  });

  test('queue redrive, retention and visibility come from config', () => {
    const byName = (suffix: string) => queues.find((q) => q.config.name === `docplatform-${config.env}-${suffix}`)!.config;
    expect(byName('doc-jobs').visibility_timeout_seconds).toBe(config.queues.docJobsVisibilitySeconds);
    // Alike with doc-jobs: the doc worker derives an order's deadlines from both and refuses two that differ.
    expect(byName('batch-doc-jobs').visibility_timeout_seconds).toBe(config.queues.docJobsVisibilitySeconds);
    expect(byName('batch-jobs').visibility_timeout_seconds).toBe(config.queues.batchJobsVisibilitySeconds);
    for (const q of mainQueues) {
      expect(JSON.parse(q.config.redrive_policy).maxReceiveCount).toBe(config.queues.maxReceiveCount);
      expect(q.config.message_retention_seconds).toBe(config.queues.retentionDays * DAY);
      expect(q.config.receive_wait_time_seconds).toBe(20);
    }
    expect(byName('doc-jobs-dlq').message_retention_seconds).toBe(config.queues.dlqRetentionDays * DAY);
  });

  test('every DLQ accepts redrive only from its own queue', () => {
    const allow = resources(stack, 'aws_sqs_queue_redrive_allow_policy');
    expect(allow).toHaveLength(mainQueues.length);
    for (const q of mainQueues) {
      const dlqArn = JSON.parse(q.config.redrive_policy).deadLetterTargetArn;
      const dlqAddress = dlqArn.replace(/^\$\{|\.arn\}$/g, '');
      const policy = allow.find((a) => a.config.queue_url === `\${${dlqAddress}.url}`)!;
      expect(JSON.parse(policy.config.redrive_allow_policy)).toEqual({ redrivePermission: 'byQueue', sourceQueueArns: [`\${${q.address}.arn}`] });
    }
  });

  test('alarms watch DLQ depth (> 0) and the age of the oldest message of each queue', () => {
    const sqsAlarms = resources(stack, 'aws_cloudwatch_metric_alarm').filter((a) => a.config.namespace === 'AWS/SQS');
    const depth = sqsAlarms.filter((a) => a.config.metric_name === 'ApproximateNumberOfMessagesVisible');
    // One of each per queue of the contract (doc-jobs, batch-doc-jobs, batch-jobs).
    expect(depth).toHaveLength(Object.keys(QUEUES).length);
    depth.forEach((a) => expect(a.config).toMatchObject({ threshold: 0, comparison_operator: 'GreaterThanThreshold' }));
    expect(sqsAlarms.filter((a) => a.config.metric_name === 'ApproximateAgeOfOldestMessage')).toHaveLength(Object.keys(QUEUES).length);
  });

  test('the oldest-message alarms: stuck past two visibility timeouts (15 min at least); batch-doc-jobs only after a full batch at queues.batchRowsPerMinute on top', () => {
    const oldest = (suffix: string) =>
      resources(stack, 'aws_cloudwatch_metric_alarm').find((a) => a.config.alarm_name === `docplatform-${config.env}-${suffix}-oldest-message-age`)!.config;
    const stuck = (visibility: number) => Math.max(900, 2 * visibility);
    const fullBatch = Math.ceil((MAX_BATCH_ROWS / config.queues.batchRowsPerMinute) * 60);
    expect(oldest('doc-jobs').threshold).toBe(stuck(config.queues.docJobsVisibilitySeconds));
    expect(oldest('batch-jobs').threshold).toBe(stuck(config.queues.batchJobsVisibilitySeconds));
    expect(oldest('batch-doc-jobs').threshold).toBe(fullBatch + stuck(config.queues.docJobsVisibilitySeconds));
    const batch = oldest('batch-doc-jobs');
    expect(batch.alarm_description).toBe(
      `The oldest message of docplatform-${config.env}-batch-doc-jobs is older than ${batch.threshold} s: jobs wait and nothing takes them. Runbook: docs/operations.md#orders-stuck`,
    );
  });

  test('secrets for Gemini, Stripe secret key, Stripe webhook secret, the order token key and the app database login are created without a value', () => {
    const names = resources(stack, 'aws_secretsmanager_secret').map((s) => s.config.name).sort();
    expect(names).toEqual(
      ['db-app', 'gemini-api-key', 'order-token-secret', 'stripe-secret-key', 'stripe-webhook-secret'].map((n) => `docplatform-${config.env}-${n}`),
    );
    expect(resources(stack, 'aws_secretsmanager_secret_version')).toEqual([]);
  });

  test('no customer-managed KMS key (AWS-managed keys and SSE-S3/SQS-SSE are free)', () => {
    expect(allResources(stack).filter((r) => r.type === 'aws_kms_key')).toEqual([]);
  });

  test('queues deny non-TLS requests', () => {
    const policies = resources(stack, 'aws_sqs_queue_policy');
    expect(policies).toHaveLength(queues.length);
    policies.forEach((p) =>
      expect(parsePolicy(p.config.policy).Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      ),
    );
  });
});

describe.each(['committed', 'aurora'] as Variant[])('environments differ by config only (%s)', (variant) => {
  const database = (env: string) => {
    const stack = synthesizedStack(`${env}-data`, variant);
    const [db] = [...resources(stack, 'aws_db_instance'), ...resources(stack, 'aws_rds_cluster')];
    return db;
  };

  test('prod has deletion protection and dev does not', () => {
    expect(database('dev').config.deletion_protection).toBe(false);
    expect(database('prod').config.deletion_protection).toBe(true);
  });

  test('prod takes a final snapshot on deletion, dev skips it', () => {
    expect(database('dev').config.skip_final_snapshot).toBe(true);
    expect(database('prod').config.skip_final_snapshot).toBe(false);
    expect(database('prod').config.final_snapshot_identifier).toBe(variant === 'aurora' ? 'docplatform-prod-aurora-final' : 'docplatform-prod-db-final');
  });

  /** Resources an on/off knob of the config adds where it is on (prod-only logs, docs/cost.md); network.test.ts checks them against the knob. */
  const KNOB_RESOURCES: Record<string, RegExp> = {
    network: /^(aws_flow_log\.flow-log|aws_s3_bucket[a-z_]*\.flow-logs_.*)$/,
  };

  test.each(['network', 'data', 'edge'])('%s: dev and prod declare the same resources, but for those of an on/off knob', (layer) => {
    const knob = KNOB_RESOURCES[layer];
    const addresses = (env: string) => allResources(synthesizedStack(`${env}-${layer}`, variant)).map((r) => r.address).filter((a) => !knob?.test(a)).sort();
    expect(addresses('prod')).toEqual(addresses('dev'));
  });
});

test.each(Object.values(environments).map((c) => [c.env, c] as const))(
  '%s: queues.batchRowsPerMinute is no faster than npm run capacity\'s B2B batch row ceiling (launch profile), so a normal full batch never fires the batch-doc-jobs age alarm',
  (env, config) => {
    const limits = readPlatformLimits(env, readSynthesizedEnvironment(synthDir(), env));
    const report = capacityReport(limits, trafficOption(undefined), loadPriceTable(DEFAULT_PRICE_FILE));
    const perMinute = report.flows.find((f) => f.flow === 'B2B batch row')!.perSecond * 60;
    expect(config.queues.batchRowsPerMinute).toBeLessThanOrEqual(perMinute);
    expect(fullBatchSeconds(config)).toBeGreaterThanOrEqual((MAX_BATCH_ROWS / perMinute) * 60);
  },
);

test('queues.batchRowsPerMinute must be above 0, naming the field', () => {
  for (const batchRowsPerMinute of [0, -1, Number.NaN]) {
    expect(() => fullBatchSeconds({ env: 'x', queues: { ...environments.dev.queues, batchRowsPerMinute } })).toThrow(`queues.batchRowsPerMinute of x: must be above 0, got ${batchRowsPerMinute}`);
  }
  expect(fullBatchSeconds(environments.prod)).toBe(2500);
});

test('the engine is rds-instance in every environment as committed (the specification\'s default)', () => {
  for (const config of Object.values(environments)) expect({ env: config.env, engine: config.database.engine }).toEqual({ env: config.env, engine: 'rds-instance' });
});

test('an Aurora capacity range the service refuses is refused at synth, naming the field of database.aurora', () => {
  const aurora = (change: Partial<EnvironmentConfig['database']['aurora']>) => () =>
    auroraSettings({ env: 'dev', database: { ...environments.dev.database, aurora: { ...environments.dev.database.aurora, ...change } } });
  expect(aurora({})()).toEqual(environments.dev.database.aurora);
  expect(aurora({ secondsUntilAutoPause: 60 })).toThrow('database.aurora.secondsUntilAutoPause: 300 to 86400 when minAcu is 0, got 60 (dev)');
  expect(aurora({ engineVersion: '16.2' })).toThrow('database.aurora.engineVersion: 16.3 or later when minAcu is 0');
  expect(aurora({ minAcu: 0.25 })).toThrow('database.aurora.minAcu: a multiple of 0.5 from 0, got 0.25 (dev)');
  expect(aurora({ minAcu: 4, maxAcu: 2 })).toThrow('database.aurora.maxAcu: at least minAcu (4), got 2 (dev)');
  expect(aurora({ maxAcu: 512 })).toThrow('database.aurora.maxAcu: a multiple of 0.5 from 1 to 256, got 512');
  // Above 0 ACU the instance never pauses: the idle time is not read, nor the 0-ACU version floor.
  expect(aurora({ minAcu: 0.5, secondsUntilAutoPause: 0, engineVersion: '16.1' })).not.toThrow();
});

describe.each(Object.values(environments).map((c) => [c.env, c] as const))('%s-data, the old storage’s key (storageSource variant)', (env, config) => {
  const stack = synthesizedStack(`${env}-data`, 'storageSource');
  const committed = synthesizedStack(`${env}-data`);

  test('migration.storageSource adds one empty secret, docplatform-<env>-storage-source, and nothing else', () => {
    const added = allResources(stack).filter((r) => !allResources(committed).some((c) => c.address === r.address));
    expect(added.map((r) => [r.type, r.config.name])).toEqual([['aws_secretsmanager_secret', `docplatform-${env}-${SECRET_STEMS.storageSource}`]]);
    expect(added[0].config.recovery_window_in_days).toBe(config.teardown.secretRecoveryDays);
    expect(resources(stack, 'aws_secretsmanager_secret_version')).toEqual([]);
  });

  test('it costs $0.40 a month idle (npm run cost), the price of one secret', () => {
    const prices = loadPriceTable(DEFAULT_PRICE_FILE);
    const idle = (variant: Variant) =>
      estimateCosts({ label: env, resources: readSynthesizedEnvironment(synthDir(variant), env), prices, profile: loadTrafficProfile() }).total.idleUsd;
    expect(Number((idle('storageSource') - idle('committed')).toFixed(2))).toBe(0.4);
  });
});
