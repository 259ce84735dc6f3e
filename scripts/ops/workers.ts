import { ApplicationAutoScalingClient, DescribeScalingActivitiesCommand } from '@aws-sdk/client-application-auto-scaling';
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeServicesCommand, ECSClient } from '@aws-sdk/client-ecs';
import { namePrefix, QueueName, QUEUES, WORKER_NAMES, WorkerName } from '../../core/contract';
import { WORKER_ACCESS } from '../../stacks/access';
import { readLocalLog } from '../local/log-file';
import { localStorySource } from './story';
import type { OpsTarget } from './target';
import { queueAttributes } from './target';

/**
 * `npm run ops -- workers status`: for each queue worker, its tasks, its queues (doc-generation:
 * doc-jobs and batch-doc-jobs, in the order it serves them) and its last
 * scaling step. In AWS: ECS DescribeServices (desired/running/pending tasks, capacity provider
 * strategy, last service event), SQS GetQueueAttributes (waiting, in flight, delayed; the DLQ's
 * waiting), CloudWatch GetMetricData for the age of the oldest message (SQS answers no such
 * attribute; the metric is the one the alarm and the dashboard read, a minute or two behind),
 * Application Auto Scaling DescribeScalingActivities (the last activity of the service's
 * scalable target). Locally (`--endpoint`, the emulator of `npm run dev`) there is no ECS: the
 * queue figures come from fauxqs (the oldest age from its inspection route), and the worker's
 * state from the local log file, as far as its lines tell it (started, drained, last job done).
 */
export interface QueueFigures {
  name: string;
  visible: number;
  inFlight: number;
  delayed: number;
  /** Seconds; undefined when nothing waits or the source has no figure. */
  oldestAgeSeconds?: number;
  dlqVisible: number;
}

export interface WorkerStatus {
  worker: WorkerName;
  /** The queues it consumes, most urgent first. */
  queues: QueueFigures[];
  /** AWS: the ECS service. */
  service?: {
    name: string;
    status?: string;
    desired: number;
    running: number;
    pending: number;
    capacityProviders: string[];
    lastEvent?: { time?: string; message?: string };
  };
  /** AWS: the last activity of the service's scalable target. */
  lastScaling?: { time?: string; status?: string; description?: string; cause?: string };
  /** Locally: what the local log file says of the worker in `npm run dev`. */
  local?: { state: 'running' | 'stopped' | 'never started'; since?: string; lastJobDoneAt?: string };
}

export interface WorkersReport {
  env: string;
  source: string;
  workers: WorkerStatus[];
}

const num = (v: string | undefined): number => Number(v ?? 0);
const iso = (d: Date | undefined): string | undefined => (d ? new Date(d).toISOString() : undefined);

