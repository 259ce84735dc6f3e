import { Construct } from 'constructs';
import { SnsTopic } from '@cdktf/provider-aws/lib/sns-topic';
import { SnsTopicPolicy } from '@cdktf/provider-aws/lib/sns-topic-policy';
import { SnsTopicSubscription } from '@cdktf/provider-aws/lib/sns-topic-subscription';
import { denyInsecureTransport, policyJson } from './iam-statements';

export interface AlarmTopicProps {
  name: string;
  /**
   * E-mail subscribers (config `alarms.emails`). Each subscription stays pending until its
   * address follows the link SNS mails it: confirmed out of band, never by Terraform.
   */
  emails: string[];
}

/**
 * The topic every alarm and budget alert of an environment publishes to. It is left without
 * SSE: CloudWatch and AWS Budgets cannot publish to a topic under the AWS-managed SNS key, and
 * a CMK ($1/month) buys nothing for alarm texts, which carry no data. Only CloudWatch and
 * Budgets may publish, and only over TLS.
 */
export class AlarmTopic extends Construct {
  readonly topic: SnsTopic;

  constructor(scope: Construct, id: string, props: AlarmTopicProps) {
    super(scope, id);
    this.topic = new SnsTopic(this, 'topic', { name: props.name });
    new SnsTopicPolicy(this, 'policy', {
      arn: this.topic.arn,
      policy: policyJson([
        {
          sid: 'AllowAlarmPublishers',
          principal: { Service: ['cloudwatch.amazonaws.com', 'budgets.amazonaws.com'] },
          actions: ['sns:Publish'],
          resources: [this.topic.arn],
          scalar: ['actions', 'resources'],
        },
        denyInsecureTransport('sns:Publish', this.topic.arn),
      ]),
    });
    props.emails.forEach((email, i) => {
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) throw new Error(`alarms.emails[${i}]: "${email}" is not an e-mail address`);
      new SnsTopicSubscription(this, `email-${i}`, { topicArn: this.topic.arn, protocol: 'email', endpoint: email });
    });
  }
}
