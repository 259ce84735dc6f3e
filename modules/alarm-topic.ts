import { Construct } from 'constructs';
import { SnsTopic } from '@cdktf/provider-aws/lib/sns-topic';
import { SnsTopicPolicy } from '@cdktf/provider-aws/lib/sns-topic-policy';
import { SnsTopicSubscription } from '@cdktf/provider-aws/lib/sns-topic-subscription';
import { denyInsecureTransport, policyJson } from './iam-statements';

export interface AlarmTopicProps {
  name: string;
  region: string;
  /** The account whose alarms and budgets may publish (the topic's own). */
  accountId: string;
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
 * Budgets may publish, only over TLS, and only for this account's alarms and budgets
 * (aws:SourceAccount and aws:SourceArn, the conditions both services document): a service
 * principal alone would let any account's alarm or budget publish here (the confused deputy).
 */
export class AlarmTopic extends Construct {
  readonly topic: SnsTopic;

  constructor(scope: Construct, id: string, props: AlarmTopicProps) {
    super(scope, id);
    const fromThisAccount = (sourceArn: string) => ({ StringEquals: { 'aws:SourceAccount': props.accountId }, ArnLike: { 'aws:SourceArn': sourceArn } });
    this.topic = new SnsTopic(this, 'topic', { name: props.name });
    new SnsTopicPolicy(this, 'policy', {
      arn: this.topic.arn,
      policy: policyJson([
        {
          sid: 'AllowThisAccountsAlarms',
          principal: { Service: 'cloudwatch.amazonaws.com' },
          actions: ['sns:Publish'],
          resources: [this.topic.arn],
          conditions: fromThisAccount(`arn:aws:cloudwatch:${props.region}:${props.accountId}:alarm:*`),
          scalar: ['actions', 'resources'],
        },
        {
          sid: 'AllowThisAccountsBudgets',
          principal: { Service: 'budgets.amazonaws.com' },
          actions: ['sns:Publish'],
          resources: [this.topic.arn],
          conditions: fromThisAccount(`arn:aws:budgets::${props.accountId}:*`),
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
