import { estimateCosts } from './estimate';
import { naiveVariant } from './naive';
import { loadPriceTable } from './priceTable';
import { TfResource } from './terraformInput';
import { loadTrafficProfile, parseTrafficProfile, TrafficProfile } from './traffic';

const prices = loadPriceTable();
const launch = loadTrafficProfile();

function resource(type: string, name: string, values: Record<string, unknown>, layer = 'data', refs: Record<string, string[]> = {}): TfResource {
  return { address: `${type}.${name}`, stack: `dev-${layer}`, layer, type, name, values, count: 1, refs };
}

function profileWith(volume: Partial<TrafficProfile['volume']>, assumptions: Partial<TrafficProfile['assumptions']> = {}): TrafficProfile {
  return {
    ...launch,
    volume: { apiRequestsPerMonth: 0, documentsPerMonth: 0, batchesPerMonth: 0, cdnRequestsPerMonth: 0, cdnGbServedPerMonth: 0, ...volume },
    assumptions: { ...launch.assumptions, ...assumptions },
  };
}

const estimate = (resources: TfResource[], profile: TrafficProfile = launch) => estimateCosts({ label: 'test', resources, prices, profile });

describe('cost model on hand-computed cases', () => {
  it('prices one db.t4g.micro Single-AZ with 20 GB gp3 at 730 h x $0.018 + 20 x $0.133', () => {
    const report = estimate([resource('aws_db_instance', 'db', { instance_class: 'db.t4g.micro', multi_az: false, allocated_storage: 20, storage_type: 'gp3' })]);
    expect(report.total.idleUsd).toBeCloseTo(730 * 0.018 + 20 * 0.133, 6); // 15.80
    expect(report.total.idleUsd).toBeCloseTo(15.8, 6);
    expect(report.total.trafficUsd).toBeCloseTo(15.8, 6);
  });

  it('doubles instance and storage for Multi-AZ and adds the RDS-managed master secret', () => {
    const report = estimate([
      resource('aws_db_instance', 'db', { instance_class: 'db.t4g.micro', multi_az: true, allocated_storage: 20, storage_type: 'gp3', manage_master_user_password: true }),
    ]);
    expect(report.total.idleUsd).toBeCloseTo(730 * 0.036 + 20 * 0.266 + 0.4, 6); // 32.00
  });

  describe('Aurora Serverless v2 (ACU-hour $0.135, storage $0.1125/GB-month, I/O $0.225/million)', () => {
    const cluster = (min: number, max: number, pause?: number) =>
      resource('aws_rds_cluster', 'c', {
        engine: 'aurora-postgresql',
        manage_master_user_password: true,
        serverlessv2_scaling_configuration: { min_capacity: min, max_capacity: max, ...(pause ? { seconds_until_auto_pause: pause } : {}) },
      });
    const writer = resource('aws_rds_cluster_instance', 'w', { instance_class: 'db.serverless', cluster_identifier: '${aws_rds_cluster.c.id}' }, 'data', { cluster_identifier: ['aws_rds_cluster.c'] });

    it('at 0 ACU idle only storage and the master secret are billed: paused all month', () => {
      const report = estimate([cluster(0, 2, 300), writer], profileWith({}));
      expect(report.total.idleUsd).toBeCloseTo(1 * 0.1125 + 0.4, 6); // 0.51
    });

    it('at 0 ACU under launch traffic (a request every ~9 s, pause after 300 s) it is awake all month at 0.5 ACU, plus I/O', () => {
      const report = estimate([cluster(0, 2, 300), writer]);
      const io = (300_000 * 10 + 3000 * 100) / 1e6; // 3.3 million
      expect(report.total.trafficUsd).toBeCloseTo(0.5 * 730 * 0.135 + 1 * 0.1125 + io * 0.225 + 0.4, 2); // 49.28 + 0.11 + 0.74 + 0.40
    });

    it('awake share 1 - e^(-λT): one request an hour with a 300 s pause keeps it awake 8 % of the month', () => {
      const report = estimate([cluster(0, 2, 300), writer], profileWith({ apiRequestsPerMonth: 730 }, { auroraIoPerApiRequest: 0 }));
      const awake = 1 - Math.exp(-(730 / (730 * 3600)) * 300); // 0.0800
      const item = report.items.find((i) => i.type === 'aws_rds_cluster_instance')!;
      expect(item.traffic.usd).toBeCloseTo(0.5 * 730 * 0.135 * awake, 6); // 3.94
    });

    it('at 0 ACU with logical replication in its parameter group it never pauses: the awake 0.5 ACU all month, idle too', () => {
      const group = (value: string) => resource('aws_rds_cluster_parameter_group', 'g', { parameter: [{ name: 'rds.logical_replication', value, apply_method: 'pending-reboot' }] });
      const published = resource('aws_rds_cluster', 'c', { ...cluster(0, 2, 300).values, db_cluster_parameter_group_name: '${aws_rds_cluster_parameter_group.g.name}' }, 'data', {
        db_cluster_parameter_group_name: ['aws_rds_cluster_parameter_group.g'],
      });
      const idle = (value: string) => estimate([published, group(value), writer], profileWith({})).items.find((i) => i.type === 'aws_rds_cluster_instance')!.idle.usd;
      expect(idle('1')).toBeCloseTo(0.5 * 730 * 0.135, 6); // 49.28
      expect(idle('0')).toBe(0);
    });

    it('above 0 ACU the minimum is billed all month, idle or not', () => {
      const report = estimate([cluster(0.5, 4), writer], profileWith({}));
      const item = report.items.find((i) => i.type === 'aws_rds_cluster_instance')!;
      expect(item.idle.usd).toBeCloseTo(0.5 * 730 * 0.135, 6); // 49.28
      expect(report.unconfirmedPrices).toEqual(expect.arrayContaining(['aurora.serverlessV2.acuHours', 'aurora.storage.gbMonth']));
    });

    it('an instance that is not db.serverless, or a cluster not literal, is unpriced rather than guessed', () => {
      const provisioned = resource('aws_rds_cluster_instance', 'p', { instance_class: 'db.r6g.large', cluster_identifier: '${aws_rds_cluster.c.id}' }, 'data', { cluster_identifier: ['aws_rds_cluster.c'] });
      expect(estimate([cluster(0, 2, 300), provisioned]).unpriced.map((i) => i.address)).toEqual(['aws_rds_cluster_instance.p']);
      expect(estimate([writer]).unpriced.map((i) => i.address)).toEqual(['aws_rds_cluster_instance.w']);
    });
  });

  it('prices 1M Lambda requests x 200 ms x 512 MB arm64 at $0.20 + 100,000 GB-s x $0.0000133334', () => {
    const profile = profileWith({ apiRequestsPerMonth: 1_000_000 }, { lambdas: [{ match: 'api', perApiRequest: 1, perDocument: 0, perBatch: 0, avgDurationMs: 200 }] });
    const report = estimate([resource('aws_lambda_function', 'api', { function_name: 'docplatform-dev-api', memory_size: 512, architectures: ['arm64'] }, 'compute')], profile);
    expect(report.total.idleUsd).toBe(0);
    expect(report.total.trafficUsd).toBeCloseTo(0.2 + 100_000 * 0.0000133334, 6); // 1.53334
    // The always-free tier (1M requests, 400,000 GB-s) would cover all of it, and is reported apart.
    expect(report.alwaysFree.trafficUsd).toBeCloseTo(1.53334, 5);
  });

  it('charges x86 Lambda duration at the x86 rate', () => {
    const profile = profileWith({ apiRequestsPerMonth: 1_000_000 }, { lambdas: [{ match: 'api', perApiRequest: 1, perDocument: 0, perBatch: 0, avgDurationMs: 200 }] });
    const report = estimate([resource('aws_lambda_function', 'api', { function_name: 'api', memory_size: 512 }, 'compute')], profile);
    expect(report.total.trafficUsd).toBeCloseTo(0.2 + 100_000 * 0.0000166667, 6);
  });

  it('meters the serverless cache minimum: 0.1 GB for Valkey, 1 GB for Redis OSS', () => {
    const valkey = estimate([resource('aws_elasticache_serverless_cache', 'cache', { engine: 'valkey' })]);
    const redis = estimate([resource('aws_elasticache_serverless_cache', 'cache', { engine: 'redis' })]);
    expect(valkey.total.idleUsd).toBeCloseTo(0.1 * 730 * 0.0945, 6); // 6.90
    expect(redis.total.idleUsd).toBeCloseTo(1 * 730 * 0.1406, 6); // 102.64
  });

  it('caps cache storage under traffic at the configured usage limit', () => {
    const profile = profileWith({ apiRequestsPerMonth: 1_000_000 }, { cacheStoredGb: 5, cacheEcpuPerApiRequest: 2 });
    const report = estimate([resource('aws_elasticache_serverless_cache', 'cache', { engine: 'valkey', cache_usage_limits: [{ data_storage: [{ maximum: 1, unit: 'GB' }] }] })], profile);
    expect(report.total.trafficUsd).toBeCloseTo(1 * 730 * 0.0945 + 2_000_000 * 0.0000000026, 6);
  });

  it('prices a NAT instance from its launch template: t4g.nano hours, 8 GB gp3 root, public IPv4', () => {
    const template = resource('aws_launch_template', 'nat', { instance_type: 't4g.nano', block_device_mappings: [{ ebs: { volume_size: 8, volume_type: 'gp3' } }] }, 'network');
    const instance = resource('aws_instance', 'nat', { associate_public_ip_address: true, source_dest_check: false, launch_template: { id: '${aws_launch_template.nat.id}' } }, 'network', {
      launch_template: ['aws_launch_template.nat'],
    });
    const report = estimate([template, instance]);
    expect(report.total.idleUsd).toBeCloseTo(730 * 0.0047 + 8 * 0.0928 + 730 * 0.005, 6); // 7.82
    expect(report.items.find((i) => i.type === 'aws_launch_template')?.status).toBe('free');
  });

  it('prices an Auto Scaling group of one NAT instance that releases its boot-time public IPv4: the steady address is the EIP on its floating interface', () => {
    const nic = [{ device_index: 0, associate_public_ip_address: 'true' }];
    const userData = (script: string) => Buffer.from(script).toString('base64');
    const templateOf = (script: string) =>
      resource('aws_launch_template', 'nat', { instance_type: 't4g.nano', network_interfaces: nic, user_data: userData(script), block_device_mappings: [{ ebs: { volume_size: 8 } }] }, 'network');
    const group = resource('aws_autoscaling_group', 'nat', { min_size: 1, max_size: 1, desired_capacity: 1 }, 'network', { launch_template: ['aws_launch_template.nat'] });
    const eni = resource('aws_network_interface', 'nat_eni', { source_dest_check: false }, 'network');
    const eip = resource('aws_eip', 'nat', { domain: 'vpc' }, 'network', { network_interface: ['aws_network_interface.nat_eni'] });
    const releasing = estimate([templateOf('aws ec2 modify-network-interface-attribute --network-interface-id x --no-associate-public-ip-address'), group, eni, eip]);
    // 730 h t4g.nano + 8 GB gp3 + 1 h of boot-time public IPv4 + 730 h of the EIP = 7.83
    expect(releasing.total.idleUsd).toBeCloseTo(730 * 0.0047 + 8 * 0.0928 + 1 * 0.005 + 730 * 0.005, 6);
    expect(releasing.items.find((i) => i.type === 'aws_network_interface')?.status).toBe('free');
    // The same group keeping its launch-time address pays a second public IPv4.
    const keeping = estimate([templateOf('echo keep'), group, eni, eip]);
    expect(keeping.total.idleUsd).toBeCloseTo(730 * 0.0047 + 8 * 0.0928 + 730 * 0.005 + 730 * 0.005, 6);
  });

  it('counts a dashboard of up to 50 metrics free while the account holds at most three; more metrics or an unreadable body are $3', () => {
    const body = (metrics: number) => JSON.stringify({ widgets: [{ type: 'metric', properties: { metrics: Array.from({ length: metrics }, (_, i) => ['AWS/Lambda', 'Errors', 'FunctionName', `f${i}`, { stat: 'Sum' }]) } }] });
    const board = (values: Record<string, unknown>) => resource('aws_cloudwatch_dashboard', 'board', values, 'compute');
    // dev and prod share the account (no accountId in stacks/config.ts): two dashboards of the three.
    expect(estimate([board({ dashboard_body: body(50) })]).items[0].status).toBe('free');
    expect(estimate([board({ dashboard_body: body(51) })]).total.idleUsd).toBeCloseTo(3, 6);
    expect(estimate([board({})]).total.idleUsd).toBeCloseTo(3, 6);
    // Two per environment: four in the account, past the three free ones.
    const two = [board({ dashboard_body: body(1) }), { ...board({ dashboard_body: body(1) }), address: 'aws_cloudwatch_dashboard.other', name: 'other' }];
    expect(estimate(two).total.idleUsd).toBeCloseTo(6, 6);
  });

  it('prices a NAT gateway per hour and per GB processed, its address on the EIP', () => {
    const profile = profileWith({ documentsPerMonth: 1000 }, { natKbPerDocument: 1000, workers: [] });
    const report = estimate([resource('aws_nat_gateway', 'nat', {}, 'network'), resource('aws_eip', 'nat', { domain: 'vpc' }, 'network')], profile);
    expect(report.total.idleUsd).toBeCloseTo(730 * 0.05 + 730 * 0.005, 6); // 40.15
    expect(report.total.trafficUsd).toBeCloseTo(40.15 + 1 * 0.05, 6);
  });

  it("prices a worker's messages once, on its first queue, however many queues it consumes", () => {
    const profile = profileWith({ documentsPerMonth: 10_000_000 }, {
      workers: [{ match: 'doc-generation', queues: ['doc-jobs', 'batch-doc-jobs'], drivenBy: 'documents', unitsPerTaskMinute: 4, activationsPerMonth: 0, tailMinutesPerActivation: 0, imagePullGb: 0 }],
    });
    const queue = (name: string) => resource('aws_sqs_queue', name.replace(/-/g, '_'), { name: `docplatform-dev-${name}` });
    const first = estimate([queue('doc-jobs')], profile).total.trafficUsd;
    expect(first).toBeGreaterThan(0);
    // batch-doc-jobs ends with "doc-jobs" but is the second queue: nothing more.
    expect(estimate([queue('batch-doc-jobs')], profile).total.trafficUsd).toBe(0);
    expect(estimate([queue('doc-jobs'), queue('batch-doc-jobs')], profile).total.trafficUsd).toBeCloseTo(first, 9);
  });

  it('runs a Fargate Spot ARM64 worker only for the task-hours its queue needs', () => {
    const profile = profileWith({ documentsPerMonth: 240 }, {
      workers: [{ match: 'doc-generation', queues: ['doc-jobs'], drivenBy: 'documents', unitsPerTaskMinute: 4, activationsPerMonth: 6, tailMinutesPerActivation: 5, imagePullGb: 0.5 }],
    });
    const task = resource('aws_ecs_task_definition', 'doc', { cpu: '1024', memory: '2048', runtime_platform: [{ cpu_architecture: 'ARM64', operating_system_family: 'LINUX' }] }, 'compute');
    const service = resource('aws_ecs_service', 'doc', { name: 'docplatform-dev-doc-generation', desired_count: 0, capacity_provider_strategy: [{ capacity_provider: 'FARGATE_SPOT', weight: 1 }] }, 'compute', {
      task_definition: ['aws_ecs_task_definition.doc'],
    });
    const report = estimate([task, service], profile);
    expect(report.total.idleUsd).toBe(0);
    // 240 documents / 4 per minute + 6 activations x 5 min = 90 task-minutes = 1.5 h.
    expect(report.total.trafficUsd).toBeCloseTo(1.5 * (1 * 0.01166 + 2 * 0.00128), 6);
  });

  it('splits task-hours between Spot and on-demand by capacity provider weight, x86 by default', () => {
    const task = resource('aws_ecs_task_definition', 'w', { cpu: 1024, memory: 2048 }, 'compute');
    const service = resource('aws_ecs_service', 'w', {
      name: 'always-on', desired_count: 1,
      capacity_provider_strategy: [{ capacity_provider: 'FARGATE_SPOT', weight: 3 }, { capacity_provider: 'FARGATE', weight: 1 }],
    }, 'compute', { task_definition: ['aws_ecs_task_definition.w'] });
    const report = estimate([task, service]);
    const spot = 730 * 0.75 * (0.01458 + 2 * 0.00159);
    const onDemand = 730 * 0.25 * (0.04856 + 2 * 0.00532);
    expect(report.total.idleUsd).toBeCloseTo(spot + onDemand, 6);
  });

  it('prices a WAF web ACL at $5 + $1 per rule + $0.60 per million requests', () => {
    const rules = Array.from({ length: 5 }, (_, i) => ({ name: `r${i}`, statement: [{ managed_rule_group_statement: [{ name: 'AWSManagedRulesCommonRuleSet' }] }] }));
    const report = estimate([resource('aws_wafv2_web_acl', 'acl', { scope: 'REGIONAL', rule: rules }, 'compute')], profileWith({ apiRequestsPerMonth: 1_000_000 }));
    expect(report.total.idleUsd).toBeCloseTo(10, 6);
    expect(report.total.trafficUsd).toBeCloseTo(10.6, 6);
  });

  it('prices the edge key value store at $0.03 per million reads, one per API request, and $0 idle', () => {
    const report = estimate([resource('aws_cloudfront_key_value_store', 'store', { name: 'docplatform-dev-edge' }, 'edge')], profileWith({ apiRequestsPerMonth: 1_000_000 }));
    expect(report.total.idleUsd).toBe(0);
    expect(report.total.trafficUsd).toBeCloseTo(1_000_000 * 0.00000003, 6); // 0.03
  });

  it('refuses to price paid managed rule groups rather than guess', () => {
    const rule = { name: 'bots', statement: [{ managed_rule_group_statement: [{ name: 'AWSManagedRulesBotControlRuleSet' }] }] };
    const report = estimate([resource('aws_wafv2_web_acl', 'acl', { scope: 'REGIONAL', rule: [rule] }, 'compute')]);
    expect(report.unpriced.map((i) => i.address)).toEqual(['aws_wafv2_web_acl.acl']);
  });

  it('prices VPC flow logs to S3 per GB delivered, and their bucket for what its expiry keeps and the files delivery writes', () => {
    const profile = profileWith({ apiRequestsPerMonth: 1_000_000, documentsPerMonth: 10_000 }, { flowLogBytesPerApiRequest: 500, flowLogBytesPerDocument: 2000, flowLogFilesPerMonth: 8760, logCompressionRatio: 0.15 });
    const bucket = resource('aws_s3_bucket', 'flow', { bucket_prefix: 'docplatform-prod-flow-logs-' }, 'network');
    const lifecycle = resource('aws_s3_bucket_lifecycle_configuration', 'flow', { rule: [{ id: 'housekeeping', expiration: [{ days: 90 }] }] }, 'network', { bucket: ['aws_s3_bucket.flow'] });
    const log = resource('aws_flow_log', 'vpc', { log_destination_type: 's3', traffic_type: 'ALL' }, 'network', { log_destination: ['aws_s3_bucket.flow'] });
    const report = estimate([bucket, lifecycle, log], profile);
    expect(report.total.idleUsd).toBe(0);
    const gb = (1_000_000 * 500 + 10_000 * 2000) / 1e9; // 0.52 GB a month
    const stored = (gb / 30.4) * 90 * 0.15;
    expect(report.items.find((i) => i.type === 'aws_flow_log')!.traffic.usd).toBeCloseTo(gb * 0.3, 6);
    expect(report.total.trafficUsd).toBeCloseTo(gb * 0.3 + stored * 0.024 + 8760 * 0.0000053, 5);
  });

  it('prices interface endpoints per AZ and gateway endpoints at $0', () => {
    const report = estimate([
      resource('aws_vpc_endpoint', 'ecr', { vpc_endpoint_type: 'Interface', subnet_ids: ['a', 'b'] }, 'network'),
      resource('aws_vpc_endpoint', 's3', { vpc_endpoint_type: 'Gateway' }, 'network'),
    ]);
    expect(report.total.idleUsd).toBeCloseTo(2 * 730 * 0.012, 6);
    expect(report.items.find((i) => i.address === 'aws_vpc_endpoint.s3')?.status).toBe('free');
  });

  it('stores logs for the retention period, and for a year when they never expire', () => {
    const profile = profileWith({ apiRequestsPerMonth: 1_000_000 }, { logBytesPerApiRequest: 1000, logCompressionRatio: 0.15, neverExpireHorizonDays: 365 });
    const week = estimate([resource('aws_cloudwatch_log_group', 'access', { name: '/aws/apigateway/access', retention_in_days: 7 })], profile);
    const forever = estimate([resource('aws_cloudwatch_log_group', 'access', { name: '/aws/apigateway/access' })], profile);
    expect(week.total.idleUsd).toBe(0);
    expect(week.total.trafficUsd).toBeCloseTo(1 * 0.5985 + (1 / 30.4) * 7 * 0.15 * 0.0315, 6);
    expect(forever.total.trafficUsd).toBeCloseTo(1 * 0.5985 + (1 / 30.4) * 365 * 0.15 * 0.0315, 6);
  });

  it('prices a WAF log group for the blocked share of what its web ACL inspects', () => {
    const profile = profileWith({ apiRequestsPerMonth: 1_000_000 }, { wafBlockedShare: 0.01, wafLogBytesPerRecord: 2500, logCompressionRatio: 0.15 });
    const acl = resource('aws_wafv2_web_acl', 'acl', { scope: 'REGIONAL', rule: [] }, 'compute');
    const group = resource('aws_cloudwatch_log_group', 'waf', { name: 'aws-waf-logs-docplatform-prod-api', retention_in_days: 30 }, 'compute');
    const logging = resource('aws_wafv2_web_acl_logging_configuration', 'waf', {}, 'compute', {
      resource_arn: ['aws_wafv2_web_acl.acl'],
      log_destination_configs: ['aws_cloudwatch_log_group.waf'],
    });
    const report = estimate([acl, group, logging], profile);
    const gb = (1_000_000 * 0.01 * 2500) / 1e9; // 0.025 GB
    expect(report.items.find((i) => i.address === 'aws_cloudwatch_log_group.waf')!.traffic.usd).toBeCloseTo(gb * 0.5985 + (gb / 30.4) * 30 * 0.15 * 0.0315, 5);
    expect(report.items.find((i) => i.address === 'aws_cloudwatch_log_group.waf')!.idle.usd).toBe(0);
  });

  it('bills each metric of an alarm and reports the 10 always-free alarms apart', () => {
    const alarms = Array.from({ length: 12 }, (_, i) => resource('aws_cloudwatch_metric_alarm', `a${i}`, { period: 60 }));
    const report = estimate(alarms);
    expect(report.total.idleUsd).toBeCloseTo(1.2, 6);
    expect(report.alwaysFree.idleUsd).toBeCloseTo(1.0, 6);
  });

  it('multiplies by count and says when a count had to be assumed', () => {
    const secret = { ...resource('aws_secretsmanager_secret', 's', {}), count: 3 };
    const guessed = { ...resource('aws_kms_key', 'k', {}), count: 1, countNote: 'count = ${var.n}: one instance assumed' };
    const report = estimate([secret, guessed]);
    expect(report.total.idleUsd).toBeCloseTo(3 * 0.4 + 1, 6);
    expect(report.items[1].notes).toContain('count = ${var.n}: one instance assumed');
  });

  it('lists every resource: priced, free with its reason, or unpriced, never dropped', () => {
    const report = estimate([
      resource('aws_vpc', 'vpc', {}, 'network'),
      resource('aws_iam_role', 'role', {}, 'compute'),
      resource('aws_neptune_cluster', 'graph', {}),
      resource('aws_instance', 'big', { instance_type: 'm7g.large' }, 'network'),
    ]);
    expect(report.items).toHaveLength(4);
    expect(report.items.map((i) => i.status)).toEqual(['free', 'free', 'unpriced', 'unpriced']);
    expect(report.unpriced.map((i) => i.reason)).toEqual(['no pricing rule for this resource type', 'instance type m7g.large is not in the price table']);
  });
});

