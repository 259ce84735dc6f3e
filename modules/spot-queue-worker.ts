import { Construct } from 'constructs';
import { ITerraformDependable } from 'cdktf';
import { AppautoscalingPolicy } from '@cdktf/provider-aws/lib/appautoscaling-policy';
import { AppautoscalingScheduledAction } from '@cdktf/provider-aws/lib/appautoscaling-scheduled-action';
import { AppautoscalingTarget } from '@cdktf/provider-aws/lib/appautoscaling-target';
import { CloudwatchMetricAlarm } from '@cdktf/provider-aws/lib/cloudwatch-metric-alarm';
import { EcsService, EcsServiceCapacityProviderStrategy } from '@cdktf/provider-aws/lib/ecs-service';
import { FargateTask } from './fargate-task';
import { Grants } from './iam-grants';

/** Minutes the queues must stay completely empty (nothing visible, nothing in flight) before the service goes back to 0. */
export const SCALE_IN_AFTER_MINUTES = 5;
/** Seconds between two scale-out steps: about the time a new task needs to pull, start and take messages. */
export const SCALE_OUT_COOLDOWN_SECONDS = 120;
/** Minutes a scheduled wake keeps one task up: its start (image pull, boot) and what it does on its own at start. */
export const WAKE_MINUTES = 5;
/** The hours a wake may recur every: divisors of 24, so that wakes fall at the same times each day. */
const WAKE_PERIODS = [1, 2, 3, 4, 6, 8, 12, 24];

export interface SpotQueueWorkerProps {
  /** Service, task family, roles and log group name, e.g. `docplatform-dev-doc-generation`. */
  name: string;
  region: string;
  /** The account whose ECS tasks alone may take the task role. */
  accountId: string;
  cluster: { name: string; arn: string };
  repository: { url: string; arn: string };
  imageTag: string;
  /** 1024 = 1 vCPU. */
  cpu: number;
  memoryMb: number;
  /** Upper bound of the service's desired count. */
  maxTasks: number;
  /** Queue depth one task absorbs; sets the backlog at which scale-out adds more than one task. */
  messagesPerTask: number;
  /** The queues whose depth, added up, drives the service, and which the task role may consume. */
  queues: { arn: string; name: string }[];
  environment: Record<string, string>;
  /** Grants beyond consuming `queues` (which is always granted). */
  grants: Grants;
  subnetIds: string[];
  securityGroupIds: string[];
  logRetentionDays: number;
  /** Add the on-demand FARGATE provider at weight 0, so ops can shift weight to it when Spot capacity is short. */
  onDemandFallback: boolean;
  /** Permissions boundary ARN the task's roles carry. */
  permissionsBoundary?: string;
  /** The cluster's capacity provider association (the service must be created after it). */
  dependsOn?: ITerraformDependable[];
  /**
   * Start one task every this many hours (a divisor of 24, from 00:00 UTC) for WAKE_MINUTES, empty
   * queues or not, for the work a task does on its own at start (the doc worker's sweeper ends the
   * orders whose messages were lost). Unset: tasks start for messages only.
   */
  wakeEveryHours?: number;
}

/**
 * A queue consumer on Fargate Spot that costs nothing while its queues are empty: the service sits
 * at desired 0 and Application Auto Scaling starts tasks from the queues' depth (the sum over its
 * queues, by metric math: doc-generation's interactive and batch queues count alike).
 *
 * Target tracking cannot start the first task (no task, no metric), so scaling is by steps:
 * - out: `ApproximateNumberOfMessagesVisible > 0` adds 1 task, 2 once the backlog reaches
 *   `messagesPerTask`, 4 beyond four times that, up to `maxTasks`, re-evaluated every minute;
 * - in: visible + in flight == 0 for SCALE_IN_AFTER_MINUTES sets the count to 0. Nothing scales
 *   in while a message is in flight, so no task is stopped mid-job by the scaler (Spot
 *   interruptions still are: workers stop cleanly on SIGTERM within the 120 s stopTimeout).
 * Terraform ignores `desired_count` after creation so that a deploy never fights the scaler.
 */