async function queueFigures(target: OpsTarget, queue: QueueName): Promise<{ figures: QueueFigures; url: string }> {
  const q = await target.queue(QUEUES[queue]);
  const main = await queueAttributes(target.sqs, q.url, ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed']);
  const dlq = await queueAttributes(target.sqs, q.dlqUrl, ['ApproximateNumberOfMessages']);
  return {
    url: q.url,
    figures: {
      name: q.name,
      visible: num(main.ApproximateNumberOfMessages),
      inFlight: num(main.ApproximateNumberOfMessagesNotVisible),
      delayed: num(main.ApproximateNumberOfMessagesDelayed),
      dlqVisible: num(dlq.ApproximateNumberOfMessages),
    },
  };
}

export interface AwsClients {
  ecs: ECSClient;
  scaling: ApplicationAutoScalingClient;
  cloudwatch: CloudWatchClient;
  now?: () => number;
}

export async function awsWorkersStatus(target: OpsTarget, clients: AwsClients): Promise<WorkersReport> {
  const cluster = namePrefix(target.env);
  const serviceName = (w: WorkerName) => `${cluster}-${w}`;
  const { services = [], failures = [] } = await clients.ecs.send(new DescribeServicesCommand({ cluster, services: WORKER_NAMES.map(serviceName) }));
  const consumed = WORKER_NAMES.flatMap((worker) => WORKER_ACCESS[worker].queues.map((queue) => ({ worker, queue })));
  const queues = await Promise.all(consumed.map((c) => queueFigures(target, c.queue)));
  const ages = await cloudWatchOldestAges(clients.cloudwatch, queues.map((q) => q.figures.name), clients.now?.() ?? Date.now());
  const workers: WorkerStatus[] = [];
  for (const worker of WORKER_NAMES) {
    const name = serviceName(worker);
    const service = services.find((s) => s.serviceName === name);
    const failure = failures.find((f) => f.arn?.endsWith(`/${name}`));
    const figures = consumed.flatMap((c, i) => {
      if (c.worker !== worker) return [];
      const age = ages[i];
      return [{ ...queues[i].figures, ...(age !== undefined ? { oldestAgeSeconds: age } : {}) }];
    });
    const { ScalingActivities: scalingActivities = [] } = await clients.scaling.send(
      new DescribeScalingActivitiesCommand({ ServiceNamespace: 'ecs', ResourceId: `service/${cluster}/${name}`, ScalableDimension: 'ecs:service:DesiredCount', MaxResults: 1 }),
    );
    const [last] = scalingActivities;
    workers.push({
      worker,
      queues: figures,
      service: service
        ? {
            name,
            status: service.status,
            desired: service.desiredCount ?? 0,
            running: service.runningCount ?? 0,
            pending: service.pendingCount ?? 0,
            capacityProviders: (service.capacityProviderStrategy ?? []).map((c) => `${c.capacityProvider}:${c.weight ?? 0}`),
            lastEvent: service.events?.[0] ? { time: iso(service.events[0].createdAt), message: service.events[0].message } : undefined,
          }
        : { name, status: failure?.reason ?? 'MISSING', desired: 0, running: 0, pending: 0, capacityProviders: [] },
      ...(last ? { lastScaling: { time: iso(last.StartTime), status: last.StatusCode, description: last.Description, cause: last.Cause } } : {}),
    });
  }
  return { env: target.env, source: `ECS cluster ${cluster}, SQS, CloudWatch and Application Auto Scaling in ${target.region}`, workers };
}

/** Each queue's latest ApproximateAgeOfOldestMessage of the last 15 minutes (the alarm's metric), in the order given; undefined where none. */
export async function cloudWatchOldestAges(cloudwatch: CloudWatchClient, queueNames: string[], now: number): Promise<(number | undefined)[]> {
  const end = new Date(now);
  const out = await cloudwatch.send(
    new GetMetricDataCommand({
      StartTime: new Date(end.getTime() - 15 * 60_000),
      EndTime: end,
      ScanBy: 'TimestampDescending',
      MetricDataQueries: queueNames.map((name, i) => ({
        Id: `age${i}`,
        MetricStat: { Metric: { Namespace: 'AWS/SQS', MetricName: 'ApproximateAgeOfOldestMessage', Dimensions: [{ Name: 'QueueName', Value: name }] }, Period: 60, Stat: 'Maximum' },
      })),
    }),
  );
  return queueNames.map((_, i) => out.MetricDataResults?.find((r) => r.Id === `age${i}`)?.Values?.[0]);
}

/** fauxqs's inspection route: the messages waiting, with the time each was sent. */
export async function localOldestAgeSeconds(endpoint: string, queueName: string, now: number): Promise<number | undefined> {
  const res = await fetch(`${endpoint}/_fauxqs/queues/${encodeURIComponent(queueName)}`);
  if (!res.ok) return undefined;
  const body = (await res.json()) as { messages?: { ready?: { sentTimestamp?: number }[] } };
  const sent = (body.messages?.ready ?? []).map((m) => m.sentTimestamp).filter((t): t is number => typeof t === 'number');
  return sent.length > 0 ? Math.max(0, Math.round((now - Math.min(...sent)) / 1000)) : undefined;
}

/** What `npm run dev`'s log says of a worker: its consumer's last start or drain, its last finished job. */
function localWorkerState(lines: Record<string, unknown>[], worker: WorkerName): NonNullable<WorkerStatus['local']> {
  const mine = lines.filter((l) => l.service === worker && l.component === 'consumer');
  const lifecycle = mine.filter((l) => l.msg === 'consumer started' || l.msg === 'drained').at(-1);
  const lastDone = mine.filter((l) => l.msg === 'message done').at(-1);
  const state = !lifecycle ? 'never started' : lifecycle.msg === 'consumer started' ? 'running' : 'stopped';
  return { state, ...(lifecycle ? { since: String(lifecycle.time) } : {}), ...(lastDone ? { lastJobDoneAt: String(lastDone.time) } : {}) };
}

export async function localWorkersStatus(target: OpsTarget, logFile: string, now: () => number = Date.now): Promise<WorkersReport> {
  const lines = readLocalLog(logFile);
  const workers: WorkerStatus[] = [];
  for (const worker of WORKER_NAMES) {
    const queues: QueueFigures[] = [];
    for (const queue of WORKER_ACCESS[worker].queues) {
      const { figures } = await queueFigures(target, queue);
      const age = await localOldestAgeSeconds(target.endpoint!, figures.name, now());
      queues.push({ ...figures, ...(age !== undefined ? { oldestAgeSeconds: age } : {}) });
    }
    workers.push({ worker, queues, local: localWorkerState(lines, worker) });
  }
  return { env: target.env, source: `the emulator at ${target.endpoint} and ${localStorySource(logFile).describe} (no ECS locally: the workers run in npm run dev's process)`, workers };
}
