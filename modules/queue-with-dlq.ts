import { Construct } from 'constructs';
import { SqsQueue } from '@cdktf/provider-aws/lib/sqs-queue';
import { SqsQueuePolicy } from '@cdktf/provider-aws/lib/sqs-queue-policy';
import { SqsQueueRedriveAllowPolicy } from '@cdktf/provider-aws/lib/sqs-queue-redrive-allow-policy';
import { opsAlarm } from './ops-alarm';
import { denyInsecureTransport, policyJson } from './iam-statements';

export interface QueueWithDlqProps {
  name: string;
  visibilityTimeoutSeconds: number;
  retentionDays: number;
  dlqRetentionDays: number;
  maxReceiveCount: number;
  /** Alarm when the oldest message has waited this long: the workers are not keeping up. */
  maxMessageAgeSeconds: number;
  alarmTopicArn: string;
}

export interface QueueRefs {
  url: string;
  arn: string;
  name: string;
}

const DAY = 86_400;

/**
 * A standard SQS queue with its dead-letter queue: SQS-managed SSE (free), TLS-only policy,
 * long polling (fewer billed empty receives), a DLQ that accepts only this queue's messages,
 * and alarms on DLQ depth and on the age of the oldest message.
 */
export class QueueWithDlq extends Construct {
  readonly queue: SqsQueue;
  readonly dlq: SqsQueue;
  readonly refs: QueueRefs;

  constructor(scope: Construct, id: string, props: QueueWithDlqProps) {
    super(scope, id);
    this.dlq = new SqsQueue(this, 'dlq', {
      name: `${props.name}-dlq`,
      messageRetentionSeconds: props.dlqRetentionDays * DAY,
      sqsManagedSseEnabled: true,
    });
    this.queue = new SqsQueue(this, 'queue', {
      name: props.name,
      visibilityTimeoutSeconds: props.visibilityTimeoutSeconds,
      messageRetentionSeconds: props.retentionDays * DAY,
      receiveWaitTimeSeconds: 20,
      sqsManagedSseEnabled: true,
      redrivePolicy: JSON.stringify({ deadLetterTargetArn: this.dlq.arn, maxReceiveCount: props.maxReceiveCount }),
    });
    new SqsQueueRedriveAllowPolicy(this, 'dlq-allow', {
      queueUrl: this.dlq.url,
      redriveAllowPolicy: JSON.stringify({ redrivePermission: 'byQueue', sourceQueueArns: [this.queue.arn] }),
    });
    for (const [key, queue] of [['queue', this.queue], ['dlq', this.dlq]] as const) {
      new SqsQueuePolicy(this, `${key}-policy`, {
        queueUrl: queue.url,
        policy: policyJson([denyInsecureTransport('sqs:*', queue.arn)]),
      });
    }

    opsAlarm(this, 'dlq-depth', {
      alarmName: `${props.name}-dlq-not-empty`,
      alarmDescription: `Messages of ${props.name} failed ${props.maxReceiveCount} times and wait in the DLQ`,
      runbook: 'dlq-growing',
      topicArn: props.alarmTopicArn,
      namespace: 'AWS/SQS',
      metricName: 'ApproximateNumberOfMessagesVisible',
      dimensions: { QueueName: this.dlq.name },
      statistic: 'Maximum',
    });
    opsAlarm(this, 'oldest-message', {
      alarmName: `${props.name}-oldest-message-age`,
      alarmDescription: `The oldest message of ${props.name} is older than ${props.maxMessageAgeSeconds} s: jobs wait and nothing takes them`,
      runbook: 'orders-stuck',
      topicArn: props.alarmTopicArn,
      namespace: 'AWS/SQS',
      metricName: 'ApproximateAgeOfOldestMessage',
      dimensions: { QueueName: this.queue.name },
      statistic: 'Maximum',
      evaluationPeriods: 2,
      threshold: props.maxMessageAgeSeconds,
    });

    this.refs = {
      url: this.queue.url,
      arn: this.queue.arn,
      name: this.queue.name,
    };
  }
}
