import { Statement } from '../../modules/iam-statements';
import { arns, BUCKET_CONFIG_READS, CiPolicyContext, denyDataObjects, publicAmiParameters, stateStatements } from './context';

/** Data that neither role ever needs: secret values, customer documents, logs, queue messages. */
export const DATA_READ_ACTIONS = [
  'secretsmanager:GetSecretValue',
  'logs:GetLogEvents',
  'logs:FilterLogEvents',
  'logs:StartQuery',
  'logs:GetQueryResults',
  'sqs:ReceiveMessage',
  'ecr:BatchGetImage',
  'ecr:GetDownloadUrlForLayer',
  'rds:DownloadDBLogFilePortion',
  'kms:Decrypt',
];

/** The role pull requests run `terraform plan` with: metadata reads and the state lock, never data. */
export function planStatements(c: CiPolicyContext): Statement[] {
  const { region: r, accountId: a } = c;
  return [
    ...stateStatements(c, false),
    {
      sid: 'RefreshDescribe',
      actions: [
        'ec2:Describe*',
        'rds:Describe*',
        'rds:ListTagsForResource',
        'elasticache:Describe*',
        'elasticache:ListTagsForResource',
        'ecs:Describe*',
        'ecs:List*',
        'ecr:DescribeRepositories',
        'ecr:DescribeImages',
        'ecr:GetLifecyclePolicy',
        'ecr:GetRepositoryPolicy',
        'ecr:ListTagsForResource',
        'application-autoscaling:Describe*',
        'application-autoscaling:ListTagsForResource',
        'cloudwatch:DescribeAlarms',
        'cloudwatch:ListTagsForResource',
        'logs:DescribeLogGroups',
        'logs:ListTagsForResource',
        'logs:ListTagsLogGroup',
        'wafv2:Get*',
        'wafv2:List*',
        'cloudfront:Get*',
        'cloudfront:List*',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:ListQueueTags',
        'sqs:ListDeadLetterSourceQueues',
        'sns:GetTopicAttributes',
        'sns:GetSubscriptionAttributes',
        'sns:ListSubscriptionsByTopic',
        'sns:ListTagsForResource',
        'secretsmanager:DescribeSecret',
        'secretsmanager:GetResourcePolicy',
        'iam:Get*',
        'iam:List*',
        'budgets:ViewBudget',
        'budgets:ListTagsForResource',
        'kms:DescribeKey',
        'sts:GetCallerIdentity',
      ],
      resources: ['*'],
      justification:
        'Describe/List/Get metadata calls Terraform refresh makes across every resource type of the ' +
        'environments; most have no resource-level permission (ec2:Describe*, ecs:List*, ' +
        'application-autoscaling:Describe*) and none returns data (secret values, objects, logs and ' +
        'messages are denied below).',
    },
    {
      sid: 'RefreshBuckets',
      // Bucket-level reads only: none is authorised on an object, though `<prefix>-*` matches objects too.
      actions: BUCKET_CONFIG_READS,
      resources: arns(c, (p) => `arn:aws:s3:::${p}-*`),
    },
    {
      sid: 'RefreshLambda',
      actions: ['lambda:Get*', 'lambda:List*'],
      resources: arns(c, (p) => `arn:aws:lambda:${r}:${a}:function:${p}-*`),
    },
    {
      sid: 'RefreshApiGateway',
      actions: ['apigateway:GET'],
      resources: [`arn:aws:apigateway:${r}::/restapis*`, `arn:aws:apigateway:${r}::/tags/*`, `arn:aws:apigateway:${r}::/account`],
    },
    publicAmiParameters(c),
    {
      sid: 'DenyDataReads',
      effect: 'Deny',
      actions: DATA_READ_ACTIONS,
      resources: ['*'],
      justification: 'A deny guard: whatever read policy is attached later, plan never reads data.',
    },
    denyDataObjects(c),
    {
      sid: 'DenyObjectReadsOutsideState',
      effect: 'Deny',
      actions: ['s3:GetObject', 's3:GetObjectVersion'],
      resources: arns(c, (p) => `arn:aws:s3:::${p}-*/*`),
    },
  ];
}
