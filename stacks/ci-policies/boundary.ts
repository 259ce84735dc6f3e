import { Statement } from '../../modules/iam-statements';
import { ECR_AUTH_ACTION, ENI_DESCRIBE_ACTIONS, ENI_MANAGE_ACTIONS, ENI_RESOURCE_TYPES, ssmAgentStatements } from '../../modules/iam-grants';
import { EnvironmentPolicyContext } from './context';

/**
 * The permissions boundary of every workload role of one environment (Lambda, ECS task and
 * execution roles, API Gateway logging): `docplatform-<env>-workload-boundary`. Each role's
 * own policy names the exact resources; the boundary is the ceiling that holds whatever that
 * policy says, or a role the environment's deploy role creates with a policy of its choosing:
 *
 * - the data actions (secret values, objects, messages, invocations) reach this environment's
 *   resources only (its name prefix; the RDS-managed `rds!…` secret by the tag RDS puts on it),
 *   and KMS decrypts only for Secrets Manager, hence only those secrets;
 * - nothing in IAM and no role assumption: a role created under the boundary cannot widen
 *   itself, create another role, or become a stepping stone into any other role;
 * - never the state bucket.
 */
export function workloadBoundaryStatements(c: EnvironmentPolicyContext): Statement[] {
  const { region: r, accountId: a } = c;
  const p = c.envPrefixes[0];
  return [
    {
      // Every group of the environment: /aws/lambda/<p>-…, /ecs/<p>-…, /aws/apigateway/<p>-api/access.
      sid: 'EnvironmentLogs',
      actions: ['logs:CreateLogGroup', 'logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
      resources: [`arn:aws:logs:${r}:${a}:log-group:*${p}-*`],
    },
    // The account-level API Gateway logging role (owned by one environment per account) writes
    // the access logs of every environment's API of that account.
    ...(c.ownsAccountLogRole
      ? [
          {
            sid: 'AccountApiAccessLogs',
            actions: ['logs:CreateLogStream', 'logs:PutLogEvents', 'logs:DescribeLogStreams'],
            resources: [`arn:aws:logs:${r}:${a}:log-group:/aws/apigateway/${c.project}-*`],
          },
        ]
      : []),
    {
      sid: 'EnvironmentQueues',
      actions: ['sqs:SendMessage', 'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes', 'sqs:GetQueueUrl'],
      resources: [`arn:aws:sqs:${r}:${a}:${p}-*`],
    },
    {
      sid: 'EnvironmentObjects',
      actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
      resources: [`arn:aws:s3:::${p}-*/*`],
    },
    { sid: 'EnvironmentBuckets', actions: ['s3:ListBucket'], resources: [`arn:aws:s3:::${p}-*`] },
    {
      sid: 'EnvironmentSecrets',
      actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
      resources: [`arn:aws:secretsmanager:${r}:${a}:secret:${p}-*`],
    },
    {
      // RDS names the master secret `rds!db-<uuid>` (no environment in it) and tags it with the
      // instance it belongs to: only the secret of this environment's database.
      sid: 'EnvironmentDatabaseSecret',
      actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
      resources: [`arn:aws:secretsmanager:${r}:${a}:secret:rds!*`],
      conditions: { StringLike: { [RDS_SECRET_TAG]: `arn:aws:rds:${r}:${a}:db:${p}-*` } },
    },
    {
      // The Aurora engine's (`rds!cluster-<uuid>`), tagged with its cluster instead.
      sid: 'EnvironmentClusterSecret',
      actions: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
      resources: [`arn:aws:secretsmanager:${r}:${a}:secret:rds!*`],
      conditions: { StringLike: { [RDS_CLUSTER_SECRET_TAG]: `arn:aws:rds:${r}:${a}:cluster:${p}-*` } },
    },
    {
      // The secrets are encrypted under the AWS-managed key aws/secretsmanager, one per account
      // and region, shared by every environment: its ARN cannot tell them apart. So Decrypt is
      // allowed only when Secrets Manager asks on the role's behalf (kms:ViaService) for this
      // account, and Secrets Manager decrypts a secret only for a caller it has allowed
      // GetSecretValue on that secret, which the two statements above limit to this environment.
      // A direct Decrypt (a ciphertext taken from elsewhere) is refused. An encryption-context
      // condition (SecretARN) would repeat the same environment scope without closing another
      // path; the separation is proven where it is decided (test/infra/iam-simulation.test.ts).
      // No other data here is under KMS: SSE-S3 and SQS-managed SSE use keys the services own.
      sid: 'DecryptThroughSecretsManager',
      actions: ['kms:Decrypt'],
      resources: [`arn:aws:kms:${r}:${a}:key/*`],
      conditions: { StringEquals: { 'kms:ViaService': `secretsmanager.${r}.amazonaws.com`, 'kms:CallerAccount': a } },
    },
    {
      // IAM authentication to this environment's cache, as one of its cache users.
      sid: 'EnvironmentCache',
      actions: ['elasticache:Connect'],
      resources: [`arn:aws:elasticache:${r}:${a}:serverlesscache:${p}-*`, `arn:aws:elasticache:${r}:${a}:user:${p}-*`],
    },
    {
      sid: 'EnvironmentFunctions',
      actions: ['lambda:InvokeFunction'],
      resources: [`arn:aws:lambda:${r}:${a}:function:${p}-*`],
    },
    {
      sid: 'EnvironmentImages',
      actions: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability'],
      resources: [`arn:aws:ecr:${r}:${a}:repository/${p}-*`],
    },
    {
      // Lambda's Hyperplane ENIs, by resource type (the function's subnets and security groups).
      sid: 'VpcNetworkInterfaces',
      actions: ENI_MANAGE_ACTIONS,
      resources: ENI_RESOURCE_TYPES.map((type) => `arn:aws:ec2:${r}:${a}:${type}/*`),
    },
    {
      // The NAT instance (modules/nat-instance.ts) takes over this environment's floating egress
      // interface on boot, turns off source/dest checking, and completes its group's launch hook.
      // EC2 names interfaces and instances by id: they are told apart by their Name tag.
      sid: 'NatTakeOver',
      actions: ['ec2:AttachNetworkInterface', 'ec2:ModifyNetworkInterfaceAttribute'],
      resources: [`arn:aws:ec2:${r}:${a}:network-interface/*`, `arn:aws:ec2:${r}:${a}:instance/*`],
      conditions: { StringLike: { 'aws:ResourceTag/Name': `${p}-*` } },
    },
    {
      sid: 'NatLaunchHook',
      actions: ['autoscaling:CompleteLifecycleAction'],
      resources: [`arn:aws:autoscaling:${r}:${a}:autoScalingGroup:*:autoScalingGroupName/${p}-*`],
    },
    // Session Manager on the NAT instance (ops access without SSH): the SSM Agent's own calls.
    ...ssmAgentStatements(r, a, p).map((st) => ({ ...st, sid: `Nat${st.sid}` })),
    {
      sid: 'Unscoped',
      actions: [ECR_AUTH_ACTION, ...ENI_DESCRIBE_ACTIONS, 'logs:DescribeLogGroups'],
      resources: ['*'],
      justification:
        'These APIs have no resource-level permission (IAM authorises them on "*" only): the ECR login token ' +
        'and the ENI, subnet and log-group listings. None reads or writes data of any environment.',
    },
    {
      sid: 'NeverIamOrOtherRoles',
      effect: 'Deny',
      actions: ['iam:*', 'sts:AssumeRole'],
      resources: ['*'],
      justification:
        'A deny guard: a role under the boundary changes no IAM entity and assumes no role, whatever its own ' +
        'policy says, so a role the deploy role creates can neither widen itself nor chain into another role.',
    },
    {
      sid: 'NeverTheState',
      effect: 'Deny',
      actions: ['s3:*'],
      resources: [`arn:aws:s3:::${c.stateBucket}`, `arn:aws:s3:::${c.stateBucket}/*`],
    },
  ];
}

/** The tag RDS puts on the master-user secret it manages: the ARN of the instance. */
export const RDS_SECRET_TAG = 'aws:ResourceTag/aws:rds:primaryDBInstanceArn';
/** The same for an Aurora cluster's master secret: the ARN of the cluster. */
export const RDS_CLUSTER_SECRET_TAG = 'aws:ResourceTag/aws:rds:primaryDBClusterArn';