describe('naive variant', () => {
  it('swaps each cost decision for its naive default and costs more', () => {
    const vpc = resource('aws_vpc', 'vpc', {}, 'network');
    const template = resource('aws_launch_template', 'nat_template', { instance_type: 't4g.nano' }, 'network');
    const nat = resource('aws_instance', 'nat', { source_dest_check: false, associate_public_ip_address: true }, 'network', { launch_template: ['aws_launch_template.nat_template'] });
    const db = resource('aws_db_instance', 'db', { instance_class: 'db.t4g.micro', allocated_storage: 20, storage_type: 'gp3' });
    const cache = resource('aws_elasticache_serverless_cache', 'cache', { engine: 'valkey' });
    const logs = resource('aws_cloudwatch_log_group', 'logs', { retention_in_days: 7 });
    const chosen = [vpc, template, nat, db, cache, logs];
    const naive = naiveVariant(chosen, 2);
    const types = naive.map((r) => r.type);
    expect(types.filter((t) => t === 'aws_nat_gateway')).toHaveLength(2);
    expect(types.filter((t) => t === 'aws_vpc_endpoint')).toHaveLength(6);
    expect(types).toContain('aws_db_proxy');
    expect(types).not.toContain('aws_instance');
    expect(naive.find((r) => r.type === 'aws_elasticache_serverless_cache')?.values.engine).toBe('redis');
    expect(naive.find((r) => r.type === 'aws_db_instance')?.values.multi_az).toBe(true);
    expect(naive.find((r) => r.type === 'aws_cloudwatch_log_group')?.values.retention_in_days).toBe(0);
    expect(chosen.find((r) => r.type === 'aws_db_instance')?.values.multi_az).toBeUndefined();

    const naiveIdle = estimate(naive).total.idleUsd;
    const expected =
      2 * 730 * (0.05 + 0.005) + // NAT gateways and their addresses
      6 * 2 * 730 * 0.012 + // interface endpoints
      730 * 0.036 + 20 * 0.266 + // Multi-AZ database
      2 * 730 * 0.017 + // RDS Proxy
      730 * 0.1406; // Redis OSS minimum
    expect(naiveIdle).toBeCloseTo(expected, 6);
    expect(naiveIdle).toBeGreaterThan(estimate(chosen).total.idleUsd * 5);
  });

  it('replaces the NAT Auto Scaling group, its template and the Elastic IP of its floating interface with the gateways', () => {
    const vpc = resource('aws_vpc', 'vpc', {}, 'network');
    const template = resource('aws_launch_template', 'nat_template', { instance_type: 't4g.nano' }, 'network');
    const group = resource('aws_autoscaling_group', 'nat_group', { desired_capacity: 1 }, 'network', { launch_template: ['aws_launch_template.nat_template'] });
    const eni = resource('aws_network_interface', 'nat_eni', {}, 'network');
    const eip = resource('aws_eip', 'nat_eip', { domain: 'vpc' }, 'network', { network_interface: ['aws_network_interface.nat_eni'] });
    const naive = naiveVariant([vpc, template, group, eni, eip], 2);
    expect(naive.filter((r) => r.name.startsWith('nat_')).map((r) => r.address)).toEqual(['aws_network_interface.nat_eni']);
    expect(naive.filter((r) => r.type === 'aws_eip')).toHaveLength(2);
    expect(naive.filter((r) => r.type === 'aws_nat_gateway')).toHaveLength(2);
  });
});

describe('inputs', () => {
  it('rejects a traffic profile naming the faulty field', () => {
    const raw = JSON.parse(JSON.stringify(launch));
    raw.volume.documentsPerMonth = -1;
    expect(() => parseTrafficProfile(raw, 'bad.json')).toThrow(/field volume\.documentsPerMonth/);
  });

  it('rejects a traffic profile whose figures are not all documented', () => {
    const raw = JSON.parse(JSON.stringify(launch));
    delete raw.notes['assumptions.documentKb'];
    expect(() => parseTrafficProfile(raw, 'bad.json')).toThrow(/missing assumptions\.documentKb/);
  });

  it('gives every price a unit, a source and a read date, and a note when Paris is not confirmed', () => {
    for (const [key, price] of Object.entries(prices.data.prices)) {
      expect([key, price.unit.length > 0, price.source.length > 0, /^\d{4}-\d{2}-\d{2}$/.test(price.read)]).toEqual([key, true, true, true]);
      if (!price.confirmed) expect([key, price.note?.length ?? 0]).not.toEqual([key, 0]);
    }
  });
});
