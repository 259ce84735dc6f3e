import { Statement } from '../../modules/iam-statements';
import {
  arns,
  denyEdgeSecret,
  BUCKET_CONFIG_READS,
  BUCKET_CONFIG_WRITES,
  denyDataObjects,
  EC2_ATTRIBUTE_READS,
  EC2_LISTINGS,
  EnvironmentPolicyContext,
  publicAmiParameters,
  stateStatements,
} from './context';

/**
 * Resources AWS names by id are scoped by the environment's `project` and `env` tags (the
 * provider's default_tags): on the create request, then on the resource.
 */
const tags = (c: EnvironmentPolicyContext, key: 'RequestTag' | 'ResourceTag') => ({
  [`aws:${key}/project`]: c.project,
  [`aws:${key}/env`]: c.env,
});
const requestTag = (c: EnvironmentPolicyContext) => ({ StringEquals: tags(c, 'RequestTag') });
const resourceTag = (c: EnvironmentPolicyContext) => ({ StringEquals: tags(c, 'ResourceTag') });
/**
 * A create carries the environment's tags, and every existing resource it names (the subnet
 * and security group of RunInstances, the VPC of CreateSubnet) is the environment's too: the
 * request tags alone would let one environment launch into another's network.
 */
const createTagged = (c: EnvironmentPolicyContext) => ({ StringEquals: tags(c, 'RequestTag'), StringEqualsIfExists: tags(c, 'ResourceTag') });

/**
 * The role `cdktf deploy` runs with in one GitHub environment, one service area after another.
 * Every statement is scoped to that environment (`c.envPrefixes` holds its prefix alone). The
 * order is the order of the statements in the managed policies (packed in sequence into as few
 * as fit IAM's size limit), so a statement moved between areas moves between policies.
 */
export function deployStatements(c: EnvironmentPolicyContext): Statement[] {
  return [
    ...stateStatements(c, true),
    ...guardStatements(c),
    ...unscopedStatements(),
    ...networkStatements(c),
    ...bucketStatements(c),
    ...queueStatements(c),
    ...secretStatements(c),
    ...databaseStatements(c),
    ...functionStatements(c),
    ...apiStatements(c),
    ...containerStatements(c),
    ...monitoringStatements(c),
    ...edgeStatements(c),
    ...iamStatements(c),
  ];
}

/** Deny guards that hold whatever else is allowed: no secret value, no data object, no state bucket reconfiguration. */
function guardStatements(c: EnvironmentPolicyContext): Statement[] {
  return [
    {
      sid: 'DenySecretValues',
      effect: 'Deny',
      actions: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue'],
      resources: ['*'],
      justification: 'A deny guard: secret values are put out of band and never pass through CI.',
    },
    denyDataObjects(c),
    denyEdgeSecret(),
    {
      sid: 'DenyStateBucketConfig',
      effect: 'Deny',
      actions: ['s3:DeleteBucket', 's3:PutBucketPolicy', 's3:DeleteBucketPolicy', 's3:PutBucketVersioning', 's3:PutLifecycleConfiguration'],
      resources: [`arn:aws:s3:::${c.stateBucket}`],
    },
  ];
}

/**
 * The APIs IAM authorises on `*` only (the catalogue lists no resource type for them; a
 * statement naming resources would never match them), each listed in the justification.
 */
function unscopedStatements(): Statement[] {
  return [
    {
      sid: 'ReadOnlyDescribe',
      actions: [
        ...EC2_LISTINGS,
        'ecs:DescribeTaskDefinition',
        'ecs:DeregisterTaskDefinition',
        'ecs:ListTaskDefinitions',
        'ecr:GetAuthorizationToken',
        'application-autoscaling:Describe*',
        'logs:DescribeLogGroups',
        'cloudfront:ListCachePolicies',
        'cloudfront:ListResponseHeadersPolicies',
        'cloudfront:ListOriginRequestPolicies',
        'rds:DescribeDBEngineVersions',
        'rds:DescribeOrderableDBInstanceOptions',
      ],
      resources: ['*'],
      justification:
        'These APIs have no resource-level permission (IAM authorises them on "*" only): the EC2 ' +
        'listings Terraform refreshes the network with (an explicit list, not ec2:Describe*), ECS ' +
        'task-definition describe/deregister/list, the account-wide ECR login token, ' +
        'application-autoscaling:Describe*, the log-group listing (Terraform finds a group by ' +
        'prefix), the CloudFront managed-policy listings and the RDS engine catalogue. The only ' +
        'write is deregistering a task-definition revision, which running tasks and services outlive.',
    },
  ];
}

