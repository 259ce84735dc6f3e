import { listen, StandInServer } from '../../../scripts/local/stand-ins/http';

/**
 * A local stand-in for the AWS APIs `npm run ops -- workers status` and `order --env` call that
 * no emulator here serves (fauxqs does SQS and S3 only): one HTTP server, spoken to by the real
 * SDK clients through their endpoint variables (AWS_ENDPOINT_URL_ECS, …), each request routed by
 * its `x-amz-target` and answered in that API's JSON protocol, shapes from the API references:
 *
 * | target | operation |
 * |---|---|
 * | AmazonEC2ContainerServiceV20141113 | DescribeServices |
 * | AnyScaleFrontendService | DescribeScalingActivities |
 * | GraniteServiceVersion20100801 (CloudWatch, JSON 1.0) | GetMetricData |
 * | Logs_20140328 | StartQuery, GetQueryResults (Running once, then Complete) |
 *
 * The account is a plain object the test fills; `requests` records each operation with its body.
 */
export interface OpsAccount {
  /** ECS services by name: what DescribeServices answers (absent: a MISSING failure). */
  services: Record<string, { desiredCount: number; runningCount: number; pendingCount: number; events?: { createdAt: number; message: string }[] }>;
  /** Scaling activities by resource id (`service/<cluster>/<service>`), newest first. */
  scaling: Record<string, { StartTime: number; StatusCode: string; Description: string; Cause: string }[]>;
  /** The latest ApproximateAgeOfOldestMessage by queue name. */
  oldestAge: Record<string, number>;
  /** What a Logs Insights query answers: the lines (field → value) it finds, given its query string. */
  query(queryString: string): Record<string, string>[];
}

export interface OpsStandIn extends StandInServer {
  requests: { operation: string; body: Record<string, unknown> }[];
}

export async function startOpsStandIn(account: OpsAccount): Promise<OpsStandIn> {
  const requests: OpsStandIn['requests'] = [];
  const queries = new Map<string, { results: Record<string, string>[]; polls: number }>();
  const server = await listen(async (req, raw) => {
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.split('.').pop() ?? '';
    const body = (raw.length ? JSON.parse(raw.toString('utf8')) : {}) as Record<string, any>;
    requests.push({ operation, body });
    switch (target) {
      case 'AmazonEC2ContainerServiceV20141113.DescribeServices': {
        const names = body.services as string[];
        const arn = (name: string) => `arn:aws:ecs:eu-west-3:123456789012:service/${body.cluster}/${name}`;
        return {
          status: 200,
          json: {
            services: names
              .filter((n) => account.services[n])
              .map((n) => ({
                serviceName: n,
                serviceArn: arn(n),
                status: 'ACTIVE',
                ...account.services[n],
                capacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1, base: 0 }],
                events: (account.services[n].events ?? []).map((e, i) => ({ id: `e${i}`, createdAt: e.createdAt, message: e.message })),
              })),
            failures: names.filter((n) => !account.services[n]).map((n) => ({ arn: arn(n), reason: 'MISSING' })),
          },
        };
      }
      case 'AnyScaleFrontendService.DescribeScalingActivities': {
        const activities = (account.scaling[body.ResourceId] ?? []).slice(0, body.MaxResults ?? 50);
        return {
          status: 200,
          json: {
            ScalingActivities: activities.map((a, i) => ({
              ActivityId: `a${i}`,
              ServiceNamespace: body.ServiceNamespace,
              ResourceId: body.ResourceId,
              ScalableDimension: body.ScalableDimension,
              ...a,
            })),
          },
        };
      }
      case 'GraniteServiceVersion20100801.GetMetricData':
        return {
          status: 200,
          json: {
            MetricDataResults: (body.MetricDataQueries as any[]).map((q) => {
              const queue = q.MetricStat.Metric.Dimensions.find((d: { Name: string }) => d.Name === 'QueueName')?.Value;
              const age = account.oldestAge[queue];
              return { Id: q.Id, StatusCode: 'Complete', Timestamps: age === undefined ? [] : [Math.floor(Date.now() / 1000)], Values: age === undefined ? [] : [age] };
            }),
          },
        };
      case 'Logs_20140328.StartQuery': {
        const queryId = `q${queries.size + 1}`;
        queries.set(queryId, { results: account.query(body.queryString), polls: 0 });
        return { status: 200, json: { queryId } };
      }
      case 'Logs_20140328.GetQueryResults': {
        const q = queries.get(body.queryId);
        if (!q) return { status: 400, json: { __type: 'ResourceNotFoundException', message: `no query ${body.queryId}` } };
        q.polls += 1;
        if (q.polls === 1) return { status: 200, json: { status: 'Running', results: [] } };
        return { status: 200, json: { status: 'Complete', results: q.results.map((line) => Object.entries(line).map(([field, value]) => ({ field, value }))) } };
      }
      default:
        return { status: 400, json: { __type: 'UnknownOperationException', message: `the stand-in does not serve ${target}` } };
    }
  });
  return { ...server, requests };
}
