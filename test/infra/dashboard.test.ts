import { environments, EnvironmentConfig, namePrefix } from '../../stacks/config';
import { CUSTOM_METRICS } from '../../core/contract';
import { dashboardSeries, EgressWidget, FREE_DASHBOARD_METRICS, opsDashboardRows } from '../../modules/ops-dashboard';
import { createLogger } from '../../core/logger';
import { emfCount } from '../../core/metrics';
import { opsAlarmNames } from '../../stacks/compute';
import { RUNBOOKS } from '../../modules/ops-alarm';
import { resources, synthesizedStack } from '../support/infra-synth';
import { CONFIG_VARIANTS } from '../../stacks/variants';
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The environment's dashboard (modules/ops-dashboard.ts, in the compute stack) against every
 * layer's synthesised stacks: it names only resources that exist, it shows every operational
 * alarm's metric, its alarm widget lists every operational alarm, and it stays within the free
 * tier's 50 metrics.
 */
const envs = Object.values(environments).map((c) => [c.env, c] as const);
const LAYERS = ['network', 'data', 'compute'];

/** `${aws_x.name.attr}` of a stack → the literal it names (the attribute's configured value). */
function resolve(stack: string, value: string): string {
  const m = /^\$\{(aws_[a-z0-9_]+)\.([^.}]+)\.([a-z_]+)\}$/.exec(value);
  if (!m) return value;
  const [, type, name, attribute] = m;
  const target = resources(synthesizedStack(stack), type).find((r) => r.name === name);
  const literal = target?.config[attribute];
  if (typeof literal !== 'string') throw new Error(`${stack}: ${value} does not resolve to a literal`);
  return literal;
}