export class SpotQueueWorker extends Construct {
  readonly task: FargateTask;
  readonly service: EcsService;
  readonly scaleOutAlarm: CloudwatchMetricAlarm;
  readonly scaleInAlarm: CloudwatchMetricAlarm;

  constructor(scope: Construct, id: string, props: SpotQueueWorkerProps) {
    super(scope, id);
    this.task = new FargateTask(this, 'task', {
      family: props.name,
      region: props.region,
      accountId: props.accountId,
      cpu: props.cpu,
      memoryMb: props.memoryMb,
      repository: props.repository,
      imageTag: props.imageTag,
      environment: props.environment,
      grants: { ...props.grants, consumeFrom: [...props.queues.map((q) => q.arn), ...(props.grants.consumeFrom ?? [])] },
      logRetentionDays: props.logRetentionDays,
      permissionsBoundary: props.permissionsBoundary,
    });

    const strategy: EcsServiceCapacityProviderStrategy[] = [{ capacityProvider: 'FARGATE_SPOT', weight: 1, base: 0 }];
    if (props.onDemandFallback) strategy.push({ capacityProvider: 'FARGATE', weight: 0, base: 0 });

    this.service = new EcsService(this, 'service', {
      name: props.name,
      cluster: props.cluster.arn,
      taskDefinition: this.task.taskDefinition.arn,
      desiredCount: 0,
      capacityProviderStrategy: strategy,
      platformVersion: 'LATEST',
      networkConfiguration: { subnets: props.subnetIds, securityGroups: props.securityGroupIds, assignPublicIp: false },
      deploymentCircuitBreaker: { enable: true, rollback: true },
      // With provider 5.x a change of capacity_provider_strategy (the on-demand fallback added or
      // removed, a weight moved) replaces the service unless the update forces a new deployment;
      // this makes it an in-place update. A service at desired 0 starts no task for it.
      forceNewDeployment: true,
      propagateTags: 'SERVICE',
      enableEcsManagedTags: true,
      lifecycle: { ignoreChanges: ['desired_count'] },
      dependsOn: props.dependsOn,
    });

    const target = new AppautoscalingTarget(this, 'scaling-target', {
      serviceNamespace: 'ecs',
      scalableDimension: 'ecs:service:DesiredCount',
      resourceId: `service/${props.cluster.name}/${this.service.name}`,
      minCapacity: 0,
      maxCapacity: props.maxTasks,
    });

    if (props.wakeEveryHours !== undefined) this.scheduleWake(target, props.name, props.maxTasks, props.wakeEveryHours);

    const m = props.messagesPerTask;
    const scaleOut = new AppautoscalingPolicy(this, 'scale-out', {
      name: `${props.name}-scale-out`,
      policyType: 'StepScaling',
      serviceNamespace: target.serviceNamespace,
      scalableDimension: target.scalableDimension,
      resourceId: target.resourceId,
      stepScalingPolicyConfiguration: {
        adjustmentType: 'ChangeInCapacity',
        cooldown: SCALE_OUT_COOLDOWN_SECONDS,
        metricAggregationType: 'Maximum',
        stepAdjustment: [
          { metricIntervalLowerBound: '0', metricIntervalUpperBound: String(m), scalingAdjustment: 1 },
          { metricIntervalLowerBound: String(m), metricIntervalUpperBound: String(4 * m), scalingAdjustment: 2 },
          { metricIntervalLowerBound: String(4 * m), scalingAdjustment: 4 },
        ],
      },
    });

    const scaleIn = new AppautoscalingPolicy(this, 'scale-in', {
      name: `${props.name}-scale-in`,
      policyType: 'StepScaling',
      serviceNamespace: target.serviceNamespace,
      scalableDimension: target.scalableDimension,
      resourceId: target.resourceId,
      stepScalingPolicyConfiguration: {
        adjustmentType: 'ExactCapacity',
        cooldown: 60,
        metricAggregationType: 'Maximum',
        stepAdjustment: [{ metricIntervalUpperBound: '0', scalingAdjustment: 0 }],
      },
    });

    if (props.queues.length === 0) throw new Error(`${props.name}: a queue worker needs at least one queue`);
    const names = props.queues.map((q) => q.name).join(' + ');
    // One query per queue and metric, summed: the scaler sees the backlog of every queue the task serves.
    const sqsMetrics = (id: string, metricName: string) =>
      props.queues.map((q, i) => ({
        id: `${id}${i}`,
        metric: { namespace: 'AWS/SQS', metricName, dimensions: { QueueName: q.name }, period: 60, stat: 'Maximum' },
        returnData: false,
      }));
    const sum = (id: string) => props.queues.map((_, i) => `${id}${i}`).join(' + ');
    this.scaleOutAlarm = new CloudwatchMetricAlarm(this, 'backlog-alarm', {
      alarmName: `${props.name}-backlog`,
      alarmDescription: `Messages wait in ${names}: add ${props.name} tasks`,
      metricQuery: [
        ...sqsMetrics('visible', 'ApproximateNumberOfMessagesVisible'),
        { id: 'backlog', expression: sum('visible'), label: 'messages visible', returnData: true },
      ],
      evaluationPeriods: 1,
      threshold: 0,
      comparisonOperator: 'GreaterThanThreshold',
      treatMissingData: 'notBreaching',
      alarmActions: [scaleOut.arn],
    });

    this.scaleInAlarm = new CloudwatchMetricAlarm(this, 'idle-alarm', {
      alarmName: `${props.name}-idle`,
      alarmDescription: `${names} empty with nothing in flight: stop every ${props.name} task`,
      metricQuery: [
        ...sqsMetrics('visible', 'ApproximateNumberOfMessagesVisible'),
        ...sqsMetrics('inflight', 'ApproximateNumberOfMessagesNotVisible'),
        { id: 'total', expression: `${sum('visible')} + ${sum('inflight')}`, label: 'messages visible or in flight', returnData: true },
      ],
      evaluationPeriods: SCALE_IN_AFTER_MINUTES,
      datapointsToAlarm: SCALE_IN_AFTER_MINUTES,
      // Integer counts: "< 0.5" is "== 0" without relying on how a bound of exactly 0 is classified.
      threshold: 0.5,
      comparisonOperator: 'LessThanThreshold',
      // SQS stops publishing metrics for a queue idle for hours: no data means nothing to do.
      treatMissingData: 'breaching',
      alarmActions: [scaleIn.arn],
    });
  }

  /**
   * Two scheduled actions on the scaling target: the minimum goes to 1 (the service starts a task),
   * then back to 0 WAKE_MINUTES later, when the idle alarm, which invokes its scale-in policy every
   * minute it stays in alarm, stops the task unless messages arrived meanwhile.
   */
  private scheduleWake(target: AppautoscalingTarget, name: string, maxTasks: number, everyHours: number): void {
    if (!WAKE_PERIODS.includes(everyHours)) throw new Error(`${name}: wakeEveryHours must divide 24 (one of ${WAKE_PERIODS.join(', ')}), got ${everyHours}`);
    const action = (id: string, minute: number, minCapacity: number) =>
      new AppautoscalingScheduledAction(this, id, {
        name: `${name}-${id}`,
        serviceNamespace: target.serviceNamespace,
        scalableDimension: target.scalableDimension,
        resourceId: target.resourceId,
        schedule: `cron(${minute} 0/${everyHours} * * ? *)`,
        scalableTargetAction: { minCapacity: String(minCapacity), maxCapacity: String(maxTasks) },
        dependsOn: [target],
      });
    action('wake', 0, 1);
    action('wake-end', WAKE_MINUTES, 0);
  }
}
