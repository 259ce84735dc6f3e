import { Statement } from './iam-statements';
import { ENI_ACTIONS } from './iam-grants';

/**
 * What the two GitHub Actions roles may do, as data. `plan` reads (Terraform refresh) and takes
 * the state lock; `deploy` creates and changes this project's resources only: ARNs carrying an
 * environment's name prefix, or (where AWS names resources by id) the `project` tag.
 */
export interface CiPolicyContext {
  region: string;
  accountId: string;
  stateBucket: string;
  /** Environments CI deploys (`dev`, `prod`): their state lives under `<env>/` in the state bucket. */
  environments: string[];
  /** `docplatform-dev`, `docplatform-prod`, …: every resource of an environment starts with one. */
  envPrefixes: string[];
  project: string;
  /** The boundary every role the deploy role creates must carry (no privilege escalation through IAM). */
  workloadBoundaryArn: string;
}

const arns = (c: CiPolicyContext, pattern: (prefix: string) => string): string[] => c.envPrefixes.map(pattern);

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

function stateStatements(c: CiPolicyContext, write: boolean): Statement[] {
  const bucket = `arn:aws:s3:::${c.stateBucket}`;
  return [
    { sid: 'StateList', actions: ['s3:ListBucket'], resources: [bucket] },
    // Cross-stack references read other layers' state; the bootstrap's own state is not CI's to write.
    { sid: 'StateRead', actions: ['s3:GetObject'], resources: [`${bucket}/*`] },
    ...(write ? [{ sid: 'StateWrite', actions: ['s3:PutObject'], resources: c.environments.map((env) => `${bucket}/${env}/*`) }] : []),
    // Native S3 locking (use_lockfile) writes and removes `<key>.tflock` next to the state.
    { sid: 'StateLock', actions: ['s3:PutObject', 's3:DeleteObject'], resources: [`${bucket}/*.tflock`] },
  ];
}

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
      // Bucket ARNs only: object reads (s3:GetObject on `bucket/*`) never match these.
      actions: ['s3:Get*', 's3:ListBucket'],
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
    {
      sid: 'PublicAmiParameters',
      actions: ['ssm:GetParameter', 'ssm:GetParameters'],
      resources: [`arn:aws:ssm:${r}::parameter/aws/service/*`],
    },
    {
      sid: 'DenyDataReads',
      effect: 'Deny',
      actions: DATA_READ_ACTIONS,
      resources: ['*'],
      justification: 'A deny guard: whatever read policy is attached later, plan never reads data.',
    },
    {
      sid: 'DenyObjectReadsOutsideState',
      effect: 'Deny',
      actions: ['s3:GetObject', 's3:GetObjectVersion'],
      resources: arns(c, (p) => `arn:aws:s3:::${p}-*/*`),
    },
  ];
}

const TAG_CREATE_ACTIONS_EC2 = [
  'ec2:CreateVpc',
  'ec2:CreateSubnet',
  'ec2:CreateSecurityGroup',
  'ec2:CreateRouteTable',
  'ec2:CreateInternetGateway',
  'ec2:CreateNatGateway',
  'ec2:AllocateAddress',
  'ec2:CreateVpcEndpoint',
  'ec2:CreateNetworkInterface',
  'ec2:CreateLaunchTemplate',
  'ec2:RunInstances',
  // Rules created with tags (aws_vpc_security_group_*_rule) are new security-group-rule resources.
  'ec2:AuthorizeSecurityGroupIngress',
  'ec2:AuthorizeSecurityGroupEgress',
];

