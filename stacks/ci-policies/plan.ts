import { Statement } from '../../modules/iam-statements';
import { arns, BUCKET_CONFIG_READS, CiPolicyContext, denyDataObjects, denyEdgeSecret, EC2_ATTRIBUTE_READS, EC2_LISTINGS, publicAmiParameters, stateStatements } from './context';

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

/**
 * The role pull requests run `terraform plan` with: metadata reads only (no state
 * lock either), never data. Reads IAM authorises on `*` only are on `*`; every other read names the environments'
 * resources (their prefixes), or, for resources AWS names by id, the resource type in the account.
 */
export function planStatements(c: CiPolicyContext): Statement[] {
  const { region: r, accountId: a } = c;
  return [
    ...stateStatements(c, false),
    {
      sid: 'RefreshDescribe',
      actions: [
        ...EC2_LISTINGS,
        'ecs:DescribeTaskDefinition',
        'ecs:ListTaskDefinitions',
        'application-autoscaling:Describe*',
        'autoscaling:Describe*',
        'ec2:DescribeFlowLogs',
        'ec2:DescribeAddressesAttribute',
        'cloudfront:ListCachePolicies',
        'cloudfront:ListResponseHeadersPolicies',
        'cloudfront:ListOriginRequestPolicies',
        'rds:DescribeDBEngineVersions',
        'rds:DescribeOrderableDBInstanceOptions',
        'rds:DescribeGlobalClusters',
        'logs:DescribeLogGroups',
        'logs:DescribeQueryDefinitions',
        'sts:GetCallerIdentity',
      ],
      resources: ['*'],
      justification:
        'Listings Terraform refresh makes that have no resource-level permission (IAM authorises them ' +
        'on "*" only): the EC2 listings of the network layer, ECS task definitions, application-autoscaling ' +
        'Describe*, the CloudFront managed-policy and RDS engine catalogues, the global-cluster listing (aws_rds_cluster\'s ' +
        'read filters it by db-cluster-id and names no global cluster), the log-group and saved-query listings and the ' +
        'caller identity. None returns data (secret values, objects, logs and messages are denied below).',
    },
    {
      sid: 'RefreshEc2Attributes',
      actions: EC2_ATTRIBUTE_READS,
      resources: [`arn:aws:ec2:${r}:${a}:vpc/*`, `arn:aws:ec2:${r}:${a}:instance/*`],
      conditions: { StringEquals: { 'aws:ResourceTag/project': c.project } },
    },
    {
      sid: 'RefreshDatabase',
      actions: [
        'rds:DescribeDBInstances',
        'rds:DescribeDBSubnetGroups',
        'rds:DescribeDBParameterGroups',
        'rds:DescribeDBParameters',
        'rds:DescribeDBClusters',
        'rds:DescribeDBClusterParameterGroups',
        'rds:DescribeDBClusterParameters',
        'rds:ListTagsForResource',
      ],
      // The instance's, or the Aurora cluster's (its instances are `db:` too).
      resources: [
        ...arns(c, (p) => `arn:aws:rds:${r}:${a}:db:${p}-*`),
        ...arns(c, (p) => `arn:aws:rds:${r}:${a}:subgrp:${p}-*`),
        ...arns(c, (p) => `arn:aws:rds:${r}:${a}:pg:${p}-*`),
        ...arns(c, (p) => `arn:aws:rds:${r}:${a}:cluster:${p}-*`),
        ...arns(c, (p) => `arn:aws:rds:${r}:${a}:cluster-pg:${p}-*`),
      ],
    },
    {
      sid: 'RefreshCache',
      actions: ['elasticache:DescribeServerlessCaches', 'elasticache:DescribeUsers', 'elasticache:DescribeUserGroups', 'elasticache:ListTagsForResource'],
      resources: [
        ...arns(c, (p) => `arn:aws:elasticache:${r}:${a}:serverlesscache:${p}-*`),
        ...arns(c, (p) => `arn:aws:elasticache:${r}:${a}:user:${p}-*`),
        ...arns(c, (p) => `arn:aws:elasticache:${r}:${a}:usergroup:${p}-*`),
      ],
    },
    {
      sid: 'RefreshContainers',
      actions: ['ecs:DescribeClusters', 'ecs:DescribeServices', 'ecs:ListTagsForResource'],
      resources: [
        ...arns(c, (p) => `arn:aws:ecs:${r}:${a}:cluster/${p}`),
        ...arns(c, (p) => `arn:aws:ecs:${r}:${a}:service/${p}/*`),
        ...arns(c, (p) => `arn:aws:ecs:${r}:${a}:task-definition/${p}-*:*`),
      ],
    },
    {
      sid: 'RefreshImageRepositories',
      actions: ['ecr:DescribeRepositories', 'ecr:DescribeImages', 'ecr:GetLifecyclePolicy', 'ecr:GetRepositoryPolicy', 'ecr:ListTagsForResource'],
      resources: arns(c, (p) => `arn:aws:ecr:${r}:${a}:repository/${p}-*`),
    },
    {
      // Scalable targets are named by id.
      sid: 'RefreshAutoscaling',
      actions: ['application-autoscaling:ListTagsForResource'],
      resources: [`arn:aws:application-autoscaling:${r}:${a}:scalable-target/*`],
    },
    {
      sid: 'RefreshMonitoring',
      actions: ['cloudwatch:DescribeAlarms', 'cloudwatch:ListTagsForResource'],
      resources: arns(c, (p) => `arn:aws:cloudwatch:${r}:${a}:alarm:${p}-*`),
    },
    {
      // The operations dashboard of each environment, named after it (`docplatform-<env>`); dashboards have no Region in their ARN.
      sid: 'RefreshDashboards',
      actions: ['cloudwatch:GetDashboard'],
      resources: [...arns(c, (p) => `arn:aws:cloudwatch::${a}:dashboard/${p}`), ...arns(c, (p) => `arn:aws:cloudwatch::${a}:dashboard/${p}-*`)],
    },
    {
      sid: 'RefreshLogGroups',
      actions: ['logs:ListTagsForResource', 'logs:ListTagsLogGroup'],
      resources: arns(c, (p) => `arn:aws:logs:${r}:${a}:log-group:*${p}-*`),
    },
    {
      sid: 'RefreshQueues',
      actions: ['sqs:GetQueueAttributes', 'sqs:GetQueueUrl', 'sqs:ListQueueTags', 'sqs:ListDeadLetterSourceQueues'],
      resources: arns(c, (p) => `arn:aws:sqs:${r}:${a}:${p}-*`),
    },
    {
      sid: 'RefreshTopics',
      actions: ['sns:GetTopicAttributes', 'sns:GetSubscriptionAttributes', 'sns:ListSubscriptionsByTopic', 'sns:ListTagsForResource'],
      resources: arns(c, (p) => `arn:aws:sns:${r}:${a}:${p}-*`),
    },
    {
      sid: 'RefreshSecrets',
      actions: ['secretsmanager:DescribeSecret', 'secretsmanager:GetResourcePolicy'],
      resources: [...arns(c, (p) => `arn:aws:secretsmanager:${r}:${a}:secret:${p}-*`), `arn:aws:secretsmanager:${r}:${a}:secret:rds!*`],
    },
    {
      sid: 'RefreshRoles',
      actions: [
        'iam:GetRole',
        'iam:GetRolePolicy',
        'iam:ListRolePolicies',
        'iam:ListAttachedRolePolicies',
        'iam:ListRoleTags',
        'iam:ListInstanceProfilesForRole',
        'iam:GetInstanceProfile',
        'iam:GetPolicy',
        'iam:GetPolicyVersion',
        'iam:ListPolicyVersions',
        'iam:ListPolicyTags',
      ],
      resources: [
        ...arns(c, (p) => `arn:aws:iam::${a}:role/${p}-*`),
        ...arns(c, (p) => `arn:aws:iam::${a}:instance-profile/${p}-*`),
        ...arns(c, (p) => `arn:aws:iam::${a}:policy/${p}-*`),
      ],
    },
    {
      sid: 'RefreshWebAcl',
      actions: ['wafv2:GetWebACL', 'wafv2:GetWebACLForResource', 'wafv2:GetLoggingConfiguration', 'wafv2:ListResourcesForWebACL', 'wafv2:ListTagsForResource'],
      resources: [...arns(c, (p) => `arn:aws:wafv2:${r}:${a}:regional/webacl/${p}-*/*`), `arn:aws:apigateway:${r}::/restapis/*/stages/*`],
    },
    {
      // Distributions, origin access controls and policies are named by id.
      sid: 'RefreshCdn',
      actions: [
        'cloudfront:GetDistribution',
        'cloudfront:GetDistributionConfig',
        'cloudfront:ListTagsForResource',
        'cloudfront:GetOriginAccessControl',
        'cloudfront:GetResponseHeadersPolicy',
        'cloudfront:GetCachePolicy',
        'cloudfront:GetOriginRequestPolicy',
        'cloudfront:DescribeFunction',
        'cloudfront:GetFunction',
        'cloudfront:DescribeKeyValueStore',
      ],
      resources: [
        `arn:aws:cloudfront::${a}:key-value-store/*`,
        `arn:aws:cloudfront::${a}:distribution/*`,
        `arn:aws:cloudfront::${a}:origin-access-control/*`,
        `arn:aws:cloudfront::${a}:response-headers-policy/*`,
        `arn:aws:cloudfront::${a}:cache-policy/*`,
        `arn:aws:cloudfront::${a}:origin-request-policy/*`,
        ...arns(c, (p) => `arn:aws:cloudfront::${a}:function/${p}-*`),
      ],
    },
    {
      sid: 'RefreshBudgets',
      actions: ['budgets:ViewBudget', 'budgets:ListTagsForResource'],
      resources: arns(c, (p) => `arn:aws:budgets::${a}:budget/${p}-*`),
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
    denyEdgeSecret(),
    {
      sid: 'DenyObjectReadsOutsideState',
      effect: 'Deny',
      actions: ['s3:GetObject', 's3:GetObjectVersion'],
      resources: arns(c, (p) => `arn:aws:s3:::${p}-*/*`),
    },
  ];
}