/** EC2 creates that take tags on the request (checked against `project` before the resource exists). */
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

/** Network layer: the VPC, subnets, routes, security groups, endpoints and the NAT instance (by `project` tag). */
function networkStatements(c: EnvironmentPolicyContext): Statement[] {
  const { region: r, accountId: a } = c;
  return [
    {
      sid: 'Ec2CreateTagged',
      actions: TAG_CREATE_ACTIONS_EC2,
      resources: [`arn:aws:ec2:${r}:${a}:*`, `arn:aws:ec2:${r}::image/*`],
      conditions: createTagged(c),
    },
    {
      // Tags on create, and on a resource that has no `env` tag yet (the VPC's default security
      // group, which aws_default_security_group adopts); never a retag of another environment's.
      sid: 'Ec2TagUntagged',
      actions: ['ec2:CreateTags'],
      resources: [`arn:aws:ec2:${r}:${a}:*`],
      conditions: { StringEquals: tags(c, 'RequestTag'), Null: { 'aws:ResourceTag/env': 'true' } },
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
        ...EC2_ATTRIBUTE_READS,
      ],
      resources: [`arn:aws:ec2:${r}:${a}:*`],
      conditions: resourceTag(c),
    },
    publicAmiParameters(c),
  ];
}

/**
 * Data and edge buckets, configured at bucket level only (no object action matches a bucket
 * ARN), and the one bucket whose objects CI writes (the SPA build). The objects of the data
 * buckets are denied outright (guardStatements).
 */
function bucketStatements(c: EnvironmentPolicyContext): Statement[] {
  return [
    {
      sid: 'Buckets',
      actions: [...BUCKET_CONFIG_READS, ...BUCKET_CONFIG_WRITES],
      resources: arns(c, (p) => `arn:aws:s3:::${p}-*`),
    },
    {
      // The SPA bucket receives the Angular build; no object of any other bucket is written.
      sid: 'FrontendObjects',
      actions: ['s3:PutObject', 's3:DeleteObject'],
      resources: arns(c, (p) => `arn:aws:s3:::${p}-spa*/*`),
    },
  ];
}

/** The job queues and their DLQs. */
function queueStatements(c: EnvironmentPolicyContext): Statement[] {
  const { region: r, accountId: a } = c;
  return [
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
  ];
}

/** Secrets without their values, and the RDS-managed master secret. */
function secretStatements(c: EnvironmentPolicyContext): Statement[] {
  const { region: r, accountId: a } = c;
  return [
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
  ];
}

/** RDS PostgreSQL and the ElastiCache Serverless cache. */
function databaseStatements(c: EnvironmentPolicyContext): Statement[] {
  const { region: r, accountId: a } = c;
  return [
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
  ];
}

/** Lambda functions and the log groups of every layer. */
function functionStatements(c: EnvironmentPolicyContext): Statement[] {
  const { region: r, accountId: a } = c;
  return [
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
  ];
}

/** The REST API (by `project` tag), its account-level logging setting and its web ACL. */
function apiStatements(c: EnvironmentPolicyContext): Statement[] {
  const { region: r, accountId: a } = c;
  return [
    {
      sid: 'ApiCreateTagged',
      actions: ['apigateway:POST'],
      resources: [`arn:aws:apigateway:${r}::/restapis`],
      conditions: requestTag(c),
    },
    {
      // API Gateway authorises sub-resources (stages, deployments, methods) by the REST API's tags.
      sid: 'ApiManageTagged',
      actions: ['apigateway:GET', 'apigateway:POST', 'apigateway:PUT', 'apigateway:PATCH', 'apigateway:DELETE', 'apigateway:UpdateRestApiPolicy', 'apigateway:SetWebACL'],
      resources: [`arn:aws:apigateway:${r}::/restapis/*`, `arn:aws:apigateway:${r}::/tags/*`],
      conditions: resourceTag(c),
    },
    // The account-level CloudWatch role that stage access logs need; it has no tags. Only the
    // environment that owns the setting (`api.ownsAccountLogRole`) may change it.
    ...(c.ownsAccountLogRole
      ? [{ sid: 'ApiAccountLogging', actions: ['apigateway:GET', 'apigateway:PATCH'], resources: [`arn:aws:apigateway:${r}::/account`] }]
      : []),
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
        // The origin-verify pattern set the ACL references (created out of band, named by the environment).
        ...arns(c, (p) => `arn:aws:wafv2:${r}:${a}:regional/regexpatternset/${p}-*/*`),
        `arn:aws:apigateway:${r}::/restapis/*/stages/*`,
      ],
    },
  ];
}

