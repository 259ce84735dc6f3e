import { Statement } from '../../modules/iam-statements';
import { ENI_ACTIONS } from '../../modules/iam-grants';
import { CiPolicyContext } from './context';

/**
 * The permissions boundary of every workload role (Lambda, ECS task, NAT instance, API Gateway
 * logging). It caps by action; each role's own policy names the resources.
 */
export function workloadBoundaryStatements(c: CiPolicyContext): Statement[] {
  return [
    {
      sid: 'WorkloadActions',
      actions: [
        'logs:CreateLogGroup',
        'logs:CreateLogStream',
        'logs:PutLogEvents',
        'logs:DescribeLogGroups',
        'logs:DescribeLogStreams',
        'sqs:SendMessage',
        'sqs:ReceiveMessage',
        'sqs:DeleteMessage',
        'sqs:ChangeMessageVisibility',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        's3:GetObject',
        's3:PutObject',
        's3:DeleteObject',
        's3:ListBucket',
        's3:AbortMultipartUpload',
        'secretsmanager:GetSecretValue',
        'secretsmanager:DescribeSecret',
        'lambda:InvokeFunction',
        'ecr:GetAuthorizationToken',
        'ecr:BatchGetImage',
        'ecr:GetDownloadUrlForLayer',
        'ecr:BatchCheckLayerAvailability',
        'cloudwatch:PutMetricData',
        'xray:PutTraceSegments',
        'xray:PutTelemetryRecords',
        ...ENI_ACTIONS,
        'ec2:ModifyInstanceAttribute',
        'elasticache:Connect',
        'rds-db:connect',
        'kms:Decrypt',
        'kms:GenerateDataKey',
        'ssm:GetParameter',
        'ssm:GetParameters',
      ],
      resources: ['*'],
      justification: 'A permissions boundary caps actions; the resources are named by each role\u2019s own policy.',
    },
    {
      sid: 'NeverTheState',
      effect: 'Deny',
      actions: ['s3:*'],
      resources: [`arn:aws:s3:::${c.stateBucket}`, `arn:aws:s3:::${c.stateBucket}/*`],
    },
  ];
}
