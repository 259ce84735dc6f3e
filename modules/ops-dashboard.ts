import { Construct } from 'constructs';
import { CloudwatchDashboard } from '@cdktf/provider-aws/lib/cloudwatch-dashboard';
import { CloudwatchQueryDefinition } from '@cdktf/provider-aws/lib/cloudwatch-query-definition';
import { LOG_QUERIES } from './log-queries';

/** One series of a graph: a CloudWatch metric with the statistic it is drawn with. */
export interface DashboardMetric {
  namespace: string;
  metricName: string;
  dimensions: Record<string, string>;
  stat: string;
  label: string;
  /** Seconds; the widget's period when unset. */
  period?: number;
}

/** What the NAT row shows, per `network.egress`. */
export type EgressWidget =
  | { mode: 'nat-instance'; autoScalingGroupName: string }
  | { mode: 'nat-gateway'; natGatewayId: string }
  | { mode: 'none' };

export interface OpsDashboardProps {
  /** Dashboard name, `docplatform-<env>`. */
  name: string;
  region: string;
  /** The REST API (`ApiName`, `Stage`) and the metric name of its web ACL (the `WebACL` dimension). */
  api: { name: string; stage: string; webAclMetricName: string };
  /** Function names, one series each on the four Lambda graphs. */
  functions: string[];
  /** Each queue with its DLQ. */
  queues: Array<{ label: string; name: string; dlqName: string }>;
  /** The ECS services of the queue workers. */
  workers: Array<{ label: string; clusterName: string; serviceName: string }>;
  /** The worker's EMF counters (core/metrics.ts): namespace, dimensions and the two metric names. */
  documents: { namespace: string; dimensions: Record<string, string>; produced: string; failed: string };
  /** The database's dimension (an instance's, or an Aurora cluster's) and its capacity graph (free storage, or ACU). */
  database: { dimensions: Record<string, string>; capacity: { title: string; metricName: string; label: string } };
  cache: { name: string };
  egress: EgressWidget;
  /** ARNs of the environment's operational alarms: a status widget at the top. */
  alarmArns: string[];
  /** Markdown of the header (where the runbooks are). */
  header: string;
  /** The log groups the saved Logs Insights queries (modules/log-queries.ts) run over. */
  logGroups: { services: string[]; workers: string[] };
}

/**
 * CloudWatch's free tier covers three dashboards of up to 50 metrics each per account; the
 * platform has one per environment and keeps each under that (test/infra/compute.test.ts).
 */
export const FREE_DASHBOARD_METRICS = 50;

const ROW_HEIGHT = 6;
const FULL_WIDTH = 24;

interface Graph {
  title: string;
  metrics: DashboardMetric[];
  period?: number;
  /** Left Y axis label. */
  unit?: string;
}

type Widget = Record<string, unknown>;

/**
 * One dashboard per environment with the golden signals of each layer, a row per layer, from
 * what the stacks name (no lookup): API traffic, errors, latency and WAF blocks; each function's
 * errors, throttles, duration and concurrency; each queue's depth, oldest message and DLQ; the
 * workers' running tasks and the documents made and failed per minute; RDS and the cache; the
 * NAT. The first widgets are the runbook header and the state of every operational alarm. Beside
 * it, the saved Logs Insights queries: an order's story, errors by service, slowest requests.
 */
export class OpsDashboard extends Construct {
  readonly dashboard: CloudwatchDashboard;
  /** Every row, top to bottom, with the titles of its widgets (docs/infrastructure.md lists them). */
  readonly rows: Array<{ row: string; widgets: string[] }>;
  /** The saved queries of LOG_QUERIES, in the console's folder `<dashboard name>` (free: CloudWatch bills the runs, not the definitions). */
  readonly queries: CloudwatchQueryDefinition[];