/** The ECS cluster, services and tasks, the image repositories and the workers’ scaling. */
function containerStatements(c: EnvironmentPolicyContext): Statement[] {
  const { region: r, accountId: a } = c;
  return [
    {
      sid: 'Containers',
      actions: [
        // Registering names the revision's ARN (family and revision), so it is scoped like the others.
        'ecs:RegisterTaskDefinition',
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
    ...imagePromotionStatements(c),
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
      // Tagged by default_tags: another environment's targets carry its own `env`.
      conditions: { StringEqualsIfExists: { ...tags(c, 'RequestTag'), ...tags(c, 'ResourceTag') } },
    },
  ];
}

/**
 * Promotion (deploy.yml's `promote-from`) copies the source environment's images, same commit
 * SHA, into this one's repositories: pulls from the source repositories, nothing else of that
 * environment (not even its state; the workflow names the repositories).
 */
function imagePromotionStatements(c: EnvironmentPolicyContext): Statement[] {
  const { region: r, accountId: a } = c;
  if (c.imageSources.length === 0) return [];
  return [
    {
      sid: 'ImagePromotionSource',
      actions: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability', 'ecr:DescribeImages'],
      resources: c.imageSources.map((env) => `arn:aws:ecr:${r}:${a}:repository/${c.project}-${env}-*`),
    },
  ];
}

/** Alarms, the alarm topic and the cost budget. */
function monitoringStatements(c: EnvironmentPolicyContext): Statement[] {
  const { region: r, accountId: a } = c;
  return [
    {
      sid: 'Alarms',
      actions: ['cloudwatch:PutMetricAlarm', 'cloudwatch:DeleteAlarms', 'cloudwatch:DescribeAlarms', 'cloudwatch:TagResource', 'cloudwatch:UntagResource', 'cloudwatch:ListTagsForResource'],
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
  ];
}

/** Edge layer: the CloudFront distribution (by `project` tag), its policies and functions. */
function edgeStatements(c: EnvironmentPolicyContext): Statement[] {
  const { accountId: a } = c;
  return [
    {
      // The CreateDistributionWithTags API Terraform calls is authorised as cloudfront:CreateDistribution
      // (on "*": IAM knows no distribution before it exists) plus cloudfront:TagResource on the new
      // distribution; there is no cloudfront:CreateDistributionWithTags action.
      sid: 'CdnCreateTagged',
      actions: ['cloudfront:CreateDistribution'],
      resources: ['*'],
      conditions: requestTag(c),
      justification:
        'cloudfront:CreateDistribution has no resource-level permission; it is scoped by the ' +
        'project and env tags the request must carry (aws:RequestTag), which the distribution then keeps.',
    },
    {
      sid: 'CdnTagOnCreate',
      actions: ['cloudfront:TagResource'],
      resources: [`arn:aws:cloudfront::${a}:distribution/*`],
      conditions: createTagged(c),
    },
    {
      // Creates IAM authorises on "*" only: these resources get an id, and no tag, at creation.
      sid: 'CdnCreates',
      actions: ['cloudfront:CreateOriginAccessControl', 'cloudfront:CreateResponseHeadersPolicy', 'cloudfront:CreateFunction', 'cloudfront:CreateKeyValueStore'],
      resources: ['*'],
      justification:
        'cloudfront:CreateOriginAccessControl, CreateResponseHeadersPolicy, CreateFunction and ' +
        'CreateKeyValueStore have no resource-level permission. They only add a resource; changing or ' +
        'deleting one is scoped below.',
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
      conditions: resourceTag(c),
    },
    {
      // Origin access controls and policies take no tags and are named by id.
      sid: 'CdnPolicies',
      actions: [
        'cloudfront:GetOriginAccessControl',
        'cloudfront:UpdateOriginAccessControl',
        'cloudfront:DeleteOriginAccessControl',
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
      // The edge store is named by id. Its keys (the origin secret) are another service,
      // cloudfront-keyvaluestore, which no CI role reaches (DenyEdgeSecret).
      sid: 'CdnKeyValueStores',
      actions: ['cloudfront:DescribeKeyValueStore', 'cloudfront:UpdateKeyValueStore', 'cloudfront:DeleteKeyValueStore'],
      resources: [`arn:aws:cloudfront::${a}:key-value-store/*`],
    },
    {
      sid: 'CdnFunctions',
      actions: [
        'cloudfront:DescribeFunction',
        'cloudfront:GetFunction',
        'cloudfront:UpdateFunction',
        'cloudfront:PublishFunction',
        'cloudfront:DeleteFunction',
      ],
      resources: arns(c, (p) => `arn:aws:cloudfront::${a}:function/${p}-*`),
    },
  ];
}

/**
 * Creating a role, or changing its permissions or its trust, while it carries the environment's
 * boundary (iam:PermissionsBoundary is the boundary the role has or is given).
 */
export const ROLE_CHANGES_UNDER_BOUNDARY = [
  'iam:CreateRole',
  'iam:PutRolePolicy',
  'iam:AttachRolePolicy',
  'iam:PutRolePermissionsBoundary',
  'iam:DeleteRolePolicy',
  'iam:DetachRolePolicy',
  'iam:UpdateAssumeRolePolicy',
];

/**
 * Workload roles: created and changed only under the environment's boundary, passed only to the
 * services that run them, never assumed by the deploy role; the boundaries themselves are out of
 * reach. IAM has no condition key on a trust policy's content, so a role the deploy role creates
 * may trust anyone: what holds is that such a role is capped by the boundary (this
 * environment's data, no IAM, no role assumption), and that the deploy role cannot assume it.
 */
function iamStatements(c: EnvironmentPolicyContext): Statement[] {
  const { accountId: a } = c;
  return [
    {
      // A role made by CI can never hold more than the boundary allows, whatever policy CI
      // attaches to it or whatever its trust policy says.
      sid: 'RolesWithBoundary',
      actions: ROLE_CHANGES_UNDER_BOUNDARY,
      resources: arns(c, (p) => `arn:aws:iam::${a}:role/${p}-*`),
      conditions: { StringEquals: { 'iam:PermissionsBoundary': c.workloadBoundaryArn } },
    },
    {
      // Holds whatever is allowed elsewhere: no role without this environment's boundary (absent
      // or another one) is created or changed, and no role loses its boundary.
      sid: 'DenyRolesWithoutBoundary',
      effect: 'Deny',
      actions: ROLE_CHANGES_UNDER_BOUNDARY,
      resources: [`arn:aws:iam::${a}:role/*`],
      conditions: { StringNotEquals: { 'iam:PermissionsBoundary': c.workloadBoundaryArn } },
    },
    {
      sid: 'DenyBoundaryRemoval',
      effect: 'Deny',
      actions: ['iam:DeleteRolePermissionsBoundary'],
      resources: [`arn:aws:iam::${a}:role/*`],
    },
    {
      // The boundaries carry an environment's prefix; no deploy role rewrites or deletes one.
      sid: 'DenyBoundaryChanges',
      effect: 'Deny',
      actions: ['iam:CreatePolicyVersion', 'iam:DeletePolicy', 'iam:DeletePolicyVersion', 'iam:SetDefaultPolicyVersion', 'iam:TagPolicy', 'iam:UntagPolicy'],
      resources: [c.workloadBoundaryArnPattern],
    },
    {
      sid: 'DenyAssumeRole',
      effect: 'Deny',
      actions: ['sts:AssumeRole'],
      resources: ['*'],
      justification:
        'A deny guard: the deploy role never chains into another role, so a workload role whose trust policy ' +
        'names it (or anyone) gives it nothing beyond its own policies.',
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
        'iam:DeleteRole',
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