export function deployStatements(c: CiPolicyContext): Statement[] {
  const { region: r, accountId: a, project } = c;
  const requestTag = { StringEquals: { 'aws:RequestTag/project': project } };
  const resourceTag = { StringEquals: { 'aws:ResourceTag/project': project } };
  return [
    ...stateStatements(c, true),
    {
      sid: 'DenySecretValues',
      effect: 'Deny',
      actions: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue'],
      resources: ['*'],
      justification: 'A deny guard: secret values are put out of band and never pass through CI.',
    },
    {
      sid: 'DenyStateBucketConfig',
      effect: 'Deny',
      actions: ['s3:DeleteBucket', 's3:PutBucketPolicy', 's3:DeleteBucketPolicy', 's3:PutBucketVersioning', 's3:PutLifecycleConfiguration'],
      resources: [`arn:aws:s3:::${c.stateBucket}`],
    },
    {
      sid: 'ReadOnlyDescribe',
      actions: [
        'ec2:Describe*',
        'ecs:DescribeTaskDefinition',
        'ecs:RegisterTaskDefinition',
        'ecs:DeregisterTaskDefinition',
        'ecs:ListTaskDefinitions',
        'ecr:GetAuthorizationToken',
        'application-autoscaling:Describe*',
        'cloudwatch:DescribeAlarms',
        'cloudfront:ListCachePolicies',
        'cloudfront:ListResponseHeadersPolicies',
        'cloudfront:ListOriginRequestPolicies',
        'rds:DescribeDBEngineVersions',
        'rds:DescribeOrderableDBInstanceOptions',
      ],
      resources: ['*'],
      justification:
        'These APIs have no resource-level permission: ec2:Describe*, ecs task-definition ' +
        'register/describe/deregister (a revision ARN exists only afterwards), the account-wide ' +
        'ECR login token, application-autoscaling:Describe*, cloudwatch:DescribeAlarms, the ' +
        'CloudFront managed-policy listings and the RDS engine catalogue. None writes a resource ' +
        'other than a task definition, which runs only through a service scoped below.',
    },
    {
      sid: 'Ec2CreateTagged',
      actions: [...TAG_CREATE_ACTIONS_EC2, 'ec2:CreateTags'],
      resources: [`arn:aws:ec2:${r}:${a}:*`, `arn:aws:ec2:${r}::image/*`],
      conditions: requestTag,
    },
    {
      sid: 'Ec2ManageTagged',
      actions: [
        'ec2:AttachInternetGateway',
        'ec2:DetachInternetGateway',
        'ec2:AssociateRouteTable',
        'ec2:DisassociateRouteTable',
        'ec2:CreateRoute',
        'ec2:ReplaceRoute',
        'ec2:DeleteRoute',
        'ec2:AuthorizeSecurityGroupIngress',
        'ec2:AuthorizeSecurityGroupEgress',
        'ec2:RevokeSecurityGroupIngress',
        'ec2:RevokeSecurityGroupEgress',
        'ec2:ModifySecurityGroupRules',
        'ec2:UpdateSecurityGroupRuleDescriptionsIngress',
        'ec2:UpdateSecurityGroupRuleDescriptionsEgress',
        'ec2:ModifyVpcAttribute',
        'ec2:ModifySubnetAttribute',
        'ec2:ModifyVpcEndpoint',
        'ec2:ModifyInstanceAttribute',
        'ec2:ModifyNetworkInterfaceAttribute',
        'ec2:AssociateAddress',
        'ec2:DisassociateAddress',
        'ec2:ReleaseAddress',
        'ec2:StartInstances',
        'ec2:StopInstances',
        'ec2:TerminateInstances',
        'ec2:CreateLaunchTemplateVersion',
        'ec2:ModifyLaunchTemplate',
        'ec2:DeleteLaunchTemplate',
        'ec2:DeleteVpc',
        'ec2:DeleteSubnet',
        'ec2:DeleteSecurityGroup',
        'ec2:DeleteRouteTable',
        'ec2:DeleteInternetGateway',
        'ec2:DeleteNatGateway',
        'ec2:DeleteVpcEndpoints',
        'ec2:DeleteNetworkInterface',
        'ec2:CreateTags',
        'ec2:DeleteTags',
      ],
      resources: [`arn:aws:ec2:${r}:${a}:*`],
      conditions: resourceTag,
    },
    {
      sid: 'PublicAmiParameters',
      actions: ['ssm:GetParameter', 'ssm:GetParameters'],
      resources: [`arn:aws:ssm:${r}::parameter/aws/service/*`],
    },
    {
      sid: 'Buckets',
      actions: ['s3:CreateBucket', 's3:DeleteBucket', 's3:ListBucket', 's3:Get*', 's3:Put*', 's3:DeleteBucketPolicy', 's3:DeleteBucketOwnershipControls'],
      resources: arns(c, (p) => `arn:aws:s3:::${p}-*`),
    },
    {
      // The SPA bucket receives the Angular build; no object of any other bucket is written.
      sid: 'FrontendObjects',
      actions: ['s3:PutObject', 's3:DeleteObject'],
      resources: arns(c, (p) => `arn:aws:s3:::${p}-spa*/*`),
    },
    {
      sid: 'Queues',
      actions: [
        'sqs:CreateQueue',
        'sqs:DeleteQueue',
        'sqs:GetQueueAttributes',
        'sqs:SetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:TagQueue',
        'sqs:UntagQueue',
        'sqs:ListQueueTags',
        'sqs:ListDeadLetterSourceQueues',
      ],
      resources: arns(c, (p) => `arn:aws:sqs:${r}:${a}:${p}-*`),
    },
    {
      sid: 'SecretsWithoutValues',
      actions: [
        'secretsmanager:CreateSecret',
        'secretsmanager:DeleteSecret',
        'secretsmanager:RestoreSecret',
        'secretsmanager:DescribeSecret',
        'secretsmanager:UpdateSecret',
        'secretsmanager:GetResourcePolicy',
        'secretsmanager:PutResourcePolicy',
        'secretsmanager:DeleteResourcePolicy',
        'secretsmanager:TagResource',
        'secretsmanager:UntagResource',
      ],
      resources: arns(c, (p) => `arn:aws:secretsmanager:${r}:${a}:secret:${p}-*`),
    },
    {
      // RDS-managed master password: RDS creates the `rds!…` secret on the caller's behalf.
      sid: 'RdsManagedMasterSecret',
      actions: ['secretsmanager:CreateSecret', 'secretsmanager:TagResource', 'secretsmanager:DescribeSecret', 'secretsmanager:DeleteSecret'],
      resources: [`arn:aws:secretsmanager:${r}:${a}:secret:rds!*`],
      conditions: { 'ForAnyValue:StringEquals': { 'aws:CalledVia': 'rds.amazonaws.com' } },
    },
    {
      sid: 'Database',
      actions: [
        'rds:CreateDBInstance',
        'rds:ModifyDBInstance',
        'rds:DeleteDBInstance',
        'rds:RebootDBInstance',
        'rds:CreateDBSubnetGroup',
        'rds:ModifyDBSubnetGroup',
        'rds:DeleteDBSubnetGroup',
        'rds:CreateDBParameterGroup',
        'rds:ModifyDBParameterGroup',
        'rds:DeleteDBParameterGroup',
        'rds:CreateDBSnapshot',
        'rds:Describe*',
        'rds:ListTagsForResource',
        'rds:AddTagsToResource',
        'rds:RemoveTagsFromResource',
      ],
      resources: [
        ...arns(c, (p) => `arn:aws:rds:${r}:${a}:db:${p}-*`),
        ...arns(c, (p) => `arn:aws:rds:${r}:${a}:subgrp:${p}-*`),
        ...arns(c, (p) => `arn:aws:rds:${r}:${a}:pg:${p}-*`),
        ...arns(c, (p) => `arn:aws:rds:${r}:${a}:snapshot:${p}-*`),
        `arn:aws:rds:${r}:${a}:og:default:*`,
      ],
    },
    {
      sid: 'Cache',
      actions: [
        'elasticache:CreateServerlessCache',
        'elasticache:ModifyServerlessCache',
        'elasticache:DeleteServerlessCache',
        'elasticache:CreateCacheSubnetGroup',
        'elasticache:ModifyCacheSubnetGroup',
        'elasticache:DeleteCacheSubnetGroup',
        'elasticache:Describe*',
        'elasticache:ListTagsForResource',
        'elasticache:AddTagsToResource',
        'elasticache:RemoveTagsFromResource',
      ],
      resources: [
        ...arns(c, (p) => `arn:aws:elasticache:${r}:${a}:serverlesscache:${p}-*`),
        ...arns(c, (p) => `arn:aws:elasticache:${r}:${a}:subnetgroup:${p}-*`),
      ],
    },
    {
      sid: 'Functions',
      actions: [
        'lambda:CreateFunction',
        'lambda:DeleteFunction',
        'lambda:UpdateFunctionCode',
        'lambda:UpdateFunctionConfiguration',
        'lambda:PublishVersion',
        'lambda:CreateAlias',
        'lambda:UpdateAlias',
        'lambda:DeleteAlias',
        'lambda:AddPermission',
        'lambda:RemovePermission',
        'lambda:PutFunctionConcurrency',
        'lambda:DeleteFunctionConcurrency',
        'lambda:TagResource',
        'lambda:UntagResource',
        'lambda:Get*',
        'lambda:List*',
      ],
      resources: [
        ...arns(c, (p) => `arn:aws:lambda:${r}:${a}:function:${p}-*`),
        ...arns(c, (p) => `arn:aws:lambda:${r}:${a}:function:${p}-*:*`),
      ],
    },
    {
      sid: 'LogGroups',
      actions: [
        'logs:CreateLogGroup',
        'logs:DeleteLogGroup',
        'logs:PutRetentionPolicy',
        'logs:DeleteRetentionPolicy',
        'logs:TagResource',
        'logs:UntagResource',
        'logs:TagLogGroup',
        'logs:UntagLogGroup',
        'logs:ListTagsForResource',
        'logs:ListTagsLogGroup',
      ],
      resources: arns(c, (p) => `arn:aws:logs:${r}:${a}:log-group:*${p}-*`),
    },
    {
      // Terraform finds a log group by listing with a name prefix, which IAM checks on all groups.
      sid: 'LogGroupsList',
      actions: ['logs:DescribeLogGroups'],
      resources: [`arn:aws:logs:${r}:${a}:log-group:*`],
    },
    {
      sid: 'ApiCreateTagged',
      actions: ['apigateway:POST'],
      resources: [`arn:aws:apigateway:${r}::/restapis`],
      conditions: requestTag,
    },
    {
      // API Gateway authorises sub-resources (stages, deployments, methods) by the REST API's tags.
      sid: 'ApiManageTagged',
      actions: ['apigateway:GET', 'apigateway:POST', 'apigateway:PUT', 'apigateway:PATCH', 'apigateway:DELETE', 'apigateway:UpdateRestApiPolicy', 'apigateway:SetWebACL'],
      resources: [`arn:aws:apigateway:${r}::/restapis/*`, `arn:aws:apigateway:${r}::/tags/*`],
      conditions: resourceTag,
    },
    {
      // The account-level CloudWatch role that stage access logs need; it has no tags.
      sid: 'ApiAccountLogging',
      actions: ['apigateway:GET', 'apigateway:PATCH'],
      resources: [`arn:aws:apigateway:${r}::/account`],
    },
    {
      sid: 'WebAcl',
      actions: [
        'wafv2:CreateWebACL',
        'wafv2:UpdateWebACL',
        'wafv2:DeleteWebACL',
        'wafv2:GetWebACL',
        'wafv2:GetWebACLForResource',
        'wafv2:AssociateWebACL',
        'wafv2:DisassociateWebACL',
        'wafv2:PutLoggingConfiguration',
        'wafv2:GetLoggingConfiguration',
        'wafv2:DeleteLoggingConfiguration',
        'wafv2:TagResource',
        'wafv2:UntagResource',
        'wafv2:ListTagsForResource',
      ],
      resources: [
        ...arns(c, (p) => `arn:aws:wafv2:${r}:${a}:regional/webacl/${p}-*/*`),
        `arn:aws:wafv2:${r}:${a}:regional/managedruleset/*/*`,
        `arn:aws:apigateway:${r}::/restapis/*/stages/*`,
      ],
    },
    {
      sid: 'Containers',
      actions: [
        'ecs:CreateCluster',
        'ecs:DeleteCluster',
        'ecs:UpdateCluster',
        'ecs:UpdateClusterSettings',
        'ecs:PutClusterCapacityProviders',
        'ecs:DescribeClusters',
        'ecs:CreateService',
        'ecs:UpdateService',
        'ecs:DeleteService',
        'ecs:DescribeServices',
        'ecs:RunTask',
        'ecs:DescribeTasks',
        'ecs:StopTask',
        'ecs:TagResource',
        'ecs:UntagResource',
        'ecs:ListTagsForResource',
      ],
      resources: [
        // The cluster is named after the environment itself (`docplatform-dev`).
        ...arns(c, (p) => `arn:aws:ecs:${r}:${a}:cluster/${p}`),
        ...arns(c, (p) => `arn:aws:ecs:${r}:${a}:service/${p}/*`),
        ...arns(c, (p) => `arn:aws:ecs:${r}:${a}:task/${p}/*`),
        ...arns(c, (p) => `arn:aws:ecs:${r}:${a}:task-definition/${p}-*:*`),
      ],
    },
    {
      sid: 'ImageRepositories',
      actions: [
        'ecr:CreateRepository',
        'ecr:DeleteRepository',
        'ecr:DescribeRepositories',
        'ecr:DescribeImages',
        'ecr:PutLifecyclePolicy',
        'ecr:GetLifecyclePolicy',
        'ecr:DeleteLifecyclePolicy',
        'ecr:SetRepositoryPolicy',
        'ecr:GetRepositoryPolicy',
        'ecr:DeleteRepositoryPolicy',
        'ecr:PutImageTagMutability',
        'ecr:PutImageScanningConfiguration',
        'ecr:TagResource',
        'ecr:UntagResource',
        'ecr:ListTagsForResource',
        'ecr:BatchCheckLayerAvailability',
        'ecr:InitiateLayerUpload',
        'ecr:UploadLayerPart',
        'ecr:CompleteLayerUpload',
        'ecr:PutImage',
        // Promotion copies dev's image into prod's repository (docker buildx imagetools create).
        'ecr:BatchGetImage',
        'ecr:GetDownloadUrlForLayer',
      ],
      resources: arns(c, (p) => `arn:aws:ecr:${r}:${a}:repository/${p}-*`),
    },
    {
      // Scalable targets are named by service id (`service/<cluster>/<service>`), not by prefix.
      sid: 'Autoscaling',
      actions: [
        'application-autoscaling:RegisterScalableTarget',
        'application-autoscaling:DeregisterScalableTarget',
        'application-autoscaling:PutScalingPolicy',
        'application-autoscaling:DeleteScalingPolicy',
        'application-autoscaling:TagResource',
        'application-autoscaling:UntagResource',
        'application-autoscaling:ListTagsForResource',
      ],
      resources: [`arn:aws:application-autoscaling:${r}:${a}:scalable-target/*`],
    },
    {
      sid: 'Alarms',
      actions: ['cloudwatch:PutMetricAlarm', 'cloudwatch:DeleteAlarms', 'cloudwatch:TagResource', 'cloudwatch:UntagResource', 'cloudwatch:ListTagsForResource'],
      resources: [
        ...arns(c, (p) => `arn:aws:cloudwatch:${r}:${a}:alarm:${p}-*`),
        ...arns(c, (p) => `arn:aws:cloudwatch:${r}:${a}:alarm:TargetTracking-service/${p}-*`),
      ],
    },
    {
      sid: 'AlarmTopics',
      actions: [
        'sns:CreateTopic',
        'sns:DeleteTopic',
        'sns:GetTopicAttributes',
        'sns:SetTopicAttributes',
        'sns:Subscribe',
        'sns:Unsubscribe',
        'sns:GetSubscriptionAttributes',
        'sns:SetSubscriptionAttributes',
        'sns:ListSubscriptionsByTopic',
        'sns:TagResource',
        'sns:UntagResource',
        'sns:ListTagsForResource',
      ],
      resources: [...arns(c, (p) => `arn:aws:sns:${r}:${a}:${p}-*`)],
    },
    {
      sid: 'Budgets',
      actions: ['budgets:ViewBudget', 'budgets:ModifyBudget', 'budgets:TagResource', 'budgets:UntagResource', 'budgets:ListTagsForResource'],
      resources: arns(c, (p) => `arn:aws:budgets::${a}:budget/${p}-*`),
    },
    {
      sid: 'CdnCreateTagged',
      actions: ['cloudfront:CreateDistribution', 'cloudfront:CreateDistributionWithTags', 'cloudfront:TagResource'],
      resources: [`arn:aws:cloudfront::${a}:distribution/*`],
      conditions: requestTag,
    },
    {
      sid: 'CdnManageTagged',
      actions: [
        'cloudfront:GetDistribution',
        'cloudfront:GetDistributionConfig',
        'cloudfront:UpdateDistribution',
        'cloudfront:DeleteDistribution',
        'cloudfront:CreateInvalidation',
        'cloudfront:GetInvalidation',
        'cloudfront:ListTagsForResource',
        'cloudfront:TagResource',
        'cloudfront:UntagResource',
      ],
      resources: [`arn:aws:cloudfront::${a}:distribution/*`],
      conditions: resourceTag,
    },
    {
      // Origin access controls and policies take no tags and are named by id.
      sid: 'CdnPolicies',
      actions: [
        'cloudfront:CreateOriginAccessControl',
        'cloudfront:GetOriginAccessControl',
        'cloudfront:UpdateOriginAccessControl',
        'cloudfront:DeleteOriginAccessControl',
        'cloudfront:CreateResponseHeadersPolicy',
        'cloudfront:GetResponseHeadersPolicy',
        'cloudfront:UpdateResponseHeadersPolicy',
        'cloudfront:DeleteResponseHeadersPolicy',
        'cloudfront:GetCachePolicy',
        'cloudfront:GetOriginRequestPolicy',
      ],
      resources: [
        `arn:aws:cloudfront::${a}:origin-access-control/*`,
        `arn:aws:cloudfront::${a}:response-headers-policy/*`,
        `arn:aws:cloudfront::${a}:cache-policy/*`,
        `arn:aws:cloudfront::${a}:origin-request-policy/*`,
      ],
    },
    {
      sid: 'CdnFunctions',
      actions: [
        'cloudfront:CreateFunction',
        'cloudfront:DescribeFunction',
        'cloudfront:GetFunction',
        'cloudfront:UpdateFunction',
        'cloudfront:PublishFunction',
        'cloudfront:DeleteFunction',
      ],
      resources: arns(c, (p) => `arn:aws:cloudfront::${a}:function/${p}-*`),
    },
    {
      // Creating or widening a role requires the workload boundary: a role made by CI can never
      // hold more than the boundary allows, whatever policy CI attaches to it.
      sid: 'RolesWithBoundary',
      actions: ['iam:CreateRole', 'iam:PutRolePolicy', 'iam:AttachRolePolicy', 'iam:PutRolePermissionsBoundary'],
      resources: arns(c, (p) => `arn:aws:iam::${a}:role/${p}-*`),
      conditions: { StringEquals: { 'iam:PermissionsBoundary': c.workloadBoundaryArn } },
    },
    {
      sid: 'RolesManage',
      actions: [
        'iam:GetRole',
        'iam:GetRolePolicy',
        'iam:ListRolePolicies',
        'iam:ListAttachedRolePolicies',
        'iam:ListInstanceProfilesForRole',
        'iam:UpdateRole',
        'iam:UpdateRoleDescription',
        'iam:UpdateAssumeRolePolicy',
        'iam:DeleteRole',
        'iam:DeleteRolePolicy',
        'iam:DetachRolePolicy',
        'iam:TagRole',
        'iam:UntagRole',
        'iam:CreateInstanceProfile',
        'iam:GetInstanceProfile',
        'iam:DeleteInstanceProfile',
        'iam:AddRoleToInstanceProfile',
        'iam:RemoveRoleFromInstanceProfile',
        'iam:TagInstanceProfile',
        'iam:CreatePolicy',
        'iam:CreatePolicyVersion',
        'iam:DeletePolicy',
        'iam:DeletePolicyVersion',
        'iam:GetPolicy',
        'iam:GetPolicyVersion',
        'iam:ListPolicyVersions',
        'iam:TagPolicy',
        'iam:UntagPolicy',
      ],
      resources: [
        ...arns(c, (p) => `arn:aws:iam::${a}:role/${p}-*`),
        ...arns(c, (p) => `arn:aws:iam::${a}:instance-profile/${p}-*`),
        ...arns(c, (p) => `arn:aws:iam::${a}:policy/${p}-*`),
      ],
    },
    {
      sid: 'PassRoleToWorkloads',
      actions: ['iam:PassRole'],
      resources: arns(c, (p) => `arn:aws:iam::${a}:role/${p}-*`),
      conditions: {
        StringEquals: {
          'iam:PassedToService': [
            'lambda.amazonaws.com',
            'ecs-tasks.amazonaws.com',
            'ec2.amazonaws.com',
            'apigateway.amazonaws.com',
            'monitoring.rds.amazonaws.com',
          ],
        },
      },
    },
    {
      sid: 'ServiceLinkedRoles',
      actions: ['iam:CreateServiceLinkedRole'],
      resources: [`arn:aws:iam::${a}:role/aws-service-role/*`],
      conditions: {
        StringEquals: {
          'iam:AWSServiceName': [
            'ecs.amazonaws.com',
            'ecs.application-autoscaling.amazonaws.com',
            'elasticache.amazonaws.com',
            'rds.amazonaws.com',
          ],
        },
      },
    },
  ];
}

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
