import { Construct } from 'constructs';
import { CloudwatchMetricAlarm } from '@cdktf/provider-aws/lib/cloudwatch-metric-alarm';

export interface OpsAlarmProps {
  alarmName: string;
  alarmDescription: string;
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

/** An operational alarm of one metric, notifying the environment's alarm topic on alarm and on recovery. */
export function opsAlarm(scope: Construct, id: string, props: OpsAlarmProps): CloudwatchMetricAlarm {
  return new CloudwatchMetricAlarm(scope, id, {
    alarmName: props.alarmName,
    alarmDescription: props.alarmDescription,
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