  constructor(scope: Construct, id: string, props: OpsDashboardProps) {
    super(scope, id);
    const rows = opsDashboardRows(props);
    this.rows = rows.map((r) => ({ row: r.row, widgets: r.graphs.map((g) => g.title) }));
    const widgets: Widget[] = [
      { type: 'text', x: 0, y: 0, width: FULL_WIDTH, height: 2, properties: { markdown: props.header } },
      { type: 'alarm', x: 0, y: 2, width: FULL_WIDTH, height: 3, properties: { title: 'Alarms', alarms: props.alarmArns, sortBy: 'stateUpdatedTimestamp' } },
    ];
    let y = 5;
    for (const row of rows) {
      const width = Math.floor(FULL_WIDTH / row.graphs.length);
      row.graphs.forEach((graph, i) => widgets.push(graphWidget(graph, props.region, i * width, y, width)));
      y += ROW_HEIGHT;
    }
    this.dashboard = new CloudwatchDashboard(this, 'dashboard', {
      dashboardName: props.name,
      dashboardBody: JSON.stringify({ start: '-PT6H', periodOverride: 'inherit', widgets }),
    });
    this.queries = Object.entries(LOG_QUERIES).map(
      ([key, query]) =>
        new CloudwatchQueryDefinition(this, `query-${key}`, {
          name: `${props.name}/${query.title}`,
          queryString: query.text,
          logGroupNames: query.over === 'services' ? props.logGroups.services : [...props.logGroups.services, ...props.logGroups.workers],
        }),
    );
  }
}

function graphWidget(graph: Graph, region: string, x: number, y: number, width: number): Widget {
  return {
    type: 'metric',
    x,
    y,
    width,
    height: ROW_HEIGHT,
    properties: {
      title: graph.title,
      region,
      view: 'timeSeries',
      stacked: false,
      period: graph.period ?? 300,
      ...(graph.unit ? { yAxis: { left: { label: graph.unit, showUnits: false } } } : {}),
      metrics: graph.metrics.map((m) => [
        m.namespace,
        m.metricName,
        ...Object.entries(m.dimensions).flat(),
        { stat: m.stat, label: m.label, ...(m.period ? { period: m.period } : {}) },
      ]),
    },
  };
}

const metric = (namespace: string, metricName: string, dimensions: Record<string, string>, stat: string, label: string, period?: number): DashboardMetric => ({
  namespace,
  metricName,
  dimensions,
  stat,
  label,
  ...(period ? { period } : {}),
});

