import { Construct } from 'constructs';
import { CloudwatchMetricAlarm } from '@cdktf/provider-aws/lib/cloudwatch-metric-alarm';

/**
 * The sections of docs/operations.md an alarm (or a budget alert) sends the person on call to:
 * every operational alarm names one, and each is a heading of that file (test/infra/dashboard.test.ts).
 */
export const RUNBOOKS = ['dlq-growing', 'orders-stuck', 'egress-down', 'gemini-outage', 'rds-exhausted', 'spot-unavailable', 'bad-release', 'budget-alert'] as const;
export type Runbook = (typeof RUNBOOKS)[number];

/** The line every operational alarm's description ends with. */
export const runbookLine = (runbook: Runbook): string => `Runbook: docs/operations.md#${runbook}`;

export interface OpsAlarmProps {
  alarmName: string;
  /** What is wrong, for the person who reads the notification; the runbook line is appended. */
  alarmDescription: string;
  /** Where the person on call starts (a section of docs/operations.md). */
  runbook: Runbook;
  /** The environment's alarm topic: it hears both the alarm and its recovery. */
  topicArn: string;
  namespace: string;
  metricName: string;
  dimensions: Record<string, string>;
  statistic?: 'Sum' | 'Average' | 'Maximum' | 'Minimum';
  /** Defaults: over 0 once in a 5-minute period. */
  threshold?: number;
  comparisonOperator?: 'GreaterThanThreshold' | 'LessThanThreshold';
  period?: number;
  evaluationPeriods?: number;
  /** A silent metric is healthy unless said otherwise (RDS going quiet is not). */
  treatMissingData?: 'notBreaching' | 'breaching';
}

/**
 * An operational alarm of one metric, notifying the environment's alarm topic on alarm and on
 * recovery (OK), its description naming its runbook.
 */
export function opsAlarm(scope: Construct, id: string, props: OpsAlarmProps): CloudwatchMetricAlarm {
  return new CloudwatchMetricAlarm(scope, id, {
    alarmName: props.alarmName,
    alarmDescription: `${props.alarmDescription}. ${runbookLine(props.runbook)}`,
    namespace: props.namespace,
    metricName: props.metricName,
    dimensions: props.dimensions,
    statistic: props.statistic ?? 'Sum',
    period: props.period ?? 300,
    evaluationPeriods: props.evaluationPeriods ?? 1,
    threshold: props.threshold ?? 0,
    comparisonOperator: props.comparisonOperator ?? 'GreaterThanThreshold',
    treatMissingData: props.treatMissingData ?? 'notBreaching',
    alarmActions: [props.topicArn],
    okActions: [props.topicArn],
  });
}
