import { environments, EnvironmentConfig } from '../../stacks/config';
import { allResources, parsePolicy, resources, synthesizedStack } from '../support/infra-synth';

const envs = Object.values(environments).map((c) => [c.env, c] as const);
const DAY = 86_400;

describe.each(envs)('%s-data', (_env, config: EnvironmentConfig) => {
  const stack = synthesizedStack(`${config.env}-data`);
  const [db] = resources(stack, 'aws_db_instance');
  const [params] = resources(stack, 'aws_db_parameter_group');
  const parameter = (name: string) => params.config.parameter.find((p: any) => p.name === name);

  test('RDS is not publicly accessible', () => {
    expect(db.config.publicly_accessible).toBe(false);
  });

  test('RDS storage is encrypted', () => {
    expect(db.config.storage_encrypted).toBe(true);
  });

  test('RDS password is managed by RDS (no password in state)', () => {
    expect(db.config.manage_master_user_password).toBe(true);
    expect(db.config.password).toBeUndefined();
    expect(db.config.password_wo).toBeUndefined();
  });

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

  test('RDS lives in the isolated subnets behind the db security group', () => {
    const [group] = resources(stack, 'aws_db_subnet_group');
    expect(db.config.db_subnet_group_name).toBe(`\${${group.address}.name}`);
    group.config.subnet_ids.forEach((id: string) => expect(id).toMatch(/outputs\.cross-stack-output-aws_subnetisolated-\d+id/));
    expect(db.config.vpc_security_group_ids).toHaveLength(1);
    expect(db.config.vpc_security_group_ids[0]).toMatch(/cross-stack-output-aws_security_groupsg-dbid/);
  });

  test('RDS forces SSL', () => {
    expect(db.config.parameter_group_name).toBe(`\${${params.address}.name}`);
    expect(parameter('rds.force_ssl')?.value).toBe('1');
  });

  test('RDS allows logical replication, set at creation (static parameter)', () => {
    expect(parameter('rds.logical_replication')).toMatchObject({ value: '1', apply_method: 'pending-reboot' });
  });

  test('RDS keeps automated backups for the configured days', () => {
    expect(db.config.backup_retention_period).toBe(config.database.backupRetentionDays);
    expect(db.config.backup_retention_period).toBeGreaterThan(0);
    expect(db.config.copy_tags_to_snapshot).toBe(true);
  });

  test('RDS is Multi-AZ only when the config says so (Single-AZ halves the bill)', () => {
    expect(db.config.multi_az).toBe(config.database.multiAz);
  });

  test('RDS performance insights and enhanced monitoring are off (cost)', () => {
    expect(db.config.performance_insights_enabled).toBe(false);
    expect(db.config.monitoring_interval).toBe(0);
  });

  test('RDS exports its log to a log group with retention', () => {
    const [group] = resources(stack, 'aws_cloudwatch_log_group');
    expect(db.config.enabled_cloudwatch_logs_exports).toEqual(['postgresql']);
    expect(group.config.name).toBe(`/aws/rds/instance/${db.config.identifier}/postgresql`);
    expect(group.config.retention_in_days).toBe(config.logs.retentionDays);
  });

  test('alarms watch RDS CPU and free storage', () => {
    const metrics = resources(stack, 'aws_cloudwatch_metric_alarm').filter((a) => a.config.namespace === 'AWS/RDS').map((a) => a.config.metric_name);
    expect(metrics.sort()).toEqual(['CPUUtilization', 'FreeStorageSpace']);
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

  const queues = resources(stack, 'aws_sqs_queue');
  const mainQueues = queues.filter((q) => q.config.redrive_policy);

  test('queues doc-jobs and batch-jobs exist with their DLQs', () => {
    expect(queues.map((q) => q.config.name).sort()).toEqual(
      ['batch-jobs', 'batch-jobs-dlq', 'doc-jobs', 'doc-jobs-dlq'].map((n) => `docplatform-${config.env}-${n}`),
    );
  });

  test('queue redrive, retention and visibility come from config', () => {
    const byName = (suffix: string) => queues.find((q) => q.config.name === `docplatform-${config.env}-${suffix}`)!.config;
    expect(byName('doc-jobs').visibility_timeout_seconds).toBe(config.queues.docJobsVisibilitySeconds);
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
    expect(depth).toHaveLength(2);
    depth.forEach((a) => expect(a.config).toMatchObject({ threshold: 0, comparison_operator: 'GreaterThanThreshold' }));
    expect(sqsAlarms.filter((a) => a.config.metric_name === 'ApproximateAgeOfOldestMessage')).toHaveLength(2);
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

describe('environments differ by config only', () => {
  test('prod has deletion protection and dev does not', () => {
    const [devDb] = resources('dev-data', 'aws_db_instance');
    const [prodDb] = resources('prod-data', 'aws_db_instance');
    expect(devDb.config.deletion_protection).toBe(false);
    expect(prodDb.config.deletion_protection).toBe(true);
  });

  test('prod takes a final snapshot on deletion, dev skips it', () => {
    const [devDb] = resources('dev-data', 'aws_db_instance');
    const [prodDb] = resources('prod-data', 'aws_db_instance');
    expect(devDb.config.skip_final_snapshot).toBe(true);
    expect(prodDb.config.skip_final_snapshot).toBe(false);
    expect(prodDb.config.final_snapshot_identifier).toBe('docplatform-prod-db-final');
  });

  /** Resources an on/off knob of the config adds where it is on (prod-only logs, docs/cost.md); network.test.ts checks them against the knob. */
  const KNOB_RESOURCES: Record<string, RegExp> = {
    network: /^(aws_flow_log\.flow-log|aws_s3_bucket[a-z_]*\.flow-logs_.*)$/,
  };

  test.each(['network', 'data', 'edge'])('%s: dev and prod declare the same resources, but for those of an on/off knob', (layer) => {
    const knob = KNOB_RESOURCES[layer];
    const addresses = (env: string) => allResources(`${env}-${layer}`).map((r) => r.address).filter((a) => !knob?.test(a)).sort();
    expect(addresses('prod')).toEqual(addresses('dev'));
  });
});