/** The rows of the dashboard, top to bottom. */
export function opsDashboardRows(p: OpsDashboardProps): Array<{ row: string; graphs: Graph[] }> {
  const api = { ApiName: p.api.name, Stage: p.api.stage };
  const apiMetric = (name: string, stat: string, label: string) => metric('AWS/ApiGateway', name, api, stat, label);
  const perFunction = (name: string, stat: string) => p.functions.map((fn) => metric('AWS/Lambda', name, { FunctionName: fn }, stat, fn));
  const perQueue = (name: string, which: 'name' | 'dlqName') => p.queues.map((q) => metric('AWS/SQS', name, { QueueName: q[which] }, 'Maximum', q.label));
  const db = p.database.dimensions;
  const cache = { clusterId: p.cache.name };
  return [
    {
      row: 'API',
      graphs: [
        { title: 'API requests', metrics: [apiMetric('Count', 'Sum', 'requests')] },
        { title: 'API 4xx / 5xx', metrics: [apiMetric('4XXError', 'Sum', '4xx'), apiMetric('5XXError', 'Sum', '5xx')] },
        { title: 'API latency p50 / p99 (ms)', metrics: [apiMetric('Latency', 'p50', 'p50'), apiMetric('Latency', 'p99', 'p99')] },
        {
          title: 'WAF blocked requests',
          metrics: [metric('AWS/WAFV2', 'BlockedRequests', { WebACL: p.api.webAclMetricName, Region: p.region, Rule: 'ALL' }, 'Sum', 'blocked')],
        },
      ],
    },
    {
      row: 'Lambda',
      graphs: [
        { title: 'Lambda errors', metrics: perFunction('Errors', 'Sum') },
        { title: 'Lambda throttles', metrics: perFunction('Throttles', 'Sum') },
        { title: 'Lambda duration p99 (ms)', metrics: perFunction('Duration', 'p99') },
        { title: 'Lambda concurrency (max)', metrics: perFunction('ConcurrentExecutions', 'Maximum'), period: 60 },
      ],
    },
    {
      row: 'Queues',
      graphs: [
        { title: 'Queue depth (visible)', metrics: perQueue('ApproximateNumberOfMessagesVisible', 'name'), period: 60 },
        { title: 'Age of oldest message (s)', metrics: perQueue('ApproximateAgeOfOldestMessage', 'name'), period: 60 },
        { title: 'DLQ depth', metrics: perQueue('ApproximateNumberOfMessagesVisible', 'dlqName'), period: 60 },
      ],
    },
    {
      row: 'Workers and documents',
      graphs: [
        {
          // Without Container Insights (billed per task), each running task reports CPUUtilization once a minute.
          title: 'Running tasks per worker',
          metrics: p.workers.map((w) => metric('AWS/ECS', 'CPUUtilization', { ClusterName: w.clusterName, ServiceName: w.serviceName }, 'SampleCount', w.label)),
          period: 60,
        },
        {
          title: 'Documents per minute',
          metrics: [
            metric(p.documents.namespace, p.documents.produced, p.documents.dimensions, 'Sum', 'produced'),
            metric(p.documents.namespace, p.documents.failed, p.documents.dimensions, 'Sum', 'failed'),
          ],
          period: 60,
        },
      ],
    },
    {
      row: 'Database',
      graphs: [
        { title: 'RDS CPU (%)', metrics: [metric('AWS/RDS', 'CPUUtilization', db, 'Average', 'CPU')] },
        { title: 'RDS connections', metrics: [metric('AWS/RDS', 'DatabaseConnections', db, 'Maximum', 'connections')] },
        { title: p.database.capacity.title, metrics: [metric('AWS/RDS', p.database.capacity.metricName, db, 'Average', p.database.capacity.label)] },
      ],
    },
    {
      row: 'Cache and egress',
      graphs: [
        { title: 'Cache ECPUs', metrics: [metric('AWS/ElastiCache', 'ElastiCacheProcessingUnits', cache, 'Sum', 'ECPU')] },
        { title: 'Cache storage (bytes)', metrics: [metric('AWS/ElastiCache', 'BytesUsedForCache', cache, 'Maximum', 'bytes used')] },
        ...egressGraphs(p.egress),
      ],
    },
  ];
}

function egressGraphs(egress: EgressWidget): Graph[] {
  switch (egress.mode) {
    case 'nat-instance': {
      const group = { AutoScalingGroupName: egress.autoScalingGroupName };
      return [
        {
          title: 'NAT health',
          metrics: [
            metric('AWS/AutoScaling', 'GroupInServiceInstances', group, 'Minimum', 'instances in service'),
            metric('AWS/EC2', 'StatusCheckFailed', group, 'Maximum', 'status check failed'),
          ],
          period: 60,
        },
      ];
    }
    case 'nat-gateway': {
      const gateway = { NatGatewayId: egress.natGatewayId };
      return [
        {
          title: 'NAT gateway health',
          metrics: [
            metric('AWS/NATGateway', 'ErrorPortAllocation', gateway, 'Sum', 'port allocation errors'),
            metric('AWS/NATGateway', 'PacketsDropCount', gateway, 'Sum', 'packets dropped'),
          ],
        },
      ];
    }
    case 'none':
      return [];
  }
}

/** Every series of a dashboard body (test/infra and the cost model count and compare them). */
export function dashboardSeries(body: string): Array<{ namespace: string; metricName: string; dimensions: Record<string, string>; stat: string }> {
  const parsed = JSON.parse(body) as { widgets: Array<{ type: string; properties: { metrics?: unknown[][] } }> };
  return parsed.widgets
    .filter((w) => w.type === 'metric')
    .flatMap((w) => w.properties.metrics ?? [])
    .map((entry) => {
      const options = entry[entry.length - 1] as { stat: string };
      const [namespace, metricName, ...rest] = entry.slice(0, -1) as string[];
      const dimensions: Record<string, string> = {};
      for (let i = 0; i < rest.length; i += 2) dimensions[rest[i]] = rest[i + 1];
      return { namespace, metricName, dimensions, stat: options.stat };
    });
}