const key = (m: { namespace: string; metricName: string; dimensions: Record<string, string> }) =>
  `${m.namespace} ${m.metricName} ${Object.entries(m.dimensions).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`).join(',')}`;

describe.each(envs)('%s dashboard', (env, config: EnvironmentConfig) => {
  const prefix = namePrefix(config.env);
  const stackName = (layer: string) => `${env}-${layer}`;
  const [dashboard] = resources(synthesizedStack(stackName('compute')), 'aws_cloudwatch_dashboard');
  const body = JSON.parse(dashboard.config.dashboard_body);
  const series = dashboardSeries(dashboard.config.dashboard_body);
  const onDashboard = new Set(series.map(key));
  // The alarm topic, in its own stack or read from the network's state; scaling alarms name their policies.
  const topicOutput = (alarm: any) => [alarm.config.alarm_actions ?? []].flat().some((a: string) => a.includes('aws_sns_topic'));
  const opsAlarms = LAYERS.flatMap((layer) =>
    resources(synthesizedStack(stackName(layer)), 'aws_cloudwatch_metric_alarm')
      .filter(topicOutput)
      .map((a) => ({ layer, alarm: a })),
  );

  test('one dashboard per environment, named after it, within the free tier (at most 50 metrics)', () => {
    expect(resources(synthesizedStack(stackName('compute')), 'aws_cloudwatch_dashboard')).toHaveLength(1);
    for (const layer of ['network', 'data', 'edge']) expect(resources(synthesizedStack(stackName(layer)), 'aws_cloudwatch_dashboard')).toEqual([]);
    expect(dashboard.config.dashboard_name).toBe(prefix);
    expect(series.length).toBeLessThanOrEqual(FREE_DASHBOARD_METRICS);
  });

  test('the operational alarms: every layer’s alarms that notify the topic, as opsAlarmNames lists them', () => {
    expect(opsAlarms.map(({ alarm }) => alarm.config.alarm_name).sort()).toEqual(opsAlarmNames(config).sort());
  });

  test('every operational alarm’s metric is on the dashboard', () => {
    const missing = opsAlarms
      .map(({ layer, alarm }) => ({
        namespace: alarm.config.namespace,
        metricName: alarm.config.metric_name,
        dimensions: Object.fromEntries(Object.entries(alarm.config.dimensions as Record<string, string>).map(([k, v]) => [k, resolve(stackName(layer), v)])),
      }))
      .map(key)
      .filter((k) => !onDashboard.has(k));
    expect(missing).toEqual([]);
  });

  test('every operational alarm names its runbook section and notifies the topic of its recovery too', () => {
    for (const { alarm } of opsAlarms) {
      const runbook = /Runbook: docs\/operations\.md#([a-z-]+)$/.exec(alarm.config.alarm_description)?.[1];
      expect({ alarm: alarm.config.alarm_name, runbook: RUNBOOKS.includes(runbook as never) }).toEqual({ alarm: alarm.config.alarm_name, runbook: true });
      expect({ alarm: alarm.config.alarm_name, ok: alarm.config.ok_actions }).toEqual({ alarm: alarm.config.alarm_name, ok: alarm.config.alarm_actions });
    }
  });

  test('the alarm widget lists every operational alarm', () => {
    const widget = body.widgets.find((w: any) => w.type === 'alarm');
    const names = widget.properties.alarms.map((arn: string) => {
      expect(arn).toMatch(new RegExp(`^arn:aws:cloudwatch:${config.region}:(\\d{12}|\\$\\{local\\.account_id\\}):alarm:`));
      return arn.split(':alarm:')[1];
    });
    expect(names.sort()).toEqual(opsAlarms.map(({ alarm }) => alarm.config.alarm_name).sort());
  });

  test('every dimension on the dashboard names a resource of the environment', () => {
    const names = (layer: string, type: string, attribute: string) =>
      resources(synthesizedStack(stackName(layer)), type).map((r) => String(r.config[attribute]));
    const known: Record<string, string[]> = {
      FunctionName: names('compute', 'aws_lambda_function', 'function_name'),
      ApiName: names('compute', 'aws_api_gateway_rest_api', 'name'),
      Stage: names('compute', 'aws_api_gateway_stage', 'stage_name'),
      WebACL: resources(synthesizedStack(stackName('compute')), 'aws_wafv2_web_acl').map((r) => r.config.visibility_config.metric_name),
      Region: [config.region],
      Rule: ['ALL'],
      QueueName: names('data', 'aws_sqs_queue', 'name'),
      ClusterName: names('compute', 'aws_ecs_cluster', 'name'),
      ServiceName: names('compute', 'aws_ecs_service', 'name'),
      DBInstanceIdentifier: names('data', 'aws_db_instance', 'identifier'),
      clusterId: names('data', 'aws_elasticache_serverless_cache', 'name'),
      AutoScalingGroupName: names('network', 'aws_autoscaling_group', 'name'),
      [CUSTOM_METRICS.dimension]: [config.env],
    };
    const unknown = series.flatMap((s) => Object.entries(s.dimensions).filter(([k, v]) => !(known[k] ?? []).includes(v)).map(([k, v]) => `${s.metricName} ${k}=${v}`));
    expect(unknown).toEqual([]);
  });

  test('the golden signals of each layer, a row each', () => {
    const rows = new Map<number, string[]>();
    for (const w of body.widgets.filter((w: any) => w.type === 'metric')) rows.set(w.y, [...(rows.get(w.y) ?? []), w.properties.title]);
    expect([...rows.values()]).toEqual([
      ['API requests', 'API 4xx / 5xx', 'API latency p50 / p99 (ms)', 'WAF blocked requests'],
      ['Lambda errors', 'Lambda throttles', 'Lambda duration p99 (ms)', 'Lambda concurrency (max)'],
      ['Queue depth (visible)', 'Age of oldest message (s)', 'DLQ depth'],
      ['Running tasks per worker', 'Documents per minute'],
      ['RDS CPU (%)', 'RDS connections', 'RDS free storage (bytes)'],
      ['Cache ECPUs', 'Cache storage (bytes)', ...(config.network.egress === 'none' ? [] : [config.network.egress === 'nat-instance' ? 'NAT health' : 'NAT gateway health'])],
    ]);
    const has = (namespace: string, metricName: string, stat?: string) => series.some((s) => s.namespace === namespace && s.metricName === metricName && (!stat || s.stat === stat));
    expect(has('AWS/ApiGateway', 'Latency', 'p50') && has('AWS/ApiGateway', 'Latency', 'p99')).toBe(true);
    for (const m of ['Errors', 'Throttles', 'Duration', 'ConcurrentExecutions']) expect(series.filter((s) => s.metricName === m).length).toBe(6);
    expect(has(CUSTOM_METRICS.namespace, CUSTOM_METRICS.documentsProduced, 'Sum') && has(CUSTOM_METRICS.namespace, CUSTOM_METRICS.documentsFailed, 'Sum')).toBe(true);
    expect(series.filter((s) => s.namespace === 'AWS/ECS' && s.stat === 'SampleCount')).toHaveLength(2);
  });

  test('widgets fit the 24-column grid without overlapping', () => {
    const cells = new Set<string>();
    for (const w of body.widgets) {
      expect(w.x + w.width).toBeLessThanOrEqual(24);
      for (let x = w.x; x < w.x + w.width; x++) for (let y = w.y; y < w.y + w.height; y++) {
        expect(cells.has(`${x},${y}`)).toBe(false);
        cells.add(`${x},${y}`);
      }
    }
  });
});

describe('the documents metrics the dashboard graphs', () => {
  test('a worker log line with emfCount is an EMF record of the dashboard’s namespace, dimension and metric, its env from the worker logger', () => {
    const lines: string[] = [];
    const log = createLogger({ service: 'doc-generation', env: 'dev' }, 'info', (line) => lines.push(line));
    log.info('document ready', { key: 'c/o.pdf', ...emfCount(CUSTOM_METRICS.documentsProduced, 1_700_000_000_000) });
    const record = JSON.parse(lines[0]);
    expect(record).toMatchObject({ msg: 'document ready', env: 'dev', [CUSTOM_METRICS.documentsProduced]: 1 });
    expect(record._aws).toEqual({
      Timestamp: 1_700_000_000_000,
      CloudWatchMetrics: [{ Namespace: CUSTOM_METRICS.namespace, Dimensions: [[CUSTOM_METRICS.dimension]], Metrics: [{ Name: CUSTOM_METRICS.documentsProduced, Unit: 'Count' }] }],
    });
    // Every dimension EMF names must be a member of the record.
    for (const dimension of record._aws.CloudWatchMetrics[0].Dimensions.flat()) expect(typeof record[dimension]).toBe('string');
  });
});

describe('the NAT row follows network.egress', () => {
  const base = {
    name: 'docplatform-x',
    region: 'eu-west-3',
    api: { name: 'a', stage: 'v1', webAclMetricName: 'a' },
    functions: ['f'],
    queues: [{ label: 'q', name: 'q', dlqName: 'q-dlq' }],
    workers: [{ label: 'w', clusterName: 'c', serviceName: 'w' }],
    documents: { namespace: 'n', dimensions: { env: 'x' }, produced: 'p', failed: 'f' },
    database: { dimensions: { DBInstanceIdentifier: 'db' }, capacity: { title: 'RDS free storage (bytes)', metricName: 'FreeStorageSpace', label: 'free storage' } },
    cache: { name: 'cache' },
    alarmArns: [],
    header: '',
    logGroups: { services: [], workers: [] },
  };
  const lastRow = (egress: EgressWidget) => opsDashboardRows({ ...base, egress }).at(-1)!.graphs.flatMap((g) => g.metrics.map((m) => `${m.namespace} ${m.metricName}`));
  test('NAT instance: instances in service and status checks of its group; NAT gateway: its errors and drops; none: nothing', () => {
    expect(lastRow({ mode: 'nat-instance', autoScalingGroupName: 'g' })).toEqual(expect.arrayContaining(['AWS/AutoScaling GroupInServiceInstances', 'AWS/EC2 StatusCheckFailed']));
    expect(lastRow({ mode: 'nat-gateway', natGatewayId: 'nat-1' })).toEqual(expect.arrayContaining(['AWS/NATGateway ErrorPortAllocation', 'AWS/NATGateway PacketsDropCount']));
    expect(lastRow({ mode: 'none' })).toEqual(['AWS/ElastiCache ElastiCacheProcessingUnits', 'AWS/ElastiCache BytesUsedForCache']);
  });
});

describe('runbooks (docs/operations.md)', () => {
  const doc = fs.readFileSync(path.join(__dirname, '../../docs/operations.md'), 'utf8');
  // GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
  const anchors = new Set(
    doc.split('\n').filter((l) => /^#{1,6} /.test(l)).map((l) => l.replace(/^#+ /, '').trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')),
  );
  test.each([...RUNBOOKS])('#%s is a section', (runbook) => {
    expect(anchors.has(runbook)).toBe(true);
  });
});

describe.each(Object.values(environments).map((c) => [c.env, CONFIG_VARIANTS.aurora(c)] as const))('%s dashboard on the Aurora engine (aurora variant)', (env, config) => {
  const [dashboard] = resources(synthesizedStack(`${env}-compute`, 'aurora'), 'aws_cloudwatch_dashboard');
  const body = JSON.parse(dashboard.config.dashboard_body);
  const rds = dashboardSeries(dashboard.config.dashboard_body).filter((s) => s.namespace === 'AWS/RDS');
  const dataAlarms = resources(synthesizedStack(`${env}-data`, 'aurora'), 'aws_cloudwatch_metric_alarm').map((a) => a.config.alarm_name);

  test('the database graphs watch the cluster (CPU, connections, ACU), not an instance that is not there', () => {
    expect(rds.map((s) => `${s.metricName} ${JSON.stringify(s.dimensions)}`).sort()).toEqual(
      ['CPUUtilization', 'DatabaseConnections', 'ServerlessDatabaseCapacity'].map((m) => `${m} ${JSON.stringify({ DBClusterIdentifier: `docplatform-${env}-aurora` })}`),
    );
  });

  test('the alarm widget names the cluster\'s alarms, and each exists in the data stack', () => {
    const names: string[] = body.widgets.find((w: any) => w.type === 'alarm').properties.alarms.map((arn: string) => arn.split(':alarm:')[1]);
    expect(opsAlarmNames(config)).toEqual(expect.arrayContaining([`docplatform-${env}-aurora-cpu-high`, `docplatform-${env}-aurora-capacity-high`]));
    expect(names.filter((n) => n.includes('-db-') || n.includes('-aurora-')).sort()).toEqual([`docplatform-${env}-aurora-capacity-high`, `docplatform-${env}-aurora-cpu-high`]);
    for (const name of names.filter((n) => n.includes('-aurora-'))) expect(dataAlarms).toContain(name);
  });
});
